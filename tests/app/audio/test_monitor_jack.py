"""The monitor against a real, real-time-paced device (JACK dummy driver, see conftest.py).

Full chain: the factory ``podcast`` preset (de-hum, room-tone gate, MMSE pass) with its room
tone found automatically, through ``app.pipeline.prepare_processor`` as the app builds it. If
that preset or its stages cannot be built here, the tests fall back to an STFT + gain chain and
say so in the test's output.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy.signal import resample_poly

from app.audio import ListenMode, Monitor, MonitorState, OutputSettings
from dsp.engine import Chain, DryWet, Gain
from dsp.errors import DeviceError
from dsp.render import ArraySource, render_blocks
from dsp.stft import StftProcessor, StftSettings
from tests.app.audio.jack_rig import RATE, Capture, align, output_ports_of

pytestmark = pytest.mark.audio


class HostXrun(Exception):
    """The JACK server itself missed a period (the machine was overloaded)."""


def clean_run(attempts: int = 5):
    """Retry a test whose run saw host xruns; ring underruns (the monitor's fault) fail at once.

    On this shared 2-core machine a trivial native JACK client with no feeder at all sees a
    few host xruns per 30 s under load (measured): they are not the monitor's, and they corrupt
    the capture, so such a run proves nothing either way. Five attempts: a fresh-clone CI run on
    2026-12-03 saw host xruns in three attempts in a row ([1, 4, 1]) and passed when rerun.
    """

    def wrap(fn):
        import functools

        @functools.wraps(fn)
        def run(*args, **kwargs):
            seen = []
            for _ in range(attempts):
                try:
                    return fn(*args, **kwargs)
                except HostXrun as exc:
                    seen.append(exc.args[0])
            pytest.fail(f"host xruns in all {attempts} attempts (machine overloaded?): {seen}")

        return run

    return wrap


@pytest.fixture(scope="module")
def demo(dev_data):
    from dsp.io import read_audio

    a = read_audio(dev_data / "podcast" / "podcast_dev_2min_noisy.flac")
    audio, sr = a if isinstance(a, tuple) else (a.audio, a.sample_rate)
    audio = np.asarray(audio, np.float32)
    if audio.shape[0] > audio.shape[-1]:
        audio = audio.T
    assert sr == RATE
    return ArraySource(np.ascontiguousarray(audio[:, 20 * sr : 33 * sr]), sr)


@pytest.fixture(scope="module")
def full_chain(demo):
    """(factory, description): the podcast preset as the app builds it, or the fallback."""
    try:
        from app.pipeline import prepare_processor
        from app.presets import load_preset
        from dsp.chain import build_chain

        settings = load_preset("podcast")
        _, context = prepare_processor(demo, settings)
        return (lambda s=settings: build_chain(s, context)), "podcast preset"
    except Exception as exc:  # noqa: BLE001 - the preset is being built elsewhere
        warnings.warn(f"podcast preset unavailable ({exc}); using STFT + gain", stacklevel=1)
        return (lambda: DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=2048)), Gain(-3.0)]))), "fallback"


def offline(source, factory, start, stop):
    return np.concatenate(list(render_blocks(source, factory(), start=start, stop=stop, block_size=65536)), axis=1)


class Rig:
    """A monitor on the JACK device with a capture of what the device receives."""

    def __init__(self, server, source, factory, seconds, **settings):
        self.monitor = Monitor(output=OutputSettings(block_size=256, **settings))
        self.monitor.set_source(source, factory)
        before = set(server.ports())
        self.monitor.open()
        self.capture = Capture(server, seconds)
        self.capture.connect(output_ports_of(server, before))

    def wait_position(self, seconds, timeout=30.0):
        t0 = time.monotonic()
        while self.monitor.position_s < seconds:
            assert time.monotonic() - t0 < timeout, f"stuck at {self.monitor.position_s} s"
            time.sleep(0.02)

    def finish(self, *, allow_host_xruns: bool = False):
        """Stop; fail on ring underruns. Host xruns corrupt the capture, so they make the run
        prove nothing (``HostXrun``) unless the test does not look at the capture."""
        self.monitor.stop()
        time.sleep(0.3)
        stats = self.monitor.stats()
        captured = self.capture.close()
        self.monitor.shutdown()
        assert stats.underruns == 0, stats  # the ring ran dry: the monitor's fault
        if stats.xruns and not allow_host_xruns:
            raise HostXrun(stats.xruns)
        return captured, stats


def tone(seconds, freq=440.0, amp=0.3, sr=RATE, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, axis=0)


@pytest.mark.slow
@clean_run()
def test_ten_seconds_of_the_demo_through_the_full_chain_equal_the_offline_render(jack_server, demo, full_chain, record_property):
    factory, what = full_chain
    record_property("chain", what)
    rig = Rig(jack_server, demo, factory, 14.0)
    rig.monitor.play(from_s=1.0)
    rig.wait_position(11.2)
    captured, stats = rig.finish()
    print(f"chain={what} realtime_jack={jack_server.realtime} {stats}")
    assert stats.underruns == 0 and stats.xruns == 0, stats
    ref = offline(demo, factory, RATE, 12 * RATE)
    k = align(captured, ref)
    xf = int(0.005 * RATE)  # the start fades in over the crossfade
    n = 10 * RATE
    assert k >= 0 and k + n <= captured.shape[0]
    for ch in range(captured.shape[1]):
        np.testing.assert_array_equal(captured[k + xf : k + n, ch], ref[0, xf:n])
    assert np.max(np.abs(captured[k : k + xf, 0])) <= np.max(np.abs(ref[0, :xf])) + 1e-7


def _first_change(captured, c0, predicate, block=64):
    for i in range(c0, captured.shape[0] - block, block):
        if predicate(captured[i : i + block, 0]):
            return i
    raise AssertionError("the change never showed up in the output")


@pytest.mark.slow
@clean_run()
def test_a_settings_change_is_heard_within_100_ms(jack_server):
    src = ArraySource(tone(4.0), RATE)

    def chain(gain_db):
        return lambda: DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=2048)), Gain(gain_db)]))

    rig = Rig(jack_server, src, chain(-20.0), 5.0)
    rig.monitor.play()
    rig.wait_position(1.0)
    c0 = rig.capture.n
    rig.monitor.set_chain(chain(0.0))
    time.sleep(0.5)
    captured, stats = rig.finish()
    assert np.max(np.abs(captured[c0 - 4800 : c0, 0])) < 0.04  # -20 dB of 0.3 before
    c1 = _first_change(captured, c0, lambda b: np.max(np.abs(b)) > 0.06)
    latency = (c1 - c0) / RATE + stats.output_latency_s
    print(f"settings change heard after {latency * 1000:.1f} ms (switch lead {stats.last_switch_lead_ms:.1f} ms)")
    assert latency < 0.100
    assert stats.underruns == 0 and stats.xruns == 0, stats


@pytest.mark.slow
@clean_run()
def test_a_podcast_chain_change_is_heard_within_100_ms_then_becomes_exact(jack_server, demo, full_chain):
    """Mix 0 (the original, exactly) -> mix 1 on the full chain: the fast voice, then the exact one."""
    factory, what = full_chain
    dry = lambda: _with_mix(factory(), 0.0)  # noqa: E731
    rig = Rig(jack_server, demo, dry, 6.0)
    rig.monitor.play(from_s=2.0)
    rig.wait_position(3.0)
    c0 = rig.capture.n
    rig.monitor.set_chain(factory)
    time.sleep(1.5)
    captured, stats = rig.finish()
    ref_dry = demo.audio[0, 2 * RATE : 6 * RATE]
    k = align(captured[: c0 + 1], ref_dry[None, : int(0.8 * RATE)])
    diff = lambda i, n: np.abs(captured[i : i + n, 0] - ref_dry[i - k : i - k + n])  # noqa: E731
    assert np.max(diff(c0 - 9600, 9600)) == 0.0  # still the original, exactly
    c1 = None
    for i in range(c0, captured.shape[0] - 64, 64):
        if np.max(diff(i, 64)) > 1e-3:
            c1 = i
            break
    assert c1 is not None
    latency = (c1 - c0) / RATE + stats.output_latency_s
    print(f"{what}: change heard after {latency * 1000:.1f} ms; upgrades={stats.upgrades}; {stats}")
    assert latency < 0.100
    assert stats.underruns == 0 and stats.xruns == 0, stats
    # After the upgrade, the output is the offline render of the new settings from the exact
    # voice's start (render_blocks from that playhead), sample for sample.
    exact_start, exact = rig.monitor.voice_log[-1]
    assert exact
    i0 = exact_start - 2 * RATE + k  # capture index of that file sample
    xf = int(0.005 * RATE)
    ref = offline(demo, factory, exact_start, exact_start + RATE // 2)
    assert i0 + xf < c0 + int(1.0 * RATE)  # exact within 1 s of the change
    np.testing.assert_array_equal(captured[i0 + xf : i0 + RATE // 2, 0], ref[0, xf:])


def _with_mix(p, mix):
    p.mix = mix
    return p


@pytest.mark.slow
@clean_run()
def test_listen_switches_are_time_aligned_and_click_free(jack_server):
    amp, f = 0.3, 440.0
    src = ArraySource(tone(4.0, f, amp), RATE)
    factory = lambda: DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=2048)), Gain(-6.0)]))  # noqa: E731
    rig = Rig(jack_server, src, factory, 5.0)
    rig.monitor.play()
    rig.wait_position(0.5)
    marks = []
    for mode in ["original", "removed", "processed", "original", "processed", "removed", "original"]:
        rig.monitor.set_listen(mode)
        marks.append((rig.capture.n, mode))
        time.sleep(0.15)
    captured, stats = rig.finish()
    assert stats.underruns == 0 and stats.xruns == 0, stats
    start, end = marks[0][0] - RATE // 4, marks[-1][0] + RATE // 8
    x = captured[start:end, 0].astype(np.float64)
    natural = 2 * np.pi * f / RATE * amp  # the tone's largest sample-to-sample step
    steps = np.abs(np.diff(x))
    print(f"largest step {steps.max():.5f}, the tone's own {natural:.5f}")
    assert steps.max() < 1.15 * natural
    # Each mode is what it should be: original at full level, processed and removed at -6 dB.
    g = 10 ** (-6 / 20)
    for (c, mode), (c_next, _) in zip(marks, marks[1:] + [(end, None)], strict=False):
        seg = captured[c + int(0.1 * RATE) : c_next, 0]
        level = np.sqrt(2 * np.mean(seg.astype(np.float64) ** 2)) / amp
        want = {"original": 1.0, "processed": g, "removed": 1 - g}[mode]
        assert level == pytest.approx(want, abs=0.02), (mode, level)


@pytest.mark.slow
@clean_run()
def test_a_44k1_file_is_resampled_to_the_48k_device(jack_server):
    sr = 44100
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((1, 3 * sr)) * 0.1).astype(np.float32)
    src = ArraySource(x, sr)
    factory = lambda: DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=2048)), Gain(-3.0)]))  # noqa: E731
    rig = Rig(jack_server, src, factory, 4.0)
    assert rig.monitor.device_rate == RATE
    rig.monitor.play()
    rig.wait_position(2.5)
    captured, stats = rig.finish()
    assert stats.underruns == 0 and stats.xruns == 0, stats
    ref = resample_poly(offline(src, factory, 0, 3 * sr).astype(np.float64), 160, 147, axis=1)
    k = align(captured, ref)
    print("resample alignment", k, captured.shape, ref.shape)
    a, b = 2 * int(0.005 * RATE), 2 * RATE
    np.testing.assert_allclose(captured[k + a : k + b, 0], ref[0, a:b], atol=1e-5)


@pytest.mark.slow
@clean_run()
def test_loop_seek_position_and_stop(jack_server, demo):
    factory = lambda: DryWet(Chain([StftProcessor(settings=StftSettings(n_fft=2048)), Gain(-3.0)]))  # noqa: E731
    rig = Rig(jack_server, demo, factory, 4.0)
    m = rig.monitor
    m.set_loop(1.0, 1.6)
    m.play(from_s=1.2)
    positions = []
    for _ in range(60):
        time.sleep(0.02)
        positions.append(m.position_s)
    assert min(positions) >= 1.0 - 1e-3 and max(positions) <= 1.6 + 1e-3
    assert max(positions) > 1.5 and min(positions) < 1.1  # it went round
    m.set_loop(None)
    m.seek(5.0)
    time.sleep(0.3)
    assert 5.0 < m.position_s < 5.4
    m.stop()
    m.sync()
    time.sleep(0.1)
    assert m.state is MonitorState.STOPPED
    stopped_at = m.position_s
    assert 5.0 < stopped_at < 5.5
    time.sleep(0.1)
    assert m.position_s == stopped_at
    captured, stats = rig.finish()
    assert stats.underruns == 0 and stats.xruns == 0, stats
    assert np.max(np.abs(np.diff(captured[:, 0]))) < 0.5


def test_missing_device_gives_a_clear_error_and_the_monitor_stays_off(jack_server, demo):
    m = Monitor(output=OutputSettings(device="Focusrite USB that is not there"))
    m.set_source(demo, lambda: Gain(0.0))
    with pytest.raises(DeviceError, match="not available.*available: system.*Preferences"):
        m.open()
    assert m.state is MonitorState.OFF and "not available" in (m.error or "")
    with pytest.raises(DeviceError):
        m.play()
    assert m.state is MonitorState.OFF
    m.configure(OutputSettings(device="system"))
    m.play()
    time.sleep(0.2)
    assert m.state is MonitorState.PLAYING and m.position_s > 0.05
    m.shutdown()
    assert ListenMode("removed") is ListenMode.REMOVED


@pytest.mark.slow
def test_switching_to_the_ml_chain_while_playing_does_not_drop_out(jack_server, demo, full_chain, monkeypatch):
    """The first chain with DeepFilterNet3 is built by the feeder thread; with the model preloaded
    (as the workstation does at start-up) that takes milliseconds, not the model's ~1.1 s load.

    Only ring underruns count here (16 without the preload, measured): the capture is not
    compared, so JACK's own host xruns, which the ML chain's preroll provokes on this 2-core
    machine (a fresh-clone CI run saw them in 5 attempts out of 5), do not void the run."""
    from app.pipeline import prepare_processor
    from app.presets import load_preset
    from dsp.chain import build_chain
    from models import deepfilter_onnx as dfo
    from models import ml_denoise

    if ml_denoise.preload() is None:
        pytest.skip("DeepFilterNet3 cannot run here")
    factory, _ = full_chain
    settings = load_preset("podcast-ml")
    _, context = prepare_processor(demo, load_preset("podcast"))  # room tone; builds no ML stage
    monkeypatch.setattr(dfo, "_MODEL", None)  # as in a fresh process ...
    assert ml_denoise.preload() is not None  # ... where the start-up preload has run
    rig = Rig(jack_server, demo, factory, 6.0)
    rig.monitor.play(from_s=1.0)
    rig.wait_position(2.0)
    rig.monitor.set_chain(lambda: build_chain(settings, context))
    rig.wait_position(5.0)
    _, stats = rig.finish(allow_host_xruns=True)  # asserts no ring underrun
    assert stats.upgrades >= 1  # the exact (fully prerolled) ML voice took over
