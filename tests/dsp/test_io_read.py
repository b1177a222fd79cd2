"""Reading sources: FLAC files whose STREAMINFO block sizes contradict their frames."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from dsp.io import AudioReader, flac_header_repair

SR = 16000

#: STREAMINFO (min, max) block sizes an editor or a buggy encoder may leave; the frames hold 4096.
EDITED = [(16, 16), (4096, 1024), (0, 0), (65535, 65535), (1, 2), (8192, 16), (4096, 65535)]


@pytest.fixture
def flac(tmp_path) -> tuple[Path, np.ndarray]:
    """3 s of 16-bit FLAC written by soundfile (fixed blocks of 4096) and its samples."""
    rng = np.random.default_rng(7)
    x = np.round(0.2 * rng.standard_normal((3 * SR, 2)) * 32768).clip(-32768, 32767) / 32768
    path = tmp_path / "good.flac"
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")
    return path, x.astype(np.float32)


def edited(path: Path, lo: int, hi: int) -> Path:
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and struct.unpack(">HH", data[8:12]) == (4096, 4096)
    data[8:12] = struct.pack(">HH", lo, hi)
    out = path.with_name(f"edited_{lo}_{hi}.flac")
    out.write_bytes(bytes(data))
    return out


def test_a_consistent_flac_needs_no_repair(flac):
    assert flac_header_repair(flac[0]) is None


@pytest.mark.parametrize("lo,hi", EDITED)
def test_edited_block_sizes_read_block_by_block_like_the_original(flac, lo, hi):
    path, x = flac
    bad = edited(path, lo, hi)
    with AudioReader(bad) as r:
        blocks = [r.read(s, min(5000, r.frames - s)) for s in range(0, r.frames, 5000)]
        back = r.read(100, 9000)  # a seek backwards
        assert any("header says blocks of" in w for w in r.warnings)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), x.T)
    np.testing.assert_array_equal(back, x[100:9100].T)
    assert bad.read_bytes()[8:12] == struct.pack(">HH", lo, hi)  # the file itself is never written


def test_clean_and_info_accept_an_edited_flac(flac, tmp_path, capsys):
    bad = edited(flac[0], 16, 16)
    assert main(["info", str(bad)]) == 0
    assert "header says blocks of 16-16" in capsys.readouterr().out
    out = tmp_path / "out.flac"
    code = main(["clean", str(bad), "-o", str(out), "--mix", "0", "-q", "--no-record"])
    assert code == 0, capsys.readouterr().err
    y, sr = sf.read(str(out), dtype="float32")
    np.testing.assert_allclose(y, flac[1], atol=1.0 / 32768)  # mix 0: the source, bit for bit in 16 bits


@pytest.mark.parametrize("value", [1e19, 3.4e38, np.inf, np.nan])
def test_damaged_float_samples_read_as_silence_and_are_counted(tmp_path, capsys, value):
    """Garbage floats (1e19 and up) once crashed the render (a segfault in the spectral stages)."""
    x = (0.01 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    x[2000:2050] = value
    x[3000] = 999.0  # hot but possible (+60 dBFS): kept
    path = tmp_path / "in.wav"
    sf.write(str(path), x, SR, subtype="FLOAT")
    with AudioReader(path) as r:
        y = r.read_all()[0]
        assert r.nonfinite_count == 50
    assert np.all(y[2000:2050] == 0) and y[3000] == 999.0
    out = tmp_path / "out.wav"
    assert main(["clean", str(path), "-o", str(out), "-q", "--no-record"]) == 0
    assert "50 NaN/Inf samples" in capsys.readouterr().err and sf.info(str(out)).frames == SR


@pytest.mark.parametrize("seconds", [0.1, 3.0])
def test_flac_without_total_samples_reads_to_its_end(tmp_path, seconds):
    """Total samples 0 means "unknown" (an encoder writing to a pipe); the last frame tells the length."""
    x = (0.1 * np.random.default_rng(3).standard_normal((int(seconds * SR), 2))).astype(np.float32)
    path = tmp_path / "piped.flac"
    sf.write(str(path), x, SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    path.write_bytes(bytes(data))
    with AudioReader(path) as r:
        assert r.frames == x.shape[0] and any("does not say how long" in w for w in r.warnings)
        y = np.concatenate([r.read(s, min(4000, r.frames - s)) for s in range(0, r.frames, 4000)], axis=1)
    np.testing.assert_allclose(y, x.T, atol=1.0 / 32768)


def test_frame_header_parser_matches_the_encoder(flac):
    from dsp.io import _flac_frame_header

    data = flac[0].read_bytes()
    p = data.index(b"\xff\xf8", 42)
    variable, number, size, _ = _flac_frame_header(data, p)
    assert (variable, number, size) == (False, 0, 4096)
    assert _flac_frame_header(data[:p] + b"\xff\xf8\x00\x00\x00\x00", p) is None  # reserved codes, bad CRC


def test_garbage_that_starts_like_mpeg_gives_one_line_and_no_decoder_noise(tmp_path, capfd):
    """libmpg123's probe printed 'Note: Illegal Audio-MPEG-Header ...' on stderr ahead of our line."""
    data = np.random.default_rng(1).bytes(50_000)
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # an MPEG frame sync: libsndfile probes MP3
    path = tmp_path / "in.wav"
    path.write_bytes(data)
    assert main(["info", str(path)]) == 3
    err = capfd.readouterr().err  # file-descriptor level: what libmpg123 prints lands here too
    assert err.count("\n") == 1 and "cannot read it as WAV audio" in err and "MPEG" not in err, err


def test_an_mp3_under_another_name_still_reads(tmp_path):
    t = np.arange(SR) / SR
    src = tmp_path / "tone.wav"
    sf.write(str(src), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    mp3 = tmp_path / "tone.mp3"
    try:
        sf.write(str(mp3), sf.read(str(src), dtype="float32")[0], SR, format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError):
        pytest.skip("this libsndfile writes no MP3")
    named = tmp_path / "really-an-mp3.wav"
    named.write_bytes(mp3.read_bytes())
    with AudioReader(named) as r:
        assert r.info.format == "MP3" and r.frames > 0.9 * SR
