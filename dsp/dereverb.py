"""De-reverb: take the room's late reverberation down with a capped, smoothed spectral gain.

What and why
------------
A voice recorded in an untreated room comes with the room's reverberation. The late part (the
tail arriving 50 ms or more after the direct sound) smears words; early reflections colour the
voice and are left alone. This stage suppresses the late tail only, non-generatively (a real
gain of at most 1 per time-frequency cell), under a maximum-suppression cap, so the voice itself
is not changed where it stands above its own tail.

Algorithm (suppression: :class:`LateReverbSuppressor` inside a :class:`Dereverberator`)
------------------------------------------------------------------------------------------
Statistical late-reverberation model (Polack; Lebart, Boucher & Denbigh 2001; Habets 2009, the
``kappa = 1`` case, i.e. the source-microphone distance beyond the critical distance): the
room impulse response is Gaussian noise under an exponential envelope ``exp(-delta t)`` with
``delta = 3 ln 10 / RT60``, so the reverberant energy ``T_l`` seconds after any moment is that
moment's energy times ``exp(-2 delta T_l)``. In an STFT with hop ``R`` the late-reverb PSD is
predicted from the past spectrum delayed by ``D = round(T_l fs / R)`` frames::

    P_x(l, k)   = a P_x(l-1, k) + (1 - a) |X(l, k)|^2               (smoothed reverberant PSD)
    P_r(l, k)   = mu * exp(-2 delta D R / fs) * P_x(l - D, k)         (late-reverb PSD)
    g(l, k)     = max(1 - P_r(l, k) / P_x(l, k), g_min)               (spectral subtraction)
    G(l, k)     = b G(l-1, k) + (1 - b) g(l, k)                        (smoothed gain)

``a`` is the PSD smoothing (:data:`PSD_TIME_MS` time constant), ``b`` the gain smoothing
(:data:`GAIN_TIME_MS`): gains computed from smoothed powers and smoothed again over time keep
musical noise down. ``mu = amount_percent / 100 * OVER_ESTIMATION`` scales the estimate: 0
removes nothing; every step of ``g`` and ``G`` is non-increasing in ``mu`` for the same input,
so the output's energy in every cell falls as the amount rises (the knob is monotone).
``g_min = 10 ** (-max_suppression_db / 20)`` is the spectral floor (the stage never gates to
silence); the surrounding :class:`~dsp.stft.StftProcessor` caps the gain at the same floor.

The STFT is the shared engine's (:class:`~dsp.stft.StftProcessor`, default frame about 43 ms,
hop a quarter), run as a time-domain stage of its own, before the noise passes (placement 20):
latency ``n_fft``, aligned by the chain's dry/wet. ``amount_percent`` 0 (or no decay time)
builds a plain passthrough: latency 0, the input returned untouched, bit for bit.

Algorithm (decay time: :func:`estimate_rt60`, the stage's ``analyse`` hook)
--------------------------------------------------------------------------
Blind estimate from speech offsets ("free decay regions", after Löllmann & Vary 2008 and Prego,
de Lima, Lee & Netto 2015): the first ``analysis_s`` seconds are streamed in blocks (memory is
bounded by that cap, not by the file's length), channels averaged in power, through an STFT of
about 21 ms frames and a quarter hop. Per octave band (250 Hz to 4 kHz, those below 0.45 fs),
the band level in dB is smoothed by a moving average over :data:`ENVELOPE_SMOOTH_MS`. A *free
decay* is a run of frames over which that level falls frame after frame, at least
:data:`MIN_DECAY_MS` long, dropping at least :data:`MIN_DROP_DB` dB, staying
:data:`FLOOR_MARGIN_DB` over the band's floor (its 10th-percentile level). Each decay's slope
``s`` (dB/s, least squares) gives ``T = -60 / s``. After an offset the level cannot fall faster
than the room lets it, so the room shows in the steepest decays: each band's estimate is the
:data:`DECAY_PERCENTILE` percentile of its decays' ``T``, the file's the median over bands,
mapped through :data:`RT60_CALIBRATION` (a straight line fitted on simulated rooms of the tuning
half of the dev speech only; bench/reverb.py). Fewer than :data:`MIN_DECAYS` decays: no
estimate (the stage then passes audio through, and the record says so).

Parameters (units in the names)
-------------------------------
``amount_percent`` 0-100 (how much of the estimated late reverb is removed), ``max_suppression_db``
0-30 (the cap), ``rt60_s`` 0 (estimate from the file) or 0.1-5 s (set by hand),
``late_start_ms`` 20-200 (where the late tail starts), ``analysis_s`` 5-36000 (how much of the
file the decay analysis reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.fft

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Identity, Processor
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry, StftProcessor, StftSettings

#: Time constant of the reverberant PSD's smoothing (ms).
PSD_TIME_MS = 15.0
#: Time constant of the gain's smoothing over frames (ms).
GAIN_TIME_MS = 10.0
#: The late-reverb estimate at amount 100 % (1 = the model's prediction as it is).
OVER_ESTIMATION = 1.5
#: Frames of history after which a render from a playhead agrees with the full render.
PREROLL_TIME_MS = 800.0

#: Where the analysis puts its results in ``BuildContext.extras``.
RT60_KEY = "rt60_s"
ESTIMATE_KEY = "room_decay"

ENVELOPE_SMOOTH_MS = 60.0
MIN_DECAY_MS = 120.0
MIN_DROP_DB = 6.0
FLOOR_MARGIN_DB = 6.0
FLOOR_PERCENTILE = 2.0
SKIP_DB = 2.0
DECAY_PERCENTILE = 50.0
MIN_DECAYS = 3
OCTAVE_CENTRES_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0)
#: ``rt60 = a * raw + b`` (fitted on the tuning half's simulated rooms; bench/reverb.py).
RT60_CALIBRATION = (1.245, -0.231)
RT60_RANGE_S = (0.1, 5.0)


@dataclass(frozen=True)
class DereverbSettings:
    """Late-reverberation suppression (each field's range and meaning in its schema)."""

    amount_percent: float = setting(70.0, lo=0.0, hi=100.0, unit="%",
                                    doc="How much of the estimated late reverb is taken out (0 = untouched, bit for bit).")
    max_suppression_db: float = setting(12.0, lo=0.0, hi=30.0, unit="dB",
                                        doc="The most any time-frequency cell is turned down (never to silence).")
    rt60_s: float = setting(0.0, lo=0.0, hi=RT60_RANGE_S[1], unit="s",
                            doc="The room's decay time (60 dB); 0 estimates it from the file.")
    late_start_ms: float = setting(50.0, lo=20.0, hi=200.0, unit="ms",
                                   doc="Where the late tail starts after the direct sound; earlier reflections are kept.")
    analysis_s: float = setting(300.0, lo=5.0, hi=36000.0, unit="s",
                                doc="The decay analysis reads at most this many seconds from the start of the source.")

    def __post_init__(self) -> None:
        check_settings(self, "dereverb")
        if self.rt60_s != 0.0 and self.rt60_s < RT60_RANGE_S[0]:
            raise ParameterError(
                f"dereverb.rt60_s must be 0 (estimate from the file) or between {RT60_RANGE_S[0]:g} and "
                f"{RT60_RANGE_S[1]:g} s, got {self.rt60_s:g}")


# -- the suppression kernel --------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelParams:
    """The per-frame recursion's constants (see the module docstring)."""

    delay_frames: int  # D
    psd_alpha: float  # a
    gain_beta: float  # b
    late_factor: float  # mu * exp(-2 delta D R / fs)
    gain_floor: float  # g_min


def kernel_params(settings: DereverbSettings, rt60_s: float, sample_rate: int, hop_length: int) -> KernelParams:
    frame_s = hop_length / sample_rate
    delay = max(1, int(round(settings.late_start_ms / 1000.0 / frame_s)))
    delta = 3.0 * math.log(10.0) / rt60_s
    mu = settings.amount_percent / 100.0 * OVER_ESTIMATION
    return KernelParams(
        delay_frames=delay,
        psd_alpha=math.exp(-frame_s / (PSD_TIME_MS / 1000.0)),
        gain_beta=math.exp(-frame_s / (GAIN_TIME_MS / 1000.0)),
        late_factor=mu * math.exp(-2.0 * delta * delay * frame_s),
        gain_floor=10.0 ** (-settings.max_suppression_db / 20.0),
    )


@realtime_kernel
def _late_reverb_gains(spectra, first_frame, delay, alpha, beta, late, floor, psd, ring, gsm, gain):  # pragma: no cover
    """Gains ``(channels, frames, bins)`` for a batch of frames; state ``psd``, ``ring``, ``gsm`` updated.

    ``ring[c, f % delay]`` holds the smoothed PSD of absolute frame ``f``; before frame ``f``
    writes it, it holds frame ``f - delay``'s.
    """
    c_n, f_n, b_n = spectra.shape
    for c in range(c_n):
        for f in range(f_n):
            slot = (first_frame + f) % delay
            for k in range(b_n):
                z = spectra[c, f, k]
                p = np.float64(z.real) * np.float64(z.real) + np.float64(z.imag) * np.float64(z.imag)
                px = alpha * psd[c, k] + (1.0 - alpha) * p
                psd[c, k] = px
                pr = late * ring[c, slot, k]
                ring[c, slot, k] = px
                g = 1.0
                if px > 1e-30:
                    g = 1.0 - pr / px
                if g < floor:
                    g = floor
                gs = beta * gsm[c, k] + (1.0 - beta) * g
                gsm[c, k] = gs
                gain[c, f, k] = np.float32(gs)


def late_reverb_gains(spectra: np.ndarray, first_frame: int, params: KernelParams, psd: np.ndarray, ring: np.ndarray,
                      gsm: np.ndarray) -> np.ndarray:
    """Validate and run the suppression kernel (state arrays are updated in place)."""
    if spectra.ndim != 3 or spectra.dtype != np.complex64:
        raise ParameterError(f"expected complex64 spectra (channels, frames, bins), got {spectra.dtype} {spectra.shape}")
    c_n, _, b_n = spectra.shape
    if psd.shape != (c_n, b_n) or gsm.shape != (c_n, b_n) or ring.shape != (c_n, params.delay_frames, b_n):
        raise ParameterError("de-reverb state does not match the spectra")
    gain = np.empty(spectra.shape, np.float32)
    _late_reverb_gains(np.ascontiguousarray(spectra), int(first_frame), int(params.delay_frames),
                       float(params.psd_alpha), float(params.gain_beta), float(params.late_factor),
                       float(params.gain_floor), psd, ring, gsm, gain)
    return gain


class LateReverbSuppressor(SpectralStage):
    """The per-frame late-reverb gain (a spectral stage; :class:`Dereverberator` runs it)."""

    def __init__(self, settings: DereverbSettings, rt60_s: float) -> None:
        self.settings = settings
        self.rt60_s = float(rt60_s)
        self.mix = 1.0

    def prepare(self, geometry: StftGeometry) -> None:
        self.geometry = geometry
        self.params = kernel_params(self.settings, self.rt60_s, geometry.sample_rate, geometry.hop_length)
        self.preroll_frames = int(math.ceil(PREROLL_TIME_MS / 1000.0 * geometry.frame_rate)) + self.params.delay_frames
        self.reset(first_frame=0)

    def reset(self, *, first_frame: int) -> None:
        g = self.geometry
        if g is None:
            return
        self._psd = np.zeros((g.channels, g.bins), np.float64)
        self._ring = np.zeros((g.channels, self.params.delay_frames, g.bins), np.float64)
        self._gsm = np.ones((g.channels, g.bins), np.float64)
        self._next = first_frame

    def process_frames(self, frames: FrameBlock) -> None:
        gain = late_reverb_gains(frames.spectra, frames.first_frame, self.params, self._psd, self._ring, self._gsm)
        frames.apply_gain(gain, self.mix)

    def describe(self) -> dict:
        out = super().describe()
        out["rt60_s"] = self.rt60_s
        return out


class Dereverberator(Processor):
    """Stage kind ``dereverb``: late-reverb suppression in an STFT of its own (latency ``n_fft``).

    With ``amount_percent`` 0, or no decay time (none set, none found), it is a passthrough of
    latency 0 that returns its input untouched.
    """

    def __init__(self, settings: DereverbSettings = DereverbSettings(), *, rt60_s: float | None = None) -> None:
        self.settings = settings
        self.rt60_s = settings.rt60_s or rt60_s
        if settings.amount_percent == 0.0 or not self.rt60_s:
            self._inner: Processor = Identity()
        else:
            suppressor = LateReverbSuppressor(settings, self.rt60_s)
            self._inner = StftProcessor([suppressor], settings=StftSettings(),
                                        max_total_reduction_db=settings.max_suppression_db)

    @property
    def active(self) -> bool:
        return not isinstance(self._inner, Identity)

    @property
    def latency(self) -> int:
        return self._inner.latency

    @property
    def alignment(self) -> int:
        return self._inner.alignment

    @property
    def preroll(self) -> int:
        return self._inner.preroll

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        self._inner.prepare(spec)

    def reset(self, *, position: int = 0) -> None:
        self._inner.reset(position=position)

    def process(self, block: np.ndarray) -> np.ndarray:
        self._require_spec()
        return self._inner.process(block)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    def describe(self) -> dict:
        from dataclasses import asdict

        return {"type": "Dereverberator", "settings": asdict(self.settings), "rt60_s": self.rt60_s,
                "active": self.active, "inner": self._inner.describe()}


# -- the decay-time analysis -------------------------------------------------------------------------
@dataclass(frozen=True)
class RoomDecayEstimate:
    """The room's decay time found in a recording (whole-file knowledge: data)."""

    rt60_s: float | None  # None: too few free decays to tell
    raw_rt60_s: float | None  # before calibration
    band_rt60_s: tuple[float, ...]  # per octave band (NaN where a band had too few decays)
    bands_hz: tuple[float, ...]
    decays: int  # free decays found (all bands)
    analysed_s: float
    method: str = "free decays after speech offsets"

    def summary(self) -> dict:
        return {
            "rt60_s": None if self.rt60_s is None else round(self.rt60_s, 3),
            "raw_rt60_s": None if self.raw_rt60_s is None else round(self.raw_rt60_s, 3),
            "band_rt60_s": {f"{int(f)} Hz": (None if not math.isfinite(t) else round(t, 3))
                            for f, t in zip(self.bands_hz, self.band_rt60_s, strict=True)},
            "decays": self.decays, "analysed_s": round(self.analysed_s, 2), "method": self.method,
        }

    def describe(self) -> str:
        if self.rt60_s is None:
            return f"room decay: not found ({self.decays} free decays in {self.analysed_s:.0f} s)"
        return f"room decay RT60 {self.rt60_s:.2f} s (from {self.decays} free decays in {self.analysed_s:.0f} s)"


def envelope_geometry(sample_rate: int) -> tuple[int, int]:
    """``(n_fft, hop)`` of the decay analysis: about 21 ms frames, a quarter hop."""
    n_fft = int(2 ** round(math.log2(0.0213 * sample_rate)))
    return n_fft, n_fft // 4


def band_levels(source: Any, *, analysis_s: float = 300.0, block_s: float = 10.0) -> tuple[np.ndarray, tuple[float, ...], float, float]:
    """Octave-band levels (dB) of the first ``analysis_s`` seconds: ``(levels (frames, bands), centres, frame_s, seconds)``.

    Streams the source in blocks of ``block_s``; channels are averaged in power.
    """
    sr = int(source.sample_rate)
    n_fft, hop = envelope_geometry(sr)
    total = min(int(source.frames), int(analysis_s * sr))
    centres = tuple(f for f in OCTAVE_CENTRES_HZ if f * math.sqrt(2.0) < 0.45 * sr)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    masks = np.stack([(freqs >= f / math.sqrt(2.0)) & (freqs < f * math.sqrt(2.0)) for f in centres], axis=1).astype(np.float64)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    out: list[np.ndarray] = []
    step = max(hop, int(block_s * sr) // hop * hop)
    tail = np.zeros((int(source.channels), 0), np.float32)
    pos = 0
    while pos < total:
        n = min(step, total - pos)
        x = np.concatenate([tail, np.asarray(source.read(pos, n), np.float32)], axis=1)
        pos += n
        k_n = 0 if x.shape[1] < n_fft else (x.shape[1] - n_fft) // hop + 1
        if k_n:
            idx = np.arange(n_fft)[None, :] + hop * np.arange(k_n)[:, None]
            frames = x[:, idx] * window  # (channels, frames, n_fft)
            spec = scipy.fft.rfft(frames, axis=-1)
            power = np.mean(spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2, axis=0)
            out.append(10.0 * np.log10(power @ masks + 1e-20))
            tail = x[:, k_n * hop :]
        else:
            tail = x
    levels = np.concatenate(out, axis=0) if out else np.zeros((0, len(centres)))
    return levels, centres, hop / sr, total / sr


def free_decays(level_db: np.ndarray, frame_s: float) -> list[tuple[int, int, float]]:
    """Free decays in one band's level track: ``(first frame, end frame, slope dB/s)`` each."""
    smooth_n = max(1, int(round(ENVELOPE_SMOOTH_MS / 1000.0 / frame_s)))
    if level_db.size < smooth_n + 2:
        return []
    env = np.convolve(level_db, np.ones(smooth_n) / smooth_n, mode="valid")
    floor = float(np.percentile(env, FLOOR_PERCENTILE))
    falling = np.zeros(env.size, bool)
    falling[1:] = (env[1:] < env[:-1]) & (env[1:] > floor + FLOOR_MARGIN_DB)
    # runs of falling frames, each with the frame before it (the decay's start)
    edges = np.diff(np.concatenate([[0], falling.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1) - 1, np.flatnonzero(edges == -1)
    min_len = max(3, int(math.ceil(MIN_DECAY_MS / 1000.0 / frame_s)))
    out = []
    for a, b in zip(starts, ends, strict=True):
        # skip the offset's own fast drop: fit from SKIP_DB under the decay's start
        below = np.flatnonzero(env[a:b] <= env[a] - SKIP_DB)
        if not below.size:
            continue
        a2 = a + int(below[0])
        if b - a2 < min_len or env[a2] - env[b - 1] < MIN_DROP_DB:
            continue
        t = np.arange(b - a2) * frame_s
        slope = float(np.polyfit(t, env[a2:b], 1)[0])
        if slope < 0.0:
            out.append((int(a2), int(b), slope))
    return out


def estimate_rt60(source: Any, settings: DereverbSettings = DereverbSettings()) -> RoomDecayEstimate:
    """Blind RT60 of the room ``source`` was recorded in (module docstring), read in blocks."""
    levels, centres, frame_s, seconds = band_levels(source, analysis_s=settings.analysis_s)
    band_t, count = [], 0
    for j in range(len(centres)):
        decays = free_decays(levels[:, j], frame_s)
        count += len(decays)
        ts = np.array([-60.0 / s for _, _, s in decays])
        band_t.append(float(np.percentile(ts, DECAY_PERCENTILE)) if ts.size >= MIN_DECAYS else math.nan)
    finite = [t for t in band_t if math.isfinite(t)]
    raw = float(np.median(finite)) if finite else None
    rt60 = None
    if raw is not None:
        a, b = RT60_CALIBRATION
        rt60 = float(np.clip(a * raw + b, *RT60_RANGE_S))
    return RoomDecayEstimate(rt60, raw, tuple(band_t), centres, count, seconds)


def _analyse(source: Any, settings: DereverbSettings, context: BuildContext) -> BuildContext:
    if settings.rt60_s:
        extras = {RT60_KEY: settings.rt60_s, ESTIMATE_KEY: {"rt60_s": settings.rt60_s, "method": "set by hand"}}
    elif settings.amount_percent == 0.0:
        return context  # a bypass needs no analysis
    else:
        est = estimate_rt60(source, settings)
        extras = {RT60_KEY: est.rt60_s, ESTIMATE_KEY: est}
    return replace(context, extras={**context.extras, **extras})


def _factory(settings: DereverbSettings, context: BuildContext) -> Dereverberator:
    return Dereverberator(settings, rt60_s=context.extras.get(RT60_KEY))


DEREVERB = register(StageKind(
    name="dereverb", label="De-reverb", settings_cls=DereverbSettings, domain="time", factory=_factory,
    description="Takes the room's late reverberation down (statistical late-reverb estimate from the room's "
    "decay time, capped, smoothed gains)",
    needs_profile=False, role="repair", analyse=_analyse, placement=20,
))
