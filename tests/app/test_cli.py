"""The ``roomtone`` CLI: info values, clean output, exit codes and one-line errors, records."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main

REPO = Path(__file__).resolve().parents[2]
SR = 48000


@pytest.fixture
def stereo(tmp_path) -> tuple[Path, np.ndarray]:
    """1 s stereo 16-bit WAV with known levels: ch1 0.5-peak sine + 3 clipped samples, ch2 0.25 DC-shifted."""
    t = np.arange(SR) / SR
    x = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t), 0.25 * np.sin(2 * np.pi * 500 * t) + 0.125], 1)
    x[100:103, 0] = 1.0  # one clip run of 3 samples (0.99997 after 16-bit)
    x = (np.round(x * 32768).clip(-32768, 32767) / 32768).astype(np.float32)
    p = tmp_path / "in.wav"
    sf.write(str(p), x, SR, subtype="PCM_16")
    return p, x


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_values(stereo, capsys):
    path, x = stereo
    code, out, err = run(["info", "--json", path], capsys)
    assert code == 0, err
    [m] = json.loads(out)
    assert (m["format"], m["subtype"], m["sample_rate"], m["channels"], m["frames"]) == ("WAV", "PCM_16", SR, 2, SR)
    assert m["duration_s"] == pytest.approx(1.0)
    assert m["peak_dbfs"] == pytest.approx(20 * np.log10(np.abs(x).max()), abs=1e-4)
    assert m["rms_dbfs"] == pytest.approx(10 * np.log10(np.mean(x.astype(np.float64) ** 2)), abs=1e-4)
    assert m["clipped_samples"] == 3 and m["clip_runs"] == 1
    assert m["channel_dc_offset"][1] == pytest.approx(0.125, abs=1e-4)
    assert m["dc_offset"] == pytest.approx(x.astype(np.float64).mean(), abs=1e-6)
    assert m["nonfinite_samples"] == 0
    code, out, _ = run(["info", path], capsys)
    assert code == 0 and "48000 Hz" in out and "3 samples in 1 run " in out and "0:01.000" in out


def test_info_counts_clip_runs_across_blocks(tmp_path, capsys, monkeypatch):
    import app.commands.info as info

    monkeypatch.setattr(info, "BLOCK", 64)
    x = np.zeros(1000, np.float32)
    x[60:70] = 1.0  # one run crossing the 64-sample block boundary
    x[500] = -1.0
    sf.write(str(tmp_path / "c.wav"), x, SR, subtype="FLOAT")
    m = info.measure_file(str(tmp_path / "c.wav"))
    assert (m.clipped_samples, m.clip_runs) == (11, 2)


def test_info_reports_nonfinite(tmp_path, capsys):
    x = np.zeros(1000, np.float32)
    x[5], x[7] = np.nan, np.inf
    sf.write(str(tmp_path / "n.wav"), x, SR, subtype="FLOAT")
    code, out, _ = run(["info", "--json", tmp_path / "n.wav"], capsys)
    assert code == 0 and json.loads(out)[0]["nonfinite_samples"] == 2


def test_clean_keeps_length_rate_channels_and_writes_a_record(stereo, tmp_path, capsys):
    path, x = stereo
    out = tmp_path / "out.flac"
    code, _, err = run(["clean", path, "-o", out, "--format", "flac24"], capsys)
    assert code == 0, err
    y, rate = sf.read(str(out), always_2d=True)
    assert rate == SR and y.shape == x.shape
    assert sf.info(str(out)).subtype == "PCM_24"
    rec = json.loads((tmp_path / "out.flac.roomtone.json").read_text())
    assert rec["source"] == str(path) and rec["output"] == str(out)
    assert rec["frames"] == SR and rec["format"] == "flac24"
    assert rec["settings"]["chain"]["listen"] == "processed"
    assert "numpy" in rec["versions"] and rec["timing"]["render_s"] >= 0
    assert str(out) in err and "render record" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.flac", "out.flac.roomtone.json"]


def test_clean_defaults_to_the_source_format_and_no_record(stereo, tmp_path, capsys):
    path, x = stereo
    out = tmp_path / "o.wav"
    assert run(["clean", path, "-o", out, "--no-record"], capsys)[0] == 0
    assert sf.info(str(out)).subtype == "PCM_16"
    assert not (tmp_path / "o.wav.roomtone.json").exists()
    # the empty chain (no preset yet) or any 100 % wet chain at mix 0 gives back the source exactly
    assert run(["clean", path, "-o", out, "--mix", "0", "--no-record"], capsys)[0] == 0
    np.testing.assert_array_equal(sf.read(str(out), dtype="float32", always_2d=True)[0], x)


def test_listen_original_gives_back_the_source(tmp_path, capsys):
    rng = np.random.default_rng(5)
    x = (np.round(rng.uniform(-0.9, 0.9, (30000, 2)) * 32768) / 32768).astype(np.float32)
    src = tmp_path / "src.flac"
    sf.write(str(src), x, 44100, subtype="PCM_16")
    out = tmp_path / "orig.wav"
    code, _, err = run(["clean", src, "-o", out, "--listen", "original", "--format", "float32"], capsys)
    assert code == 0, err
    y, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert rate == 44100 and sf.info(str(out)).subtype == "FLOAT"
    np.testing.assert_array_equal(y, x)


def test_nonfinite_input_is_reported(tmp_path, capsys):
    x = (0.01 * np.random.default_rng(2).standard_normal((48000, 1))).astype(np.float32)
    x[10] = np.nan
    x[20] = -np.inf
    sf.write(str(tmp_path / "n.wav"), x, SR, subtype="FLOAT")
    code, _, err = run(["clean", tmp_path / "n.wav", "-o", tmp_path / "o.wav"], capsys)
    assert code == 0 and "2 NaN/Inf samples" in err
    assert np.isfinite(sf.read(str(tmp_path / "o.wav"))[0]).all()


@pytest.mark.parametrize(
    "case, code, text",
    [
        ("missing", 3, "no such file"),
        ("bad-preset", 2, "unknown preset 'nosuchpreset'"),
        ("bad-set", 2, "--set"),
        ("bad-set-value", 2, "expected a number"),
        ("bad-learn", 2, "is not a time range"),
        ("learn-backwards", 2, "ends before it starts"),
        ("same-file", 4, "refusing to write over the source"),
        ("unwritable", 4, "is a file, not a folder"),
        ("no-folder", 4, "output folder does not exist"),
        ("bad-format", 2, "invalid choice: 'mp3'"),
        ("bad-mix", 2, "--mix must be between 0 and 1"),
        ("bad-passes", 2, "--passes: unknown pass 'nosuchpass'"),
        ("bad-profile", 3, "no such profile file"),
        ("corrupt", 3, "corrupt or not an audio file"),
        ("unknown-option", 2, "roomtone clean: error: unrecognized arguments: --bogus (see 'roomtone clean --help')"),
        ("batch-dash-o", 2, "batch takes the output folder as its second argument"),
        ("passes-none-and-kind", 2, "--passes none cannot be combined"),
    ],
)
def test_user_mistakes_give_one_line_and_an_exit_code(stereo, tmp_path, capsys, case, code, text):
    path, _ = stereo
    out = tmp_path / "out.wav"
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    corrupt = tmp_path / "c.wav"
    corrupt.write_bytes(b"\x00\x01garbage" * 300)
    argv = {
        "missing": ["clean", tmp_path / "nope.wav", "-o", out],
        "bad-preset": ["clean", path, "-o", out, "--preset", "nosuchpreset"],
        "bad-set": ["clean", path, "-o", out, "--set", "nonsense"],
        "bad-set-value": ["clean", path, "-o", out, "--set", "max_total_reduction_db=loud"],
        "bad-learn": ["clean", path, "-o", out, "--learn", "abc"],
        "learn-backwards": ["clean", path, "-o", out, "--learn", "0:03-0:01.5"],
        "same-file": ["clean", path, "-o", path],
        "unwritable": ["clean", path, "-o", blocker / "out.wav"],
        "no-folder": ["clean", path, "-o", tmp_path / "nofolder" / "out.wav"],
        "bad-format": ["clean", path, "-o", out, "--format", "mp3"],
        "bad-mix": ["clean", path, "-o", out, "--mix", "1.5"],
        "bad-passes": ["clean", path, "-o", out, "--passes", "nosuchpass"],
        "bad-profile": ["clean", path, "-o", out, "--profile", tmp_path / "room.json"],
        "corrupt": ["info", corrupt],
        "unknown-option": ["clean", path, "-o", out, "--bogus"],
        "batch-dash-o": ["batch", tmp_path, "-o", tmp_path / "outdir"],
        "passes-none-and-kind": ["clean", path, "-o", out, "--passes", "none,gate"],
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    got, stdout, err = run(argv, capsys)
    assert got == code, err
    lines = [ln for ln in err.splitlines() if not ln.startswith("roomtone: note:")]
    assert len(lines) == 1, err
    assert text in lines[0] and "error" in lines[0]
    assert "Traceback" not in err + stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temp files


def test_internal_error_writes_a_crash_log(stereo, tmp_path, capsys, monkeypatch):
    import app.commands.clean

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(app.commands.clean, "clean_file", broken)
    code, _, err = run(["clean", stereo[0], "-o", tmp_path / "o.wav"], capsys)
    assert code == 70
    [line] = [ln for ln in err.splitlines() if "internal error" in ln]
    logs = list((tmp_path / "state" / "roomtone").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert "ZeroDivisionError" in logs[0].read_text() and "Traceback" in logs[0].read_text()
    assert "Traceback" not in err


def test_keyboard_interrupt_is_130(stereo, tmp_path, capsys, monkeypatch):
    import app.commands.clean

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(app.commands.clean, "clean_file", interrupted)
    code, _, err = run(["clean", stereo[0], "-o", tmp_path / "o.wav"], capsys)
    assert code == 130 and "Traceback" not in err and "cancelled" in err


def test_help_documents_exit_codes(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for c in ("0 ", "2 ", "3 ", "4 ", "5 ", "70 ", "130 "):
        assert f"  {c}" in out
    assert "clean" in out and "info" in out


@pytest.mark.slow
def test_console_script_in_a_subprocess(stereo, tmp_path):
    path, _ = stereo
    env_cmd = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]
    r = subprocess.run(env_cmd + ["clean", str(path), "-o", str(path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 4
    assert r.stderr.strip().splitlines()[-1].startswith("roomtone: error:") and "Traceback" not in r.stderr
    r = subprocess.run(env_cmd + ["info", str(path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and "Hz" in r.stdout and "\r" not in r.stderr  # no progress bar off a TTY


def test_progress_bar_only_on_a_tty():
    import io

    from app.commands.clean import ProgressBar

    s = io.StringIO()
    bar = ProgressBar(s)  # StringIO is not a TTY
    bar(50, 100)
    bar.finish()
    assert s.getvalue() == ""
    s = io.StringIO()
    bar = ProgressBar(s, enabled=True)
    bar(100, 100)
    bar.finish()
    assert "100.0%" in s.getvalue() and "ETA" in s.getvalue()


# -- issue 19: outputs land whole, in the format their name says --------------------------------------
def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("name, fmt, container, subtype", [
    ("x.flac", None, "FLAC", "PCM_16"),   # the README's `clean episode.wav -o clean.flac`
    ("x.wav", "wav24", "WAV", "PCM_24"),
    ("x.flac", "flac24", "FLAC", "PCM_24"),
])
def test_clean_writes_the_container_its_name_says(stereo, tmp_path, capsys, name, fmt, container, subtype):
    path, _ = stereo
    out = tmp_path / name
    code, _, err = run(["clean", path, "-o", out] + (["--format", fmt] if fmt else []), capsys)
    assert code == 0, err
    info = sf.info(str(out))
    assert (info.format, info.subtype) == (container, subtype)


def test_clean_a_flac_source_into_a_wav_name_writes_wav(stereo, tmp_path, capsys):
    path, x = stereo
    src = tmp_path / "good.flac"
    sf.write(str(src), x, SR, subtype="PCM_16")
    out = tmp_path / "x.wav"
    assert run(["clean", src, "-o", out, "--no-record"], capsys)[0] == 0
    assert out.read_bytes()[:4] == b"RIFF" and sf.info(str(out)).subtype == "PCM_16"


@pytest.mark.parametrize("name, fmt, text", [
    ("x.mp3", None, "does not write '.mp3' files"),
    ("x.mp3", "flac24", "does not write '.mp3' files"),
    ("x.wav", "flac24", "format flac24 writes FLAC, but the output name 'x.wav' says WAV"),
    ("x.flac", "wav16", "says FLAC"),
])
def test_clean_refuses_a_name_it_would_not_honour_before_any_work(stereo, tmp_path, capsys, monkeypatch, name, fmt,
                                                                     text):
    import app.pipeline

    path, _ = stereo
    work = []
    monkeypatch.setattr(app.pipeline, "prepare_processor", lambda *a, **k: work.append(1))
    before = _files(tmp_path)
    code, _, err = run(["clean", path, "-o", tmp_path / name] + (["--format", fmt] if fmt else []), capsys)
    assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err
    assert work == [] and _files(tmp_path) == before


def _fail_fsync_of_the_record(monkeypatch):
    """A full disk when the render record is flushed (the audio, written before, fitted)."""
    import dsp.io

    real = dsp.io.os.fsync

    def fsync(fd):
        if ".roomtone.json" in os.readlink(f"/proc/self/fd/{fd}").split("/")[-1]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(dsp.io.os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the record's descriptor through /proc")
def test_a_record_that_cannot_be_written_takes_the_audio_with_it(stereo, tmp_path, capsys, monkeypatch):
    path, _ = stereo
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "o.wav").write_bytes(b"previous output")
    _fail_fsync_of_the_record(monkeypatch)
    code, _, err = run(["clean", path, "-o", out_dir / "o.wav"], capsys)
    assert code == 4, err
    assert "disk full" in err and "neither o.wav nor its render record was written" in err
    assert _files(out_dir) == ["o.wav"] and (out_dir / "o.wav").read_bytes() == b"previous output"


def test_a_record_rename_that_fails_removes_the_new_audio(stereo, tmp_path, capsys, monkeypatch):
    path, _ = stereo
    real = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith(".roomtone.json"):
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run(["clean", path, "-o", tmp_path / "o.wav"], capsys)
    assert code == 4 and "neither o.wav nor its record was written" in err, err
    assert _files(tmp_path) == ["in.wav"]


def _long_wav(folder: Path, seconds: float = 240.0) -> Path:
    rng = np.random.default_rng(1)
    p = folder / "long.wav"
    sf.write(str(p), (0.1 * rng.standard_normal((int(seconds * SR), 1))).astype(np.float32), SR, subtype="PCM_16")
    return p


def _start_clean_and_wait_for_its_temp(src: Path, out: Path) -> tuple[subprocess.Popen, list[Path]]:
    import time

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "clean", str(src), "-o", str(out), "--preset", "podcast"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        temps = [p for p in out.parent.iterdir() if p.name.endswith(".tmp-roomtone") and p.stat().st_size > 0]
        if temps:
            return proc, temps
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no temporary output appeared (rc={proc.poll()}): {proc.communicate()[1][-500:]}")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_cancels_like_ctrl_c_and_removes_the_temp(tmp_path):
    import signal

    src = _long_wav(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, _ = _start_clean_and_wait_for_its_temp(src, out_dir / "o.wav")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "cancelled; nothing was written" in err and "Traceback" not in err
    assert _files(out_dir) == []


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals; stale temps are kept on Windows")
def test_a_killed_runs_temp_is_removed_by_the_next_run_there(tmp_path, capsys):
    import signal

    src = _long_wav(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, temps = _start_clean_and_wait_for_its_temp(src, out_dir / "o.wav")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    left = [p.name for p in out_dir.iterdir()]
    assert left and all(n.endswith(".tmp-roomtone") for n in left)  # SIGKILL cannot clean up
    short = tmp_path / "short.wav"
    sf.write(str(short), np.zeros((SR, 1), np.float32), SR, subtype="PCM_16")
    assert run(["clean", short, "-o", out_dir / "other.wav"], capsys)[0] == 0
    assert _files(out_dir) == ["other.wav", "other.wav.roomtone.json"]


def test_sigterm_exit_code_is_documented(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "  143 " in out


# -- bit depth (item 7) ------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype, name, want, note", [
    ("PCM_32", "o.wav", "PCM_32", None),
    ("DOUBLE", "o.wav", "DOUBLE", None),
    ("PCM_32", "o.flac", "PCM_24", "the source is 32-bit integer; written as 24-bit FLAC"),
    ("FLOAT", "o.flac", "PCM_24", "the source is 32-bit float; written as 24-bit FLAC"),
])
def test_clean_keeps_the_source_depth_or_says_what_it_wrote(stereo, tmp_path, capsys, subtype, name, want, note):
    _, x = stereo
    src = tmp_path / f"deep-{subtype}.wav"
    sf.write(str(src), x, SR, subtype=subtype)
    out = tmp_path / name
    code, _, err = run(["clean", src, "-o", out], capsys)
    assert code == 0, err
    assert sf.info(str(out)).subtype == want
    rec = json.loads(Path(str(out) + ".roomtone.json").read_text())
    assert rec["settings"]["output_format"]["encoding"] == want
    got = rec["settings"]["output_format"]["note"]
    if note:
        assert note in got and "FLAC holds at most 24-bit integers" in got
        assert f"note: {got}" in err
    else:
        assert got is None


def test_clean_help_says_what_depth_is_written(capsys):
    code, out, _ = run(["clean", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0 and "wav32" in text and "float64" in text
    assert "32-bit and float sources become 24-bit FLAC" in text


# -- --dereverb (issue 22) -----------------------------------------------------------------------------
def test_dereverb_zero_alone_is_a_bit_exact_bypass(stereo, tmp_path, capsys):
    src, _ = stereo
    out = tmp_path / "dry.wav"
    code, _, err = run(["clean", src, "-o", out, "--passes", "none", "--refill", "off", "--dereverb", "0"], capsys)
    assert code == 0, err
    a, _ = sf.read(str(src), dtype="int16")
    b, _ = sf.read(str(out), dtype="int16")
    np.testing.assert_array_equal(a, b)
    rec = json.loads(Path(str(out) + ".roomtone.json").read_text())
    assert any(s["kind"] == "dereverb" and s["amount_percent"] == 0.0 and not s["bypass"]
               for s in rec["settings"]["chain"]["stages"])


def test_dereverb_option_sets_the_amount_and_refuses_a_bad_one(stereo, tmp_path, capsys):
    from app.commands.clean import dereverb_enable
    from app.pipeline import adjust_settings
    from app.presets import load_preset

    s = adjust_settings(load_preset("podcast"), enable=dereverb_enable(40.0))
    kinds = [st.kind for st in s.stages]
    assert kinds.index("dereverb") < kinds.index("gate")  # before the noise passes
    assert next(st for st in s.stages if st.kind == "dereverb").settings.amount_percent == 40.0
    room = load_preset("podcast-room")
    kept = adjust_settings(room, enable=dereverb_enable(-1.0))  # --dereverb without AMOUNT: the preset's
    assert kept.stages == room.stages
    src, _ = stereo
    code, _, err = run(["clean", src, "-o", tmp_path / "x.wav", "--dereverb", "150"], capsys)
    assert code == 2 and "--dereverb: AMOUNT must be between 0 and 100" in err and "Traceback" not in err


def test_dereverb_says_which_decay_time_it_used(stereo, tmp_path, capsys):
    """`clean --dereverb` says the decay time it worked with; on a file where none is found it says
    that nothing was taken out (and it is not) and how to set one by hand."""
    from tests.dsp.test_dereverb import _reverberant

    src, _ = stereo  # steady tones: no speech offsets, no free decays
    base = ["--passes", "none", "--refill", "off", "--dereverb", "60"]
    out = tmp_path / "dry.wav"
    code, _, err = run(["clean", src, "-o", out, *base], capsys)
    assert code == 0, err
    text = " ".join(err.split())
    assert "warning: de-reverb: no room decay found" in text and "nothing was taken out" in text, text
    assert "--set dereverb.rt60_s=" in text
    np.testing.assert_array_equal(sf.read(str(src), dtype="int16")[0], sf.read(str(out), dtype="int16")[0])

    code, _, err = run(["clean", src, "-o", tmp_path / "hand.wav", *base, "--set", "dereverb.rt60_s=0.6"], capsys)
    assert code == 0 and "de-reverb: decay time 0.60 s (set by hand)" in err, err

    _, wet, _ = _reverberant(0.5, seconds=14.0, seed=2)
    room = tmp_path / "room.wav"
    sf.write(str(room), wet, 16000, subtype="PCM_16")
    code, _, err = run(["clean", room, "-o", tmp_path / "room_out.wav", *base], capsys)
    found = [line for line in err.splitlines() if "de-reverb: room decay RT60" in line]
    assert code == 0 and len(found) == 1, err
    rec = json.loads(Path(str(tmp_path / "room_out.wav") + ".roomtone.json").read_text())
    decay = rec["settings"]["analyses"]["room_decay"]
    assert f"RT60 {decay['rt60_s']:.2f} s, estimated from {decay['decays']} free decays in 14 s" in found[0]

    code, _, err = run(["clean", room, "-o", tmp_path / "off.wav", "--passes", "none", "--refill", "off",
                        "--dereverb", "0"], capsys)
    assert code == 0 and "de-reverb" not in err, err  # amount 0 is a bypass: no analysis, nothing to say


def test_batch_dereverb_option_reaches_the_chain():
    import argparse

    from app.commands import batch

    parser = argparse.ArgumentParser()
    batch.register(parser.add_subparsers())
    args = parser.parse_args(["batch", "in", "out", "--dereverb", "55"])
    opts = batch.build_options(args)
    stage = next(s for s in opts.chain["stages"] if s["kind"] == "dereverb")
    assert stage["amount_percent"] == 55.0 and not stage["bypass"]
    args = parser.parse_args(["batch", "in", "out"])
    assert not any(s["kind"] == "dereverb" for s in batch.build_options(args).chain["stages"])
