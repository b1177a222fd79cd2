"""De-plosive (issue 23): the FIR kernel against numpy, pop detection at an onset (and nothing on
a clean voice), the pop going down while the low band elsewhere is untouched, engine invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from dsp.deplosive import (
    DeplosiveSettings,
    PopMap,
    PopSuppressor,
    detect_pops,
    duck_low_band,
    lowpass_fir,
    weights,
)
from dsp.engine import AudioSpec
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array, render_blocks
from tests.dsp.mouth_signals import SR, pop, voice

#: The second syllable of :func:`voice` starts at 2/3 s.
ONSET = int(SR * 2 / 3)


def _popped(seconds=2.0, rms=0.05):
    x = voice(seconds, f0=120.0)
    p = pop(rms=rms)
    y = x.copy()
    s = ONSET - int(0.005 * SR)
    y[s : s + p.size] += p
    return x, y, (s, s + p.size)


def test_duck_low_band_matches_numpy():
    rng = np.random.default_rng(0)
    h = lowpass_fir(200.0, 8000)
    n = 300
    buf = rng.standard_normal((2, n + h.size - 1)).astype(np.float32)
    w = np.where(np.arange(n) % 3 == 0, 0.0, rng.uniform(0, 1, n))
    got = duck_low_band(buf, h, w)
    d = (h.size - 1) // 2
    for c in range(2):
        low = np.convolve(buf[c].astype(np.float64), h, mode="valid")  # h is symmetric
        ref = (buf[c, d : d + n].astype(np.float64) - w * low).astype(np.float32)
        np.testing.assert_allclose(got[c], ref, rtol=0, atol=2e-7)
        np.testing.assert_array_equal(got[c][w == 0], buf[c, d : d + n][w == 0])  # bit for bit where w = 0
    with pytest.raises(ParameterError):
        duck_low_band(buf[:, :-1], h, w)


def test_lowpass_fir_passes_the_low_band_and_stops_the_voice():
    h = lowpass_fir(200.0, SR)
    assert h.size % 2 == 1
    f, resp = scipy.signal.freqz(h, worN=[60.0, 100.0, 400.0, 1000.0], fs=SR)
    mag = 20 * np.log10(np.abs(resp))
    assert abs(mag[0]) < 0.1 and abs(mag[1]) < 0.5 and mag[2] < -40 and mag[3] < -60


def test_weights_ramp_in_and_out_around_a_span():
    pm = PopMap(SR, np.array([1000]), np.array([2000]), np.array([10.0], np.float32))
    w = weights(pm, 0, 3000, 0.9, 240)
    assert np.all(w[1000:2000] == 0.9) and w[:760].max() == 0.0 and w[2240:].max() == 0.0
    assert 0 < w[900] < 0.9 and np.all(np.diff(w[760:1000]) >= 0)


def test_a_pop_at_an_onset_is_found_and_a_clean_voice_gives_none():
    x, y, (a, b) = _popped()
    assert detect_pops(ArraySource(x[None].astype(np.float32), SR)).starts.size == 0
    pm = detect_pops(ArraySource(y[None].astype(np.float32), SR))
    assert pm.starts.size == 1
    assert pm.starts[0] <= a + int(0.01 * SR) and pm.ends[0] >= a + int(0.02 * SR)  # its loud part
    assert pm.events[0].kind == "pop" and pm.events[0].strength_db > 0


def test_the_pop_goes_down_and_the_low_band_elsewhere_is_untouched():
    x, y, (a, b) = _popped()
    src = ArraySource(y[None].astype(np.float32), SR)
    pm = detect_pops(src)
    out = render_array(y[None].astype(np.float32), SR, PopSuppressor(pops=pm))[0].astype(np.float64)
    # the stage is linear given its events: the pop alone through it is what is left of the pop
    only = (y - x)[None].astype(np.float32)
    left = render_array(only, SR, PopSuppressor(pops=pm))[0].astype(np.float64)
    pop_db = 10 * np.log10(np.sum(only[0, a:b].astype(np.float64) ** 2))
    assert pop_db - 10 * np.log10(np.sum(left[a : b + 960] ** 2)) >= 12.0
    np.testing.assert_allclose(out, render_array(x[None].astype(np.float32), SR, PopSuppressor(pops=pm))[0] + left,
                               atol=1e-6)  # (linearity, so the measure above is the pop's part of the output)
    far = np.ones(y.size, bool)
    far[int(pm.starts[0]) - int(0.01 * SR) : int(pm.ends[0]) + int(0.01 * SR)] = False
    np.testing.assert_array_equal(out[far], y.astype(np.float32)[far].astype(np.float64))


def test_engine_invariants_with_a_pop_present():
    _, y, _ = _popped(1.5)
    y = np.stack([y, y]).astype(np.float32)
    pm = detect_pops(ArraySource(y, SR))
    assert pm.starts.size == 1

    def make():
        return PopSuppressor(pops=pm)

    ref = render_array(y, SR, make(), block_size=4096)
    for bs in (1, 17, 512):
        np.testing.assert_array_equal(render_array(y, SR, make(), block_size=bs), ref)
    for start in (0, 1, int(pm.starts[0]) - 50, int(pm.starts[0]) + 700):
        part = np.concatenate(list(render_blocks(ArraySource(y, SR), make(), start=start, stop=start + 6000,
                                                 block_size=333)), axis=1)
        np.testing.assert_allclose(part, ref[:, start : start + 6000], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(ref[0], ref[1])
    assert not np.array_equal(ref, y)


def test_pops_found_at_another_rate_are_refused_and_the_map_round_trips():
    pm = PopMap(16000, np.array([5]), np.array([50]), np.array([3.0], np.float32), -40.0, 5.0)
    with pytest.raises(ParameterError, match="16000 Hz"):
        PopSuppressor(pops=pm).prepare(AudioSpec(48000, 1))
    assert PopMap.from_dict(pm.to_dict()).to_dict() == pm.to_dict()
    assert len(pm) == 1 and next(iter(pm)).kind == "pop"


@pytest.mark.parametrize("field,value", [("pop_ratio_db", -1.0), ("pop_level_db", 40.0), ("pop_jump_db", 50.0),
                                         ("cutoff_hz", 20.0), ("max_reduction_db", 70.0), ("max_pop_ms", 5.0)])
def test_settings_out_of_range_are_refused(field, value):
    with pytest.raises(ParameterError, match=field):
        DeplosiveSettings(**{field: value})
