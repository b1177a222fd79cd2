"""``roomtone holes``: table, JSON and PNG of the holes; exit codes for user mistakes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.fft

from app.cli import main
from app.spectrogram_png import colour_map, decode_png, encode_png, render_spectrogram
from dsp.io import write_audio
from dsp.render import render_array
from dsp.roomtone import NoiseProfile
from dsp.stft import SpectralStage, StftProcessor, StftSettings, frame_signal, stft_windows

SR, N_FFT, HOP = 48000, 2048, 512


class Carve(SpectralStage):
    def process_frames(self, fb):
        a, b = max(100 - fb.first_frame, 0), min(140 - fb.first_frame, fb.frames)
        if a < b:
            fb.spectra[:, a:b, 100:300] = 0


@pytest.fixture()
def files(tmp_path):
    x = (np.random.default_rng(0).standard_normal((1, 3 * SR)) * 0.05).astype(np.float32)
    y = render_array(x, SR, StftProcessor([Carve()], settings=StftSettings(n_fft=N_FFT)))
    w, _ = stft_windows(N_FFT, HOP)
    p = (np.abs(scipy.fft.rfft(frame_signal(x, N_FFT, HOP, w), axis=-1)).astype(np.float64) ** 2)[0]
    NoiseProfile(SR, N_FFT, HOP, p.mean(0), p.std(0), -26.0).save(tmp_path / "room.json")
    write_audio(tmp_path / "orig.wav", x, SR, "float32")
    write_audio(tmp_path / "proc.wav", y, SR, "float32")
    return tmp_path


def read_png(path):
    return decode_png(path.read_bytes())


def test_reports_the_carved_hole_with_json_and_png(files, capsys):
    rc = main(["holes", str(files / "orig.wav"), str(files / "proc.wav"), "--profile", str(files / "room.json"),
               "--json", str(files / "h.json"), "--png", str(files / "h.png")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "holes: 1" in out and "hole rate" in out and "worst bands" in out
    d = json.loads((files / "h.json").read_text())
    (r,) = d["regions"]
    assert 2300 < r["low_hz"] < 2400 and 6950 < r["high_hz"] < 7050
    assert abs(r["start_s"] - (100 * HOP + HOP / 2 - N_FFT / 2) / SR) < 0.03
    img = read_png(files / "h.png")
    cyan = (img[..., 0] < 60) & (img[..., 1] > 150) & (img[..., 2] > 180)
    assert cyan.sum() > 100  # the hole is drawn


def test_untouched_file_has_no_holes(files, capsys):
    rc = main(["holes", str(files / "orig.wav"), str(files / "orig.wav"), "--profile", str(files / "room.json")])
    assert rc == 0
    assert "no spectral holes found" in capsys.readouterr().out


def test_user_mistakes_give_exit_codes(files, capsys):
    assert main(["holes", str(files / "orig.wav"), str(files / "missing.wav"), "--profile", str(files / "room.json")]) == 3
    assert main(["holes", str(files / "orig.wav"), str(files / "proc.wav")]) == 2  # --profile is required
    write_audio(files / "sr.wav", np.zeros((1, 16000), np.float32), 16000, "wav16")
    assert main(["holes", str(files / "sr.wav"), str(files / "sr.wav"), "--profile", str(files / "room.json")]) == 2
    err = capsys.readouterr().err
    assert "48000 Hz" in err and "Traceback" not in err


def test_png_writer_pieces():
    assert colour_map(np.array([0.0, 1.0])).tolist() == [[0, 0, 4], [252, 253, 191]]
    lum = colour_map(np.linspace(0, 1, 50)).astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(lum) > 0)  # perceptual map: brightness rises monotonically
    img = render_spectrogram(np.random.default_rng(0).uniform(-90, 0, (30, 65)), 16000, 3.0, width=200, height=80,
                             log_frequency=True)
    assert img.dtype == np.uint8 and img.shape[2] == 3
    png = encode_png(img)
    assert png.startswith(b"\x89PNG") and png.endswith(b"IEND\xaeB`\x82")
