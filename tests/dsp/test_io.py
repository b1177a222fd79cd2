"""Audio I/O: every readable format, rate and channel count; block reads; writes; bad inputs.

Test files are generated into tmp_path with soundfile (libsndfile 1.2.2). What libsndfile can
write limits the matrix, and the tests say so where it applies:
- Opus only exists at 8, 12, 16, 24 and 48 kHz (the codec's rates): other rates are not tested.
- MP3 (MPEG-1/2/2.5 Layer III) only exists up to 48 kHz and for 1 or 2 channels.
- Vorbis, WAV, FLAC and AIFF are tested at every rate 8-192 kHz with 1, 2 and 8 channels.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dsp import io as dio
from dsp.errors import InputError, OutputError, ParameterError
from dsp.io import AtomicWriter, AudioReader, audio_info, format_for_source, read_audio, write_audio

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
CHANNELS = (1, 2, 8)
# (extension, libsndfile format, subtype, allowed rates, max channels, rms error bound vs. source)
FORMATS = [
    (".wav", "WAV", "PCM_16", RATES, 8, 1e-4),
    (".flac", "FLAC", "PCM_24", RATES, 8, 1e-6),
    (".aiff", "AIFF", "PCM_16", RATES, 8, 1e-4),
    (".ogg", "OGG", "VORBIS", RATES, 8, 0.05),
    (".opus", "OGG", "OPUS", (8000, 16000, 24000, 48000), 8, 0.1),
    (".mp3", "MP3", "MPEG_LAYER_III", (8000, 16000, 22050, 32000, 44100, 48000), 2, 0.1),
]
CASES = [
    pytest.param(ext, fmt, sub, rate, ch, tol, id=f"{ext[1:]}-{rate}-{ch}ch")
    for ext, fmt, sub, rates, max_ch, tol in FORMATS
    for rate in rates
    for ch in CHANNELS
    if ch <= max_ch
]


def _signal(rate: int, ch: int, seconds: float = 0.25) -> np.ndarray:
    """(frames, channels) tones, a different frequency per channel, well inside every codec's band."""
    n = int(rate * seconds) + 37
    t = np.arange(n) / rate
    freqs = 200.0 + 90.0 * np.arange(ch)
    return (0.3 * np.sin(2 * np.pi * t[:, None] * freqs[None, :])).astype(np.float32)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("ext, fmt, sub, rate, ch, tol", CASES)
def test_read_every_format_rate_and_channel_count(tmp_path, ext, fmt, sub, rate, ch, tol):
    x = _signal(rate, ch)
    path = tmp_path / f"a{ext}"
    sf.write(str(path), x, rate, format=fmt, subtype=sub)
    with AudioReader(path) as r:
        assert (r.sample_rate, r.channels) == (rate, ch)
        assert r.info.format == fmt
        whole = r.read_all()
        assert whole.dtype == np.float32 and whole.shape == (ch, r.frames) and whole.flags.c_contiguous
        # block-wise reading (odd block size, then random access backwards) equals the whole read
        blocks = np.concatenate(list(r.blocks(1001)), axis=1)
        np.testing.assert_array_equal(blocks, whole)
        a, b = r.frames // 2, min(r.frames // 2 + 777, r.frames)
        np.testing.assert_array_equal(r.read(a, b - a), whole[:, a:b])
        np.testing.assert_array_equal(r.read(3, 100), whole[:, 3:103])
    if fmt in ("WAV", "FLAC", "AIFF"):
        assert whole.shape[1] == x.shape[0]
        np.testing.assert_allclose(whole.T, x, atol=tol)
    else:
        # lossy codecs: a delay/padding may differ; compare the level of each channel
        rms_in = np.sqrt(np.mean(x**2, axis=0))
        rms_out = np.sqrt(np.mean(whole[:, whole.shape[1] // 4 : 3 * whole.shape[1] // 4] ** 2, axis=1))
        if sub == "OPUS" and ch == 8:
            # 8-channel Opus is 7.1 surround: the last channel is the LFE, low-passed by the codec
            rms_out, rms_in = rms_out[:7], rms_in[:7]
        np.testing.assert_allclose(rms_out, rms_in, atol=tol)


@pytest.mark.parametrize("ext, fmt, sub", [(".mp3", "MP3", "MPEG_LAYER_III"), (".ogg", "OGG", "VORBIS")])
def test_lossy_reads_are_exact_for_any_block_size(tmp_path, ext, fmt, sub):
    # libsndfile's MP3 decoder returns different samples for 1000- or 4096-frame reads than for
    # one whole read, and a Vorbis seek backwards changes the samples: AudioReader must not.
    rate = 44100
    x = _signal(rate, 2, seconds=3.0)
    path = tmp_path / f"a{ext}"
    sf.write(str(path), x, rate, format=fmt, subtype=sub)
    ref = sf.read(str(path), dtype="float32", always_2d=True)[0].T
    with AudioReader(path) as r:
        for bs in (1000, 4096, 65536):
            got = np.concatenate(list(r.blocks(bs)), axis=1)
            np.testing.assert_allclose(got, ref, atol=1e-6)
        first = r.read(100_000, 5000)
        r.read(10, 10)
        np.testing.assert_array_equal(r.read(100_000, 5000), first)


@pytest.mark.parametrize(
    "fmt, bits",
    [("wav16", 16), ("wav24", 24), ("float32", None), ("flac16", 16), ("flac24", 24)],
)
def test_write_and_read_back_within_quantisation(tmp_path, fmt, bits):
    rng = np.random.default_rng(3)
    x = np.clip(0.3 * rng.standard_normal((2, 4800)), -0.99, 0.99).astype(np.float32)
    path = tmp_path / f"out{dio.WRITE_FORMATS[fmt][2]}"
    write_audio(path, x, 44100, fmt)
    y, rate = read_audio(path)
    assert rate == 44100 and y.shape == x.shape
    if bits is None:
        np.testing.assert_array_equal(y, x)
    else:
        err = np.max(np.abs(y - x))
        # 16-bit: our own round-to-nearest (half an LSB); 24-bit: libsndfile rounds within one LSB
        assert err <= (0.5 if bits == 16 else 1.0) / 2 ** (bits - 1) + 1e-9
        assert err > 0  # it really was quantised
    assert audio_info(path).subtype == dio.WRITE_FORMATS[fmt][1]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_pcm16_roundtrip_is_bit_exact_and_clips(tmp_path):
    k = np.arange(-32768, 32768, dtype=np.int32)
    x = (k / 32768).astype(np.float32)[None, :]
    write_audio(tmp_path / "a.wav", x, 48000, "wav16")
    y, _ = read_audio(tmp_path / "a.wav")
    np.testing.assert_array_equal(y, x)
    with AtomicWriter(tmp_path / "b.wav", 48000, 1, "wav16") as w:
        w.write(np.array([[1.5, -2.0, 0.5, np.nan]], np.float32))
        w.commit()
    assert w.clipped_samples == 2
    y, _ = read_audio(tmp_path / "b.wav")
    np.testing.assert_array_equal(y[0], [32767 / 32768, -1.0, 0.5, 0.0])


def test_format_for_source():
    info = lambda fmt, sub: dio.AudioInfo("x", fmt, sub, 48000, 1, 10)  # noqa: E731
    assert format_for_source(info("FLAC", "PCM_16")) == "flac16"
    assert format_for_source(info("FLAC", "PCM_24")) == "flac24"
    assert format_for_source(info("WAV", "FLOAT")) == "float32"
    assert format_for_source(info("WAV", "PCM_24")) == "wav24"
    assert format_for_source(info("WAV", "PCM_16")) == "wav16"
    assert format_for_source(info("MP3", "MPEG_LAYER_III")) == "flac24"


# -- bad inputs ----------------------------------------------------------------------------------
@pytest.fixture
def good_wav(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    p = src / "good.wav"
    sf.write(str(p), _signal(48000, 2, 1.0), 48000, subtype="PCM_16")
    return p


def _bad_file(folder: Path, case: str) -> Path:
    x = _signal(48000, 1, 1.0)
    if case == "missing":
        return folder / "nothere.wav"
    if case == "empty":
        p = folder / "empty.wav"
        p.write_bytes(b"")
        return p
    if case in ("truncated-wav", "truncated-flac"):
        ext = ".wav" if case.endswith("wav") else ".flac"
        p = folder / f"cut{ext}"
        sf.write(str(p), x, 48000, subtype="PCM_16")
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return p
    if case == "corrupt":
        p = folder / "noise.wav"
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        return p
    if case == "unsupported":
        p = folder / "audio.xyz"
        p.write_bytes(b"this is not audio at all\n" * 40)
        return p
    if case == "text-mp3":
        p = folder / "song.mp3"
        p.write_text("hello, this is a text file\n" * 40)
        return p
    raise AssertionError(case)


BAD = {
    "missing": "no such file",
    "empty": "empty (0 bytes)",
    "truncated-wav": "truncated",
    "truncated-flac": "truncated or corrupt",
    "corrupt": "corrupt or not an audio file",
    "unsupported": "unsupported format '.xyz'",
    "text-mp3": "cannot read it as MP3 audio",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_a_clear_error_and_touches_nothing(tmp_path, case):
    src_dir = tmp_path / "in"
    out_dir = tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    src = _bad_file(src_dir, case)
    (out_dir / "keep.txt").write_text("untouched")
    before_src, before_out = _tree(src_dir), _tree(out_dir)
    from dsp.engine import Identity
    from dsp.render import render_file

    with pytest.raises(InputError) as e:
        render_file(src, out_dir / "out.wav", Identity())
    msg = str(e.value)
    assert BAD[case] in msg and str(src) in msg
    assert "\n" not in msg
    assert _tree(src_dir) == before_src
    assert _tree(out_dir) == before_out  # no temp file, no half output


def test_truncated_messages_say_what_was_promised(tmp_path):
    p = _bad_file(tmp_path, "truncated-wav")
    with pytest.raises(InputError, match=r"promises 1\.00 s .* ends after 0\.50 s"):
        AudioReader(p)


def test_nonfinite_samples_are_counted_and_sanitised(tmp_path):
    x = _signal(48000, 2, 0.5)
    x[10, 0] = np.nan
    x[20, 1] = np.inf
    x[30, 1] = -np.inf
    p = tmp_path / "nan.wav"
    sf.write(str(p), x, 48000, subtype="FLOAT")
    with AudioReader(p) as r:
        y = r.read_all()
        assert r.nonfinite_count == 3
    assert np.isfinite(y).all()
    assert y[0, 10] == 0 and y[1, 20] == 0 and y[1, 30] == 0
    np.testing.assert_array_equal(y[0, 11:], x[11:, 0])


def _render_to(src: Path, target: Path):
    from dsp.engine import Identity
    from dsp.render import render_file

    return render_file(src, target, Identity())


def test_refuses_to_write_over_the_source(good_wav):
    before = _tree(good_wav.parent)
    with pytest.raises(OutputError, match="refusing to write over the source"):
        _render_to(good_wav, good_wav)
    # same file through another spelling of the path
    other = good_wav.parent / ".." / good_wav.parent.name / good_wav.name
    with pytest.raises(OutputError, match="refusing to write over the source"):
        _render_to(good_wav, other)
    assert _tree(good_wav.parent) == before


def test_unwritable_target_under_a_file(good_wav, tmp_path):
    # Tests run as root (chmod does not stop root): a path below a regular file is unwritable for anyone.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    before = _tree(good_wav.parent)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        _render_to(good_wav, blocker / "out.wav")
    with pytest.raises(OutputError, match="output folder does not exist"):
        _render_to(good_wav, tmp_path / "nope" / "out.wav")
    assert _tree(good_wav.parent) == before
    assert blocker.read_text() == "a file, not a folder"


def test_permission_denied(good_wav, tmp_path, monkeypatch):
    out_dir = tmp_path / "ro"
    out_dir.mkdir()

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(dio.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="not writable .*permission denied"):
        _render_to(good_wav, out_dir / "out.wav")
    assert list(out_dir.iterdir()) == []


def test_disk_full_leaves_nothing_behind(good_wav, tmp_path, monkeypatch):
    out_dir = tmp_path / "full"
    out_dir.mkdir()
    (out_dir / "out.wav").write_bytes(b"previous version")  # an older output must survive
    calls = {"n": 0}
    real_write = sf.SoundFile.write

    def write(self, data):
        calls["n"] += 1
        if calls["n"] >= 2:  # fail mid-file, after something was written
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)
    from dsp.engine import Identity
    from dsp.render import render_file

    with pytest.raises(OutputError, match="disk full"):
        render_file(good_wav, out_dir / "out.wav", Identity(), block_size=4096)
    assert calls["n"] >= 2
    assert _tree(out_dir) == {"out.wav": b"previous version"}


def test_failed_rename_leaves_no_temp(good_wav, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(dio.os, "replace", boom)
    with pytest.raises(OutputError, match="writing failed"):
        _render_to(good_wav, tmp_path / "x.wav")
    assert not any(p.name.endswith(".tmp-roomtone") for p in tmp_path.iterdir())
    assert not (tmp_path / "x.wav").exists()


def test_exception_inside_writer_removes_temp(tmp_path):
    with pytest.raises(RuntimeError):
        with AtomicWriter(tmp_path / "a.wav", 48000, 1, "wav16") as w:
            w.write(np.zeros((1, 100), np.float32))
            raise RuntimeError("crash mid-render")
    assert list(tmp_path.iterdir()) == []


def test_reader_rejects_bad_requests(good_wav):
    with AudioReader(good_wav) as r:
        with pytest.raises(ParameterError):
            r.read(r.frames - 5, 10)
    with pytest.raises(ParameterError, match="unknown output format"):
        AtomicWriter(good_wav.parent / "x.wav", 48000, 1, "mp3")
    with pytest.raises(InputError, match="is a folder"):
        AudioReader(good_wav.parent)


def test_write_text_atomic(tmp_path):
    dio.write_text_atomic(tmp_path / "r.json", "{}")
    assert (tmp_path / "r.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert os.path.exists(tmp_path / "r.json")


def test_outputs_get_normal_file_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the finished file must get the umask's mode."""
    import stat

    from dsp.io import write_audio, write_text_atomic

    old = os.umask(0o022)
    try:
        write_audio(tmp_path / "out.wav", np.zeros((1, 100), np.float32), 16000, "wav16")
        write_text_atomic(tmp_path / "rec.json", "{}")
    finally:
        os.umask(old)
    for name in ("out.wav", "rec.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


# -- the output's name decides its container (issue 19, item 1) -----------------------------------
def _info(fmt: str, sub: str) -> dio.AudioInfo:
    return dio.AudioInfo("x", fmt, sub, 48000, 1, 10)


@pytest.mark.parametrize("name, source, want", [
    ("x.wav", ("FLAC", "PCM_16"), "wav16"),   # a FLAC source into a .wav name: WAV, same depth
    ("x.flac", ("WAV", "PCM_16"), "flac16"),  # the README's `clean episode.wav -o clean.flac`
    ("x.FLAC", ("WAV", "PCM_24"), "flac24"),
    ("x.wave", ("WAV", "FLOAT"), "float32"),
    ("x.wav", ("MP3", "MPEG_LAYER_III"), "wav24"),
    ("x.flac", ("OGG", "VORBIS"), "flac24"),
])
def test_output_format_follows_the_extension(name, source, want):
    assert dio.output_format(name, None, _info(*source)) == want


@pytest.mark.parametrize("name, fmt, text", [
    ("x.mp3", None, "does not write '.mp3' files"),
    ("x.mp3", "flac24", "does not write '.mp3' files"),
    ("x.ogg", "wav16", "does not write '.ogg' files"),
    ("x", None, "without an extension"),
    ("x.wav", "flac24", "writes FLAC, but the output name 'x.wav' says WAV"),
    ("x.flac", "wav24", "writes WAV, but the output name 'x.flac' says FLAC"),
    ("x.flac", "float32", "says FLAC"),
    ("x.wav", "mp3", "unknown output format"),
])
def test_output_format_refuses_a_contradiction(name, fmt, text):
    with pytest.raises(ParameterError, match=text):
        dio.output_format(name, fmt, _info("WAV", "PCM_16"))


def test_writer_refuses_a_format_its_name_contradicts(tmp_path):
    with pytest.raises(ParameterError, match="says WAV"):
        AtomicWriter(tmp_path / "x.wav", 48000, 1, "flac24")
    with pytest.raises(ParameterError, match="does not write"):
        write_audio(tmp_path / "x.mp3", np.zeros((1, 10), np.float32), 48000, "wav16")
    assert list(tmp_path.iterdir()) == []


# -- bit depth is kept where the container can hold it (item 7) ------------------------------------
@pytest.mark.parametrize("sub, wav, flac", [
    ("PCM_16", "wav16", "flac16"), ("PCM_24", "wav24", "flac24"), ("PCM_32", "wav32", "flac24"),
    ("FLOAT", "float32", "flac24"), ("DOUBLE", "float64", "flac24"),
])
def test_default_format_keeps_the_source_depth(sub, wav, flac):
    assert dio.output_format("o.wav", None, _info("WAV", sub)) == wav
    assert dio.output_format("o.flac", None, _info("WAV", sub)) == flac
    note = dio.format_note(_info("WAV", sub), flac)
    if sub in ("PCM_32", "FLOAT", "DOUBLE"):
        assert "written as 24-bit FLAC" in note and "at most 24-bit" in note
    else:
        assert note is None
    assert dio.format_note(_info("WAV", sub), wav) is None


@pytest.mark.parametrize("fmt, subtype", [("wav32", "PCM_32"), ("float64", "DOUBLE")])
def test_wav32_and_float64_are_written_as_such(tmp_path, fmt, subtype):
    x = np.array([[0.5, -0.25, 1.5, 1e-7]], np.float32)
    write_audio(tmp_path / "a.wav", x, 48000, fmt)
    assert sf.info(str(tmp_path / "a.wav")).subtype == subtype
    y, _ = read_audio(tmp_path / "a.wav")
    if fmt == "float64":
        np.testing.assert_array_equal(y, x)  # float keeps values beyond full scale
    else:
        np.testing.assert_allclose(y[0, :2], x[0, :2], atol=2 ** -31)


# -- permission and disk full say so (item 9) ------------------------------------------------------
def test_unreadable_source_says_permission_denied(good_wav, monkeypatch):
    # Tests run as root (chmod does not stop root): make opening the file fail as it would for a user.
    real_open = open

    def denying_open(path, *a, **k):
        if str(path) == str(good_wav):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    def sf_denied(*a, **k):
        raise sf.LibsndfileError(2, f"Error opening {str(good_wav)!r}: ")

    monkeypatch.setattr(dio.sf, "SoundFile", sf_denied)
    monkeypatch.setattr("builtins.open", denying_open)
    with pytest.raises(InputError, match="permission denied") as info:
        AudioReader(good_wav)
    assert "corrupt" not in str(info.value)


def test_disk_full_in_libsndfile_says_disk_full(good_wav, tmp_path, monkeypatch):
    # libsndfile reports a failed write(2) as "System error." without an errno
    def write(self, data):
        raise sf.LibsndfileError(2, "System error.")

    monkeypatch.setattr(sf.SoundFile, "write", write)
    monkeypatch.setattr(dio.shutil, "disk_usage", lambda p: _usage(free=0))
    with pytest.raises(OutputError, match="disk full") as info:
        _render_to(good_wav, tmp_path / "out.wav")
    assert "System error" not in str(info.value)
    assert list(p for p in tmp_path.iterdir() if p.is_file()) == []


def _usage(free: int):
    import shutil

    return shutil._ntuple_diskusage(10**9, 10**9 - free, free)


# -- temporary files: named with our pid, stale ones removed (item 4) ------------------------------
def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temps_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".out.wav.{dead}.abcd_123.tmp-roomtone"
    live = tmp_path / f".out.wav.{os.getppid()}.efgh_456.tmp-roomtone"  # a running process's
    other = tmp_path / ".notes.txt.tmp-roomtone"  # not our pattern: never touched
    for p in (stale, live, other):
        p.write_bytes(b"x" * 100)
    write_audio(tmp_path / "out.wav", np.zeros((1, 10), np.float32), 48000, "wav16")
    assert not stale.exists()
    assert live.exists() and other.exists()
    stale.write_bytes(b"x")
    dio.write_text_atomic(tmp_path / "room.json", "{}")  # text writes clean up too
    assert not stale.exists() and live.exists()


def test_temp_names_carry_the_pid(tmp_path, monkeypatch):
    seen = []
    real = dio.tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        seen.append(Path(name).name)
        return fd, name

    monkeypatch.setattr(dio.tempfile, "mkstemp", spy)
    write_audio(tmp_path / "o.wav", np.zeros((1, 10), np.float32), 48000, "wav16")
    dio.write_text_atomic(tmp_path / "r.json", "{}")
    assert len(seen) == 2
    for name in seen:
        m = dio._TEMP_RE.match(name)
        assert m is not None and int(m["pid"]) == os.getpid(), name
