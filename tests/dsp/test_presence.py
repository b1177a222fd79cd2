"""A speech detector's presence track: mapping, lookup, and what the passes do with it."""

from __future__ import annotations

import numpy as np
import pytest

from app.presets import apply_overrides, load_preset
from dsp.chain import BuildContext, analyse_source, build_chain
from dsp.errors import ParameterError
from dsp.presence import SpeechSettings, SpeechTrack, frame_presence, presence_from_track
from dsp.render import ArraySource, render_array, render_blocks
from dsp.roomtone import estimate_room_tone

SR = 16000


def test_presence_is_dilated_then_mapped():
    track = SpeechTrack(np.array([0, 0, 0, 1, 0, 0, 0, 0.84, 0], np.float32), 0.032)
    p = presence_from_track(track, SpeechSettings(detector="vad", low=0.7, high=0.98, hangover_ms=32.0))
    np.testing.assert_allclose(p, [0, 0, 1, 1, 1, 0, 0.5, 0.5, 0.5], atol=1e-6)
    p0 = presence_from_track(track, SpeechSettings(detector="vad", hangover_ms=0.0))
    assert p0[2] == 0 and p0[3] == 1


def test_settings_are_checked():
    with pytest.raises(ParameterError, match="detector"):
        SpeechSettings(detector="magic")
    with pytest.raises(ParameterError, match="low"):
        SpeechSettings(low=0.9, high=0.5)


def test_lookup_at_the_stft_frame_centres():
    presence = np.arange(100, dtype=np.float32)  # track frame i has value i
    hop, n_fft = 128, 512
    got = frame_presence(presence, 0.032, 10, 5, hop, n_fft, SR)
    centres = (np.arange(10, 15) * hop + hop - n_fft / 2) / SR
    np.testing.assert_array_equal(got, np.floor(centres / 0.032))
    assert frame_presence(presence, 0.032, 0, 2, hop, n_fft, SR)[0] == 0  # before the start: the first frame
    assert frame_presence(presence, 0.032, 10**6, 1, hop, n_fft, SR)[0] == 99  # past the end: the last


def _noisy(seconds=4.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    speech = (np.sin(2 * np.pi * 200 * t) + 0.5 * np.sin(2 * np.pi * 400 * t)) * (np.sin(2 * np.pi * 2 * t) > 0.3) * 0.1
    return (rng.standard_normal(n) * 0.01 + speech).astype(np.float32)[None, :]


def _render(x, track, overrides=(), **kw):
    chain = apply_overrides(load_preset("podcast"), ["stft.n_fft=512", *overrides])
    profile = estimate_room_tone(x, SR, regions=[(0.0, 0.15)], settings=__import__("dsp.roomtone", fromlist=["x"])
                                 .RoomToneSettings(stft=chain.stft))
    extras = {} if track is None else {"speech": track}
    ctx = analyse_source(ArraySource(x, SR), chain, BuildContext(SR, x.shape[0], profile=profile, extras=extras))
    return lambda: build_chain(chain, ctx), render_array(x, SR, build_chain(chain, ctx), **kw)


def test_a_track_of_ones_changes_nothing_in_the_passes():
    x = _noisy()
    n = int(np.ceil(x.shape[1] / SR / 0.032)) + 1
    ones = SpeechTrack(np.ones(n, np.float32))
    _, plain = _render(x, None, ["speech.detector=vad", "speech.refill=false"])
    _, tracked = _render(x, ones, ["speech.detector=vad", "speech.refill=false"])
    np.testing.assert_array_equal(plain, tracked)


def test_a_track_of_zeros_takes_the_speech_down_to_the_floor():
    x = _noisy()
    n = int(np.ceil(x.shape[1] / SR / 0.032)) + 1
    _, plain = _render(x, None, ["refill.bypass=true"])
    _, zero = _render(x, SpeechTrack(np.zeros(n, np.float32)), ["speech.detector=vad", "refill.bypass=true"])
    # no presence anywhere: the MMSE pass's floor gain (6 dB) everywhere, its speech included
    assert 10 * np.log10(np.mean(zero**2) / np.mean(plain**2)) < -4.0
    _, off = _render(x, SpeechTrack(np.zeros(n, np.float32)), ["speech.detector=none", "refill.bypass=true"])
    np.testing.assert_array_equal(off, plain)  # the detector off ignores a track


def test_a_tracked_chain_keeps_the_engine_invariants():
    x = np.concatenate([_noisy(seed=1), _noisy(seed=2)])
    n = int(np.ceil(x.shape[1] / SR / 0.032)) + 1
    track = SpeechTrack((np.random.default_rng(3).random(n) > 0.5).astype(np.float32))
    make, ref = _render(x, track, ["speech.detector=vad"], block_size=4096)
    for block in (64, 511):
        np.testing.assert_array_equal(render_array(x, SR, make(), block_size=block), ref)
    start = 30001
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), make(), start=start, stop=start + 4000, block_size=700)),
                          axis=1)
    np.testing.assert_allclose(part, ref[:, start : start + 4000], atol=1e-5, rtol=0)


# -- a live track: filled on another thread while the render reads it ---------------------------
def _fill_slowly(live, probs, seed=0, error=None):
    import threading
    import time

    rng = np.random.default_rng(seed)

    def run():
        i = 0
        while i < probs.size:
            k = int(rng.integers(1, 40))
            live.append(probs[i : i + k])
            i += k
            time.sleep(0.0005)
        if error is not None:
            live.fail(error)
        else:
            live.finish()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_live_presence_gives_the_finished_values_wherever_it_is_looked_up():
    from dsp.presence import LivePresence, LiveSpeechTrack

    probs = np.random.default_rng(1).random(700).astype(np.float32)
    settings = SpeechSettings(detector="vad", hangover_ms=96.0)  # 3 frames each way
    finished = presence_from_track(SpeechTrack(probs), settings)
    live = LiveSpeechTrack(capacity=8)  # grows while it fills
    lookup = LivePresence(live, settings)
    _fill_slowly(live, probs)
    hop, n_fft = 160, 640
    for first in range(0, 1500, 37):  # in render order, the last ones past the track's end
        got = frame_presence(lookup, 0.032, first, 64, hop, n_fft, SR)
        np.testing.assert_array_equal(got, frame_presence(finished, 0.032, first, 64, hop, n_fft, SR))
    np.testing.assert_array_equal(lookup.summary(), finished)
    assert live.speech_s == SpeechTrack(probs).speech_s


def test_a_live_track_hands_the_detectors_error_to_the_reader():
    from dsp.presence import LivePresence, LiveSpeechTrack

    live = LiveSpeechTrack()
    _fill_slowly(live, np.zeros(50, np.float32), error=OSError("the file went away"))
    with pytest.raises(OSError, match="went away"):
        LivePresence(live, SpeechSettings(detector="vad")).at(np.array([200]))


def test_a_chain_with_a_live_track_renders_what_the_finished_track_renders():
    from dsp.presence import LiveSpeechTrack

    x = np.concatenate([_noisy(seed=4), _noisy(seed=5)])
    n = int(np.ceil(x.shape[1] / SR / 0.032)) + 1
    probs = np.random.default_rng(6).random(n).astype(np.float32)
    _, ref = _render(x, SpeechTrack(probs), ["speech.detector=vad"], block_size=1000)
    live = LiveSpeechTrack()
    _fill_slowly(live, probs, seed=7)
    _, got = _render(x, live, ["speech.detector=vad"], block_size=1000)
    np.testing.assert_array_equal(got, ref)
