"""Every factory preset (the learned one too): the documented caps, no harm on the dev podcast,
de-hum in podcast-ml. (Issue 18: "every factory preset does no harm".)"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import models.ml_denoise  # noqa: F401 - registers the deepfilter stage, as the app does
from app.pipeline import prepare_processor
from app.presets import load_preset
from dsp.render import ArraySource, render_array

FACTORY = ["podcast", "gentle", "strong", "hum-and-hiss", "podcast-ml", "podcast-room"]


@pytest.mark.parametrize("name", FACTORY)
def test_factory_presets_keep_the_documented_total_cap(name):
    cs = load_preset(name)
    assert cs.max_total_reduction_db <= 15.0  # README: "at most 15 dB in total"
    assert f"at most {cs.max_total_reduction_db:g} dB" in cs.description or name == "podcast-ml"


def _podcast_excerpt(dev_data, seconds=30.0):
    noisy, sr = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32")
    clean, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_clean.flac"), dtype="float32")
    n = int(seconds * sr)
    return noisy[:n], clean[:n], sr


def _si_sdr(ref, est):
    ref, est = ref - ref.mean(), est - est.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return 10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2))


def _band_db(x, sr, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / sr)
    return 10 * np.log10(np.sum(spec[(f >= lo) & (f < hi)]))


@pytest.mark.slow
@pytest.mark.parametrize("name", FACTORY)
def test_every_factory_preset_does_no_harm_on_the_dev_podcast(dev_data, name):
    noisy, clean, sr = _podcast_excerpt(dev_data)
    proc, _ = prepare_processor(ArraySource(noisy[None], sr), load_preset(name))
    y = render_array(noisy[None], sr, proc)[0]
    assert _si_sdr(clean, y) > _si_sdr(clean, noisy) + 0.5
    # the voice's low band (its fundamentals, 100-250 Hz, above the hum lines' main energy) is kept
    # within 3 dB of the clean voice (strong and hum-and-hiss lost 7-10 dB there before)
    voice = _band_db(clean, sr, 100, 250)
    assert _band_db(y, sr, 100, 250) > voice - 3.0


@pytest.mark.slow
def test_podcast_ml_takes_the_hum_down_like_podcast(dev_data):
    noisy, _, sr = _podcast_excerpt(dev_data, 120.0)  # the whole file: the hum is found over it
    assert any(s.kind == "dehum" and not s.bypass for s in load_preset("podcast-ml").stages)
    drops = {}
    for name in ("podcast", "podcast-ml"):
        proc, _ = prepare_processor(ArraySource(noisy[None], sr), load_preset(name))
        y = render_array(noisy[None], sr, proc)[0]
        drops[name] = _band_db(noisy, sr, 49, 51) - _band_db(y, sr, 49, 51)
    assert drops["podcast-ml"] > 25.0 and drops["podcast-ml"] > drops["podcast"] - 6.0
