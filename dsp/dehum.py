"""De-hum: find mains hum (50 or 60 Hz and its harmonics) and remove it with narrow notches.

Algorithm
---------
Detection (:func:`detect_hum`, the stage's ``analyse`` hook) streams over the first
``analysis_s`` seconds of the source (each sample read once) and averages its power spectrum
(Welch: Hann frames of about 2 s, half overlap, channels averaged), so the resolution is about 0.5 Hz. For each
family (50 and 60 Hz) and each harmonic ``h`` up to ``max_frequency_hz`` it looks for the
strongest bin within ``tolerance_percent`` of ``h * base``, refines the peak frequency by
parabolic interpolation, and measures its *prominence*: the peak power over the median power
of the surrounding 8-40 Hz. A harmonic is present when its prominence exceeds
``threshold_db``; a family is hum when one of its first three harmonics stands out by
``confirm_db`` and the harmonics found agree on one fundamental (within 0.1 %). Mains
hum is a set of steady lines, so a long average makes them stand out while speech partials,
which move, smear out.

Removal (:class:`Dehummer`, stage kind ``dehum``, a time-domain processor) subtracts narrow
band-pass (peak) filters tuned to the measured harmonic frequencies from the signal:
``y = x - depth * sum_k peak_k(x)``. Each peak filter has unity gain and zero phase at its centre
and a -3 dB width of ``bandwidth_hz``, so ``x - peak_k(x)`` is exactly the matching notch; the
parallel form lets the harmonics run side by side (vectorised) in one pass over the samples.
Only the harmonics found are notched; with no hum found the stage is an exact passthrough.

*Start.* Filters started from rest let the hum through while they settle: about 0.3 s of hum at
a 2 Hz bandwidth, 15-25 dB over what stays after, at the start of every render. So detection
also fits each harmonic's complex amplitude at the first sample (least squares over the first
``START_FIT_S``, :func:`start_phasors`), and a reset at sample 0 starts the filters in the
steady state that hum would have put them in (closed form, :func:`steady_state`): the first
100 ms are as clean as the rest. Resets anywhere else start from rest (a playhead has real history).

Units: frequencies in Hz; prominence in dB; state in float64; latency 0. The filters are IIR:
``preroll`` covers the time their memory takes to fall below 1e-7 (about 16 time constants
``sample_rate / (pi * bandwidth_hz)``), so a render from a playhead matches a full render to
float32 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft
import scipy.signal

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting

#: The mains frequencies ``mains_hz`` takes, with the words a user reads for each (a choice, not a range).
MAINS_HZ_CHOICES = {0.0: "Detect (50 or 60 Hz)", 50.0: "50 Hz", 60.0: "60 Hz"}


@dataclass(frozen=True)
class DehumSettings:
    """Mains hum detection and removal (each field's range and meaning in its schema)."""

    mains_hz: float = setting(0.0, choices=tuple(MAINS_HZ_CHOICES), labels=tuple(MAINS_HZ_CHOICES.values()),
                              unit="Hz", doc="Mains frequency: detect 50 or 60 Hz, or look only for one family.")
    max_frequency_hz: float = setting(2000.0, lo=60.0, hi=20000.0, unit="Hz",
                                      doc="Highest harmonic frequency looked at and removed.")
    threshold_db: float = setting(10.0, lo=0.0, hi=60.0, unit="dB",
                                  doc="A harmonic is present when it stands this far above its surroundings.")
    confirm_db: float = setting(20.0, lo=0.0, hi=80.0, unit="dB",
                                doc="It is only hum when one of the first three harmonics stands this far out.")
    min_harmonics: int = setting(1, lo=1, hi=20, doc="How many harmonics must be present to call it hum.")
    tolerance_percent: float = setting(0.4, lo=0.0, hi=5.0, unit="%",
                                       doc="How far a harmonic may sit from its nominal frequency (mains drift).")
    bandwidth_hz: float = setting(2.0, lo=0.2, hi=20.0, unit="Hz", doc="-3 dB width of each notch.")
    depth: float = setting(1.0, lo=0.0, hi=1.0, doc="1 removes the hum lines fully, 0 leaves them (a blend).")
    analysis_s: float = setting(120.0, lo=1.0, hi=36000.0, unit="s",
                                doc="Detection reads at most this many seconds from the start of the source.")

    def __post_init__(self) -> None:
        check_settings(self, "dehum")
        if not self.threshold_db <= self.confirm_db:
            raise ParameterError(f"dehum.confirm_db must be at least threshold_db ({self.threshold_db} dB), "
                                 f"got {self.confirm_db}")


@dataclass(frozen=True)
class HumEstimate:
    """Mains hum found in a recording (whole-file knowledge: data, not processor state)."""

    mains_hz: float  # nominal family: 50.0 or 60.0
    fundamental_hz: float  # measured fundamental (refined from the harmonics found)
    harmonics: tuple[int, ...]  # harmonic numbers present (1 = fundamental)
    frequencies_hz: tuple[float, ...]  # measured frequency of each present harmonic
    prominence_db: tuple[float, ...]  # how far each stands above its surroundings
    sample_rate: int
    analysed_s: float
    #: Each harmonic's complex amplitude at the first sample, per channel: ``(re, im)`` pairs in
    #: ``frequencies_hz`` order, fitted over the first ``START_FIT_S`` (empty: not fitted). The notch
    #: filters start in the steady state for this hum, so a render from the file's start has no
    #: burst of hum while they would otherwise settle.
    start_phasors: tuple[tuple[float, ...], ...] = ()

    def for_channel(self, channel: int) -> HumEstimate:
        """This estimate for channel ``channel`` rendered on its own (its own start fit)."""
        return replace(self, start_phasors=self.start_phasors[channel : channel + 1])

    def summary(self) -> str:
        hs = ", ".join(f"{h}x ({p:.0f} dB)" for h, p in zip(self.harmonics, self.prominence_db, strict=True))
        return f"mains hum at {self.fundamental_hz:.2f} Hz ({self.mains_hz:.0f} Hz family): harmonics {hs}"

    def to_dict(self) -> dict:
        return {
            "mains_hz": self.mains_hz, "fundamental_hz": self.fundamental_hz, "harmonics": list(self.harmonics),
            "frequencies_hz": list(self.frequencies_hz), "prominence_db": list(self.prominence_db),
            "sample_rate": self.sample_rate, "analysed_s": self.analysed_s,
            "start_phasors": [list(c) for c in self.start_phasors],
        }

    @classmethod
    def from_dict(cls, d: dict) -> HumEstimate:
        return cls(
            float(d["mains_hz"]), float(d["fundamental_hz"]), tuple(int(h) for h in d["harmonics"]),
            tuple(float(f) for f in d["frequencies_hz"]), tuple(float(p) for p in d["prominence_db"]),
            int(d["sample_rate"]), float(d.get("analysed_s", 0.0)),
            tuple(tuple(float(v) for v in c) for c in d.get("start_phasors", ())),
        )


def long_term_spectrum(source, *, analysis_s: float = 120.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Welch power spectrum of the first ``analysis_s`` seconds: ``(frequencies_hz, power, seconds)``."""
    sr = int(source.sample_rate)
    n_fft = 1 << int(math.ceil(math.log2(2.0 * sr)))  # >= 2 s: about 0.5 Hz resolution or finer
    hop = n_fft // 2
    total = min(int(source.frames), int(analysis_s * sr))
    window = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    acc = np.zeros(n_fft // 2 + 1, np.float64)
    count = 0
    if total < n_fft:
        # Short file: one zero-padded frame.
        x = np.zeros((source.channels, n_fft), np.float32)
        x[:, :total] = source.read(0, total)
        spec = scipy.fft.rfft(x * window, axis=-1)
        acc += np.mean(np.abs(spec) ** 2, axis=0)
        count = 1
    else:
        # Each half-frame is read (decoded) once and kept for the next, overlapping frame.
        pos = 0
        prev = np.asarray(source.read(0, hop), np.float32)
        while pos + n_fft <= total:
            nxt = np.asarray(source.read(pos + hop, hop), np.float32)
            x = np.concatenate([prev, nxt], axis=1)
            spec = scipy.fft.rfft(x * window, axis=-1)
            acc += np.mean(spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2, axis=0)
            count += 1
            pos += hop
            prev = nxt
    return np.arange(n_fft // 2 + 1) * (sr / n_fft), acc / count, total / sr


def _family(freqs, power, base, settings: DehumSettings):
    df = freqs[1] - freqs[0]
    found = []
    nyq = freqs[-1]
    h = 1
    while h * base <= min(settings.max_frequency_hz, nyq - 50.0):
        f_nom = h * base
        tol = max(f_nom * settings.tolerance_percent / 100.0, 1.5 * df)
        lo, hi = int(math.floor((f_nom - tol) / df)), int(math.ceil((f_nom + tol) / df))
        lo, hi = max(lo, 1), min(hi, len(power) - 2)
        if hi <= lo:
            break
        k = lo + int(np.argmax(power[lo : hi + 1]))
        # parabolic interpolation on log power
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-30)
        denom = a - 2 * b + c
        delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
        f_peak = (k + float(np.clip(delta, -0.5, 0.5))) * df
        ring = (np.abs(freqs - f_nom) >= 8.0) & (np.abs(freqs - f_nom) <= 40.0)
        floor = float(np.median(power[ring])) if np.any(ring) else 1e-30
        prom = 10.0 * math.log10(max(power[k], 1e-30) / max(floor, 1e-30))
        if prom >= settings.threshold_db:
            found.append((h, f_peak, prom))
        h += 1
    return found


def detect_hum(source, settings: DehumSettings = DehumSettings()) -> HumEstimate | None:
    """Look for mains hum in ``source`` (a BlockSource, read in blocks). ``None`` when there is none."""
    freqs, power, seconds = long_term_spectrum(source, analysis_s=settings.analysis_s)
    if not np.any(power > 0):
        return None
    bases = [settings.mains_hz] if settings.mains_hz else [50.0, 60.0]
    best = None
    for base in bases:
        found = _family(freqs, power, base, settings)
        if len(found) < settings.min_harmonics or not any(h <= 3 and p >= settings.confirm_db for h, _, p in found):
            continue
        score = sum(p for _, _, p in found)
        if best is None or score > best[0]:
            best = (score, base, found)
    if best is None:
        return None
    _, base, found = best
    # Mains harmonics sit at exact multiples of one fundamental: keep those that agree with the
    # median fundamental (within 0.1 %), and ask for a low harmonic (1-3), which real hum has.
    f0s = np.array([f / h for h, f, _ in found])
    med = float(np.median(f0s))
    found = [item for item, f0 in zip(found, f0s, strict=True) if abs(f0 - med) <= 1e-3 * med]
    if len(found) < settings.min_harmonics or not any(h <= 3 and p >= settings.confirm_db for h, _, p in found):
        return None
    weights = np.array([p for _, _, p in found])
    f0 = float(np.sum(weights * np.array([f / h for h, f, _ in found])) / np.sum(weights))
    frequencies = tuple(round(f, 4) for _, f, _ in found)
    return HumEstimate(
        mains_hz=base, fundamental_hz=round(f0, 4), harmonics=tuple(h for h, _, _ in found),
        frequencies_hz=frequencies, prominence_db=tuple(round(p, 2) for _, _, p in found),
        sample_rate=int(source.sample_rate), analysed_s=round(seconds, 3),
        start_phasors=start_phasors(source, frequencies),
    )


#: Length of the file's start over which :func:`start_phasors` fits the hum (s). Short, so that a
#: small error in the measured frequency turns into little phase error at the first sample.
START_FIT_S = 0.5
#: Shorter starts are not fitted (too few cycles to tell the harmonics apart).
MIN_START_FIT_S = 0.1


def start_phasors(source, frequencies_hz, *, fit_s: float = START_FIT_S) -> tuple[tuple[float, ...], ...]:
    """Least-squares complex amplitude of each hum harmonic at the source's first sample, per channel.

    Fits ``x[n] = sum_k Re(A_k exp(i w_k n))`` to the first ``fit_s`` seconds (every harmonic at
    once; speech there only adds a small bias). Returns ``(re_1, im_1, re_2, im_2, ...)`` per
    channel, or ``()`` when the source is shorter than :data:`MIN_START_FIT_S`.
    """
    sr = int(source.sample_rate)
    n = min(int(source.frames), int(round(fit_s * sr)))
    if n < MIN_START_FIT_S * sr or not len(frequencies_hz):
        return ()
    x = np.asarray(source.read(0, n), np.float64)
    t = np.arange(n, dtype=np.float64)
    w = 2.0 * np.pi * np.asarray(frequencies_hz, np.float64) / sr
    # Re(A e^{iwt}) = re * cos(wt) - im * sin(wt)
    basis = np.concatenate([np.cos(np.outer(t, w)), -np.sin(np.outer(t, w))], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x.T, rcond=None)  # (2K, channels)
    k = len(w)
    pairs = np.stack([coef[:k], coef[k:]], axis=1)  # (K, 2, channels): (re, im) per harmonic
    return tuple(tuple(round(float(v), 9) for v in pairs[:, :, c].ravel()) for c in range(x.shape[0]))


#: The notch bank is padded to a multiple of this many filters (zero filters are exact no-ops):
#: the kernel runs the filters four at a time with their state in registers, so the four
#: recursions overlap in the CPU's pipeline, and the sum has a fixed order.
LANES = 4


@realtime_kernel
def _parallel_peaks(x, b0, a1, a2, z1, z2, acc):  # pragma: no cover - compiled
    """``acc = sum_k peak_k(x)`` (the wrapper returns ``x - depth * acc``).

    peak_k: b = (b0, 0, -b0), a = (1, a1, a2), transposed direct form II, float64 state.
    ``acc`` ``(channels, samples)`` float64 is zeroed here; K is a multiple of 4.
    """
    c_n, n_n = x.shape
    k_n = b0.shape[0]
    for c in range(c_n):
        row = acc[c]
        xr = x[c]
        for n in range(n_n):
            row[n] = 0.0
        for g in range(0, k_n, 4):
            p0, p1, p2, p3 = b0[g], b0[g + 1], b0[g + 2], b0[g + 3]
            q0, q1, q2, q3 = a1[g], a1[g + 1], a1[g + 2], a1[g + 3]
            r0, r1, r2, r3 = a2[g], a2[g + 1], a2[g + 2], a2[g + 3]
            u0, u1, u2, u3 = z1[c, g], z1[c, g + 1], z1[c, g + 2], z1[c, g + 3]
            v0, v1, v2, v3 = z2[c, g], z2[c, g + 1], z2[c, g + 2], z2[c, g + 3]
            for n in range(n_n):
                xn = np.float64(xr[n])
                y0 = p0 * xn + u0
                y1 = p1 * xn + u1
                y2 = p2 * xn + u2
                y3 = p3 * xn + u3
                u0 = v0 - q0 * y0
                u1 = v1 - q1 * y1
                u2 = v2 - q2 * y2
                u3 = v3 - q3 * y3
                v0 = -p0 * xn - r0 * y0
                v1 = -p1 * xn - r1 * y1
                v2 = -p2 * xn - r2 * y2
                v3 = -p3 * xn - r3 * y3
                row[n] += (y0 + y1) + (y2 + y3)
            z1[c, g], z1[c, g + 1], z1[c, g + 2], z1[c, g + 3] = u0, u1, u2, u3
            z2[c, g], z2[c, g + 1], z2[c, g + 2], z2[c, g + 3] = v0, v1, v2, v3


def notchable(frequencies_hz, bandwidth_hz: float, sample_rate: int) -> list[int]:
    """Indices of the frequencies a notch can sit at: above 0 and a bandwidth below Nyquist."""
    return [i for i, f in enumerate(frequencies_hz) if 0 < f < sample_rate / 2 - bandwidth_hz]


def notch_bank(frequencies_hz, bandwidth_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peak-filter coefficients ``(b0, a1, a2)`` (float64) for each :func:`notchable` frequency."""
    freqs = [frequencies_hz[i] for i in notchable(frequencies_hz, bandwidth_hz, sample_rate)]
    n = -(-len(freqs) // LANES) * LANES
    b0, a1, a2 = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, f in enumerate(freqs):
        b, a = scipy.signal.iirpeak(f, f / bandwidth_hz, fs=sample_rate)
        b0[i], a1[i], a2[i] = b[0], a[1], a[2]
    return b0, a1, a2


def steady_state(b0: np.ndarray, a1: np.ndarray, a2: np.ndarray, w: np.ndarray, amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """State ``(z1, z2)`` ``(channels, filters)`` of the peak-filter bank just before sample 0 when
    its input has always been ``x[n] = sum_j Re(amps[c, j] * exp(1j * w[j] * n))``.

    In steady state filter ``k`` answers each line with ``H_k(w_j)`` times it, so its output at
    samples -1 and -2 is known in closed form, and the transposed direct form II state follows
    from the last two samples: ``z2 = -b0 x[-1] - a2 y[-1]`` and
    ``z1 = -b0 x[-2] - a2 y[-2] - a1 y[-1]`` (``b = (b0, 0, -b0)``).
    """
    b0, a1, a2 = (np.asarray(v, np.float64)[:, None] for v in (b0, a1, a2))  # (K, 1)
    e1, e2 = np.exp(-1j * w)[None, :], np.exp(-2j * w)[None, :]  # (1, J)
    h = b0 * (1.0 - e2) / (1.0 + a1 * e1 + a2 * e2)  # (K, J)
    amps = np.asarray(amps, np.complex128)  # (C, J)
    x1, x2 = (np.real(amps * np.exp(1j * w * n)).sum(axis=1)[:, None] for n in (-1, -2))  # (C, 1)
    y1, y2 = (np.real(h[None] * (amps * np.exp(1j * w * n))[:, None, :]).sum(axis=2) for n in (-1, -2))  # (C, K)
    z2 = -b0.T * x1 - a2.T * y1
    z1 = -b0.T * x2 - a2.T * y2 - a1.T * y1
    return np.ascontiguousarray(z1), np.ascontiguousarray(z2)


def apply_notches(x: np.ndarray, b0: np.ndarray, a1: np.ndarray, a2: np.ndarray, z1: np.ndarray, z2: np.ndarray,
                  depth: float) -> np.ndarray:
    """Validate and run the parallel notch kernel on ``x`` ``(channels, samples)`` float32 (state updated)."""
    if x.ndim != 2 or x.dtype != np.float32:
        raise ParameterError(f"expected float32 (channels, samples), got {x.dtype} {x.shape}")
    if not (b0.shape == a1.shape == a2.shape) or z1.shape != (x.shape[0], b0.shape[0]) or z2.shape != z1.shape:
        raise ParameterError("notch coefficients and state do not match")
    if b0.shape[0] % LANES:
        raise ParameterError(f"the notch bank must hold a multiple of {LANES} filters (pad with zeros)")
    x = np.ascontiguousarray(x)
    acc = np.empty(x.shape, np.float64)
    out = np.empty(x.shape, np.float32)
    _parallel_peaks(x, b0, a1, a2, z1, z2, acc)
    _subtract(x, acc, np.float64(depth), out)
    return out


@realtime_kernel
def _subtract(x, acc, depth, out):  # pragma: no cover - compiled
    """``out = float32(x - depth * acc)`` in one pass (numpy would make three temporaries)."""
    c_n, n_n = x.shape
    for c in range(c_n):
        xr = x[c]
        ar = acc[c]
        orow = out[c]
        for n in range(n_n):
            orow[n] = np.float32(np.float64(xr[n]) - depth * ar[n])


class Dehummer(Processor):
    """Removes the hum harmonics in ``hum`` with narrow notches (stage kind ``dehum``).

    ``hum`` None (nothing detected, or no analysis run) makes it an exact passthrough.
    """

    def __init__(self, settings: DehumSettings = DehumSettings(), *, hum: HumEstimate | None = None) -> None:
        self.settings = settings
        self.hum = hum
        self._b0 = np.zeros(0)
        self._preroll = 0
        self._start_state: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def preroll(self) -> int:
        return self._preroll

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        freqs = () if self.hum is None else self.hum.frequencies_hz
        kept = [i for i in notchable(freqs, self.settings.bandwidth_hz, spec.sample_rate)
                if freqs[i] <= self.settings.max_frequency_hz]
        self._b0, self._a1, self._a2 = notch_bank([freqs[i] for i in kept], self.settings.bandwidth_hz, spec.sample_rate)
        if self._b0.size:
            r = math.sqrt(max(float(np.max(self._a2)), 1e-12))
            tau = -1.0 / math.log(min(r, 1.0 - 1e-12))
            self._preroll = int(math.ceil(tau * math.log(1e7)))
        else:
            self._preroll = 0
        self._start_state = self._steady_start(kept, spec)
        self.reset()

    def _steady_start(self, kept: list[int], spec: AudioSpec) -> tuple[np.ndarray, np.ndarray] | None:
        """The filters' state at the first sample had the fitted hum always been there (``None``
        when there is no fit for this rate and channel count); see :func:`steady_state`."""
        hum = self.hum
        if (not kept or hum is None or not hum.start_phasors or hum.sample_rate != spec.sample_rate
                or len(hum.start_phasors) != spec.channels):
            return None
        w = 2.0 * np.pi * np.array([hum.frequencies_hz[i] for i in kept]) / spec.sample_rate
        amps = np.array([[complex(ph[2 * i], ph[2 * i + 1]) for i in kept] for ph in hum.start_phasors])
        return steady_state(self._b0, self._a1, self._a2, w, amps)

    def reset(self, *, position: int = 0) -> None:
        channels = self.spec.channels if self.spec else 1
        if position == 0 and self._start_state is not None:
            self._z1, self._z2 = self._start_state[0].copy(), self._start_state[1].copy()
        else:
            self._z1 = np.zeros((channels, self._b0.size), np.float64)
            self._z2 = np.zeros((channels, self._b0.size), np.float64)

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        if self._b0.size == 0 or self.settings.depth == 0.0:
            return block
        block = check_block(block, spec.channels)
        return apply_notches(block, self._b0, self._a1, self._a2, self._z1, self._z2, self.settings.depth)

    def describe(self) -> dict:
        from dataclasses import asdict

        return {"type": "Dehummer", "settings": asdict(self.settings),
                "hum": None if self.hum is None else self.hum.to_dict()}


def _analyse(source, settings: DehumSettings, context: BuildContext) -> BuildContext:
    return replace(context, hum=detect_hum(source, settings))


def _factory(settings: DehumSettings, context: BuildContext) -> Dehummer:
    return Dehummer(settings, hum=context.hum)


DEHUM = register(StageKind(
    name="dehum", label="De-hum", settings_cls=DehumSettings, domain="time", factory=_factory,
    description="Finds mains hum (50/60 Hz and harmonics) and removes it with narrow notches, only where present",
    needs_profile=False, role="pass", analyse=_analyse, placement=10,
))
