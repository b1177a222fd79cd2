"""Events in the bed do not stand out (issue 18, build 3): a steady noise with 30 ms clicks comes out
no peakier than it went in. The measure is the benchmark's musical-noise kurtosis ratio
(bench/README.md): the kurtosis of each bin's power over the noise-only frames, normalised by the
bin's mean, output over input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from app.pipeline import prepare_processor
from app.presets import load_preset
from dsp.render import ArraySource, render_array

SR = 16000


def _power(x, n_fft=512, hop=256):
    w = np.hanning(n_fft + 1)[:-1]
    k = 1 + (x.size - n_fft) // hop
    frames = np.stack([x[i * hop : i * hop + n_fft] * w for i in range(k)])
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def kurtosis(p):
    q = p / np.maximum(p.mean(axis=0, keepdims=True), 1e-30)
    return float(np.mean(q**4) / np.mean(q**2) ** 2)


def _bed_with_clicks(dev_data, seed=0):
    """4 s of speech between 3 s of steady pink noise with 30 ms clicks (12 dB over the bed) on each side."""
    rng = np.random.default_rng(seed)
    speech, sr = sf.read(str(dev_data / "clean" / "s06_arctic_aew.flac"), dtype="float32")
    assert sr == SR
    speech = speech[: 4 * SR]
    n = 3 * SR + speech.size + 3 * SR
    bed = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875, -0.5221894],
                  rng.standard_normal(n + 2000))[2000:]
    bed *= 0.004 / np.std(bed)
    clicks = np.zeros(n)
    k = int(0.03 * SR)
    for i in np.arange(int(0.2 * SR), n - k, int(0.35 * SR)):
        clicks[i : i + k] += rng.standard_normal(k) * np.hanning(k) * 0.004 * 10 ** (12 / 20) * 2
    x = bed + clicks
    x[3 * SR : 3 * SR + speech.size] += speech
    noise_only = np.r_[0 : 3 * SR - 4 * 512, 3 * SR + speech.size + 4 * 512 : n]
    return x.astype(np.float32), noise_only


@pytest.mark.parametrize("preset", ["podcast"])
def test_clicks_in_a_steady_bed_come_out_no_peakier(dev_data, preset):
    x, noise_only = _bed_with_clicks(dev_data)
    proc, ctx = prepare_processor(ArraySource(x[None], SR), load_preset(preset))
    y = render_array(x[None], SR, proc)[0]
    ratio = kurtosis(_power(y[noise_only])) / kurtosis(_power(x[noise_only]))
    assert ratio <= 1.1, f"{preset}: events stand out of the bed after processing (kurtosis ratio {ratio:.2f})"
    # ... and the bed was actually reduced (not left alone to pass the test)
    assert 10 * np.log10(np.mean(y[noise_only] ** 2) / np.mean(x[noise_only] ** 2)) < -3.0
