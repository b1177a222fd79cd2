"""Feeder-side pieces: streaming resampler, meters, voices (against slow references)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from app.audio.meters import MeterHistory
from app.audio.resample import StreamingResampler
from app.audio.voice import Voice
from dsp.engine import Chain, DryWet, Gain
from dsp.render import ArraySource, render_array
from dsp.stft import StftProcessor, StftSettings


def noise(ch=2, n=20000, seed=0, scale=0.1):
    return (np.random.default_rng(seed).standard_normal((ch, n)) * scale).astype(np.float32)


def stream(rs, x, block):
    out = [rs.push(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    out.append(rs.push(np.zeros((x.shape[0], rs.flush_length()), np.float32)))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("rates", [(44100, 48000), (48000, 44100), (32000, 48000), (96000, 48000)])
@pytest.mark.parametrize("block", [1, 97, 256, 4096])
def test_streaming_resampler_equals_resample_poly_for_any_blocking(rates, block):
    x = noise(n=3000 if block == 1 else 12000)
    rs = StreamingResampler(*rates, 2)
    y = stream(rs, x, block)
    ref = resample_poly(x.astype(np.float64), rs.up, rs.down, axis=1)
    n = ref.shape[1]
    assert y.shape[1] >= n
    np.testing.assert_allclose(y[:, :n], ref, atol=2e-6)


def test_equal_rates_are_an_exact_pass_through():
    x = noise()
    np.testing.assert_array_equal(stream(StreamingResampler(48000, 48000, 2), x, 333), x)


def test_rewind_then_new_input_equals_a_fresh_run_on_the_spliced_signal():
    a, b = noise(seed=1), noise(seed=2)
    cut = 7000
    spliced = np.concatenate([a[:, :cut], b[:, cut:]], axis=1)
    rs = StreamingResampler(44100, 48000, 2)
    first = [rs.push(a[:, i : i + 500]) for i in range(0, 10000, 500)]
    m = rs.rewind(cut)
    got = [rs.push(b[:, i : i + 500]) for i in range(cut, b.shape[1], 500)]
    ref = stream(StreamingResampler(44100, 48000, 2), spliced, 1000)
    # Outputs produced before the rewind saw the old input through the filter's lookahead
    # (they stay as played); everything from the rewind point on is the spliced signal's.
    k = m - rs.lookahead * rs.up // rs.down - 2
    y0 = np.concatenate(first, axis=1)[:, :k]
    y1 = np.concatenate(got, axis=1)
    np.testing.assert_allclose(y0, ref[:, :k], atol=1e-7)
    np.testing.assert_allclose(y1, ref[:, m : m + y1.shape[1]], atol=1e-7)


def test_short_term_loudness_matches_pyloudnorm_and_peak_rms_are_right():
    pyln = pytest.importorskip("pyloudnorm")
    sr = 48000
    x = noise(ch=2, n=3 * sr, seed=3, scale=0.05).astype(np.float64)
    t = np.arange(3 * sr) / sr
    x[0] += 0.2 * np.sin(2 * np.pi * 997 * t)
    x = x.astype(np.float32).astype(np.float64)  # what the meters see
    m = MeterHistory(sr, 2, 240)
    for i in range(0, x.shape[1], 240):
        m.push(x[:, i : i + 240].astype(np.float32))
    r = m.read(m.next_chunk, loudness_window_s=3.0, rms_window_s=3.0, peak_window_s=3.0)
    # One 3 s block: pyloudnorm's "integrated" loudness is then the ungated short-term loudness.
    ref = pyln.Meter(sr, block_size=3.0).integrated_loudness(x.T)
    assert abs(r.short_term_lufs - ref) < 0.05
    np.testing.assert_allclose(r.peak_dbfs, 20 * np.log10(np.abs(x).max(axis=1)), atol=1e-4)
    np.testing.assert_allclose(r.rms_dbfs, 10 * np.log10((x**2).mean(axis=1)), atol=1e-3)
    assert not r.clipped


def test_meters_clip_indicator_is_sticky_and_rewind_restores_filter_state():
    sr = 48000
    x = noise(ch=1, n=sr, seed=4, scale=0.1)
    a = MeterHistory(sr, 1, 256)
    b = MeterHistory(sr, 1, 256)
    for i in range(0, x.shape[1], 256):
        a.push(x[:, i : i + 256])
    for i in range(0, 100 * 256, 256):
        b.push(x[:, i : i + 256])
    b.push(np.full((1, 256), 1.5, np.float32))  # a clipped chunk, then rewound away
    b.rewind(100)
    for i in range(100 * 256, x.shape[1], 256):
        b.push(x[:, i : i + 256])
    ra, rb = a.read(a.next_chunk), b.read(b.next_chunk)
    assert ra.short_term_lufs == pytest.approx(rb.short_term_lufs, abs=1e-9)
    assert rb.clipped and rb.clip_count == 1 and not ra.clipped
    b.clear_clip()
    assert not b.read(b.next_chunk).clipped


def chain():
    return DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=512)), Gain(-6.0)]), mix=0.8)


def test_voice_pulls_equal_the_offline_render_of_the_span():
    x = noise(ch=1, n=30000, seed=5)
    ref = render_array(x, 16000, chain())
    v = Voice(ArraySource(x, 16000), chain(), start=4000, chunk=256, block_size=1024)
    got = [v.pull(256) for _ in range(110)]
    p = np.concatenate([c.processed for c in got], axis=1)
    o = np.concatenate([c.original for c in got], axis=1)
    fp = np.concatenate([c.file_pos for c in got])
    n = min(p.shape[1], 30000 - 4000)
    np.testing.assert_array_equal(p[:, :n], ref[:, 4000 : 4000 + n])
    np.testing.assert_array_equal(o[:, :n], x[:, 4000 : 4000 + n])
    np.testing.assert_array_equal(fp[:n], np.arange(4000, 4000 + n))
    assert v.eof_at == 26000 and np.all(p[:, 26000:] == 0.0)


def test_voice_loop_repeats_the_selection_with_a_crossfaded_seam():
    sr = 16000
    x = noise(ch=1, n=20000, seed=6)
    ref = render_array(x, sr, chain())
    a, b, xf = 5000, 9000, 80
    v = Voice(ArraySource(x, sr), chain(), start=a, loop=(a, b), chunk=256, crossfade=xf)
    c = v.pull(3 * (b - a) + 100)
    p, fp = c.processed[0], c.file_pos
    L = b - a
    np.testing.assert_array_equal(p[:L], ref[0, a:b])  # first pass is the render
    np.testing.assert_array_equal(p[L + xf : 2 * L], ref[0, a + xf : b])  # after the seam too
    assert fp[L] == a and fp[2 * L] == a and fp[L - 1] == b - 1
    # The seam blends the tail past b into the restart: no sample-to-sample jump larger than
    # the signal's own largest steps.
    assert np.max(np.abs(np.diff(p[L - 5 : L + xf + 5]))) <= np.max(np.abs(np.diff(ref[0]))) * 1.01
