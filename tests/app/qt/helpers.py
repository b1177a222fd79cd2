"""Small helpers shared by the window tests."""

from __future__ import annotations

import numpy as np

from dsp.io import write_audio

SR = 48000


def tone_file(path, seconds: float = 2.0, seed: int = 0, freq: float = 220.0, noise: float = 0.003):
    """A 48 kHz 24-bit WAV: faint noise, and a tone from 0.8 s on (something to clean and to see)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = 0.1 * np.sin(2 * np.pi * freq * t) * (t > 0.8) + noise * rng.standard_normal(n)
    write_audio(path, x.astype(np.float32)[None], SR, "wav24")
    return path


def wait_for_jobs(window, qtbot) -> None:
    """Until the window's background jobs (and the ones they start) are done."""
    assert window.wait_for_jobs(120)
    qtbot.wait(30)
    assert window.wait_for_jobs(120)


def opened_tone_window(make_window, qtbot, tmp_path, seconds: float = 4.0):
    """A window on a ``seconds``-long tone file, jobs done, the waveform focused (for key tests)."""
    from PySide6.QtWidgets import QApplication

    w = make_window()
    assert w.open_path(tone_file(tmp_path / "ep.wav", seconds=seconds))
    wait_for_jobs(w, qtbot)
    w.waveform.setFocus()
    QApplication.processEvents()
    return w
