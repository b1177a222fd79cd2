"""Light denoising passes that run inside the STFT engine: a profile gate and an adaptive MMSE pass.

Algorithm
---------
Every pass computes a real gain per bin and frame, and applies it with
:meth:`dsp.stft.FrameBlock.apply_gain` (blended by the stage's own ``mix``, clamped by the
chain's total reduction cap). Each pass has its own floor, ``max_reduction_db`` (6 dB by
default): several mild passes with different estimators sound cleaner than one heavy pass.

``gate`` (:class:`SpectralGate`) - a soft spectral gate against the learned room tone.
    The noise in the current spectra is the profile's mean power times the square of the gain
    earlier passes already applied (``frames.gain``), times ``over_subtraction_db``. The a
    priori SNR is estimated decision-directed (Ephraim & Malah 1984):
    ``xi = a * G_prev**2 * gamma_prev + (1 - a) * max(gamma - 1, 0)``, and the gain is a
    Wiener gain raised to ``gain_exponent`` (0.5: power subtraction, gentler than Wiener).

``mmse`` (:class:`MmseDenoiser`) - adaptive noise tracking with MMSE log-spectral-amplitude gains.
    Noise power is tracked on the *input* spectra (``frames.original``, so earlier passes do not
    disturb it) with the speech-presence-probability estimator of Gerkmann & Hendriks (IEEE
    TASLP 2012, "Unbiased MMSE-based noise power estimation with low complexity"): a fixed
    prior SNR under speech presence (``speech_prior_snr_db``), a smoothed presence probability
    guarding against stagnation, and recursive averaging (``noise_tracking_ms``). It starts from
    the room-tone profile when there is one (and then never rises more than ``max_noise_rise_db``
    above it, so a held tone is not mistaken for noise) and from the first frame otherwise. The gain is the
    Ephraim-Malah log-spectral-amplitude estimator (1985),
    ``G = xi / (1 + xi) * exp(E1(v) / 2)``, ``v = xi * gamma / (1 + xi)``, with ``exp(E1/2)``
    read from a table indexed by ``sqrt(v)``.

Both passes smooth the estimator's gain across frequency (a box of ``frequency_smoothing_hz``;
0 keeps it per bin), except that a bin whose own a priori SNR exceeds ``keep_snr_db`` lends its
own gain to itself and the two bins on each side (the window's main lobe), so a tone or a speech
harmonic is not dulled by the quieter bins beside it.

Speech presence (``speech_presence``, on by default) then separates the two jobs. The
a posteriori SNR relative to the noise estimate *without* over-subtraction, minus one (an
unbiased instantaneous SNR, 0 on average in steady noise), is smoothed in time (one-pole,
``presence_time_ms``) and over frequency twice: over 3 bins (local) and over a box of
``presence_smoothing_hz`` (global). Each is mapped to [0, 1] by a ramp from
``presence_low_snr_db`` to ``presence_high_snr_db``; the presence ``p`` is their product (times a
frame term when ``frame_presence``: the mean over all bins ramped up to
``frame_presence_snr_db``). The gain is then ``floor + p * (max(G**e, floor) - floor)``
(``e`` = ``speech_gain_exponent``; a linear blend, branch-free and vectorised): where speech is absent every bin gets the same floor gain, so
the residual noise is the input noise scaled (no isolated bins left to sound like musical noise,
without wide gain smoothing), and where speech is present the per-bin gain keeps harmonics and
consonants at their level. The decision-directed memory then holds the estimator's own gain
``G`` (not the floored one, which would bias the a priori SNR of noise up by the floor).

Finally the gain is smoothed in time (one-pole ``attack_ms`` when it rises, ``release_ms`` when
it falls) and floored at ``-max_reduction_db``.

Units: powers are ``|X|**2`` in the engine's units (see :mod:`dsp.roomtone`); SNRs are power
ratios; gains are linear amplitude factors; times in milliseconds are converted to one-pole
coefficients per hop: ``exp(-hop / (ms * sample_rate / 1000))``.

State is per channel and per bin (stereo equals each channel alone); it is recursive, so a render
from a playhead converges to the full render within ``preroll_frames`` (to float rounding for the
gate; to within about 1e-4 of full scale for the MMSE pass, whose noise tracker can keep a longer
memory through speech).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.special

from dsp.chain import BuildContext, StageKind, register
from dsp.errors import NEEDS_PROFILE, ParameterError
from dsp.jit import realtime_kernel
from dsp.presence import frame_presence
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry

_EPS = np.float32(1e-20)

# -- the exp(E1(v)/2) table, indexed by u = sqrt(v) -------------------------------------------------
LSA_TABLE_U_MAX = 6.0
LSA_TABLE_SIZE = 4096


def _lsa_table() -> np.ndarray:
    """``u * exp(E1(u**2) / 2)`` on a uniform grid of ``u`` in ``[0, LSA_TABLE_U_MAX]`` (float32)."""
    u = np.linspace(0.0, LSA_TABLE_U_MAX, LSA_TABLE_SIZE)
    out = np.empty_like(u)
    out[0] = math.exp(-0.5 * np.euler_gamma)  # limit u -> 0 of u * exp(E1(u^2)/2)
    out[1:] = u[1:] * np.exp(0.5 * scipy.special.exp1(u[1:] ** 2))
    return out.astype(np.float32)


LSA_TABLE = _lsa_table()
#: ``LSA_TABLE[i + 1] - LSA_TABLE[i]`` in float32 (the interpolation slope, the same value the kernel
#: would compute; the last entry is never used).
LSA_SLOPE = np.append(LSA_TABLE[1:] - LSA_TABLE[:-1], np.float32(0.0)).astype(np.float32)


def lsa_gain(xi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Exact log-spectral-amplitude gain ``xi/(1+xi) * exp(E1(v)/2)`` (numpy, float64; for tests)."""
    xi = np.asarray(xi, np.float64)
    v = xi * np.asarray(gamma, np.float64) / (1.0 + xi)
    return xi / (1.0 + xi) * np.exp(0.5 * scipy.special.exp1(np.maximum(v, 1e-30)))


def time_coefficient(ms: float, hop_length: int, sample_rate: int) -> float:
    """One-pole smoothing coefficient per hop for a time constant of ``ms`` milliseconds (0 -> none)."""
    if ms <= 0:
        return 0.0
    return math.exp(-hop_length / (ms * 1e-3 * sample_rate))


def smoothing_half_width(hz: float, geometry: StftGeometry) -> int:
    """Half-width in bins of a box ``hz`` wide (0 -> no smoothing)."""
    bin_hz = geometry.sample_rate / geometry.n_fft
    return max(0, int(round(hz / bin_hz / 2.0)))


# -- shared numba pieces ---------------------------------------------------------------------------
# Each frame is handled by short, branch-free loops over the bins so LLVM can vectorise them.
@realtime_kernel
def _box_smooth(raw, box, half):  # pragma: no cover - compiled
    """``box[b]`` = mean of ``raw[b-half : b+half+1]`` (clipped at the edges)."""
    b_n = raw.shape[0]
    if half <= 0:
        for b in range(b_n):
            box[b] = raw[b]
        return
    if b_n <= 2 * half + 1:  # tiny spectra: direct clipped means
        for b in range(b_n):
            lo = max(0, b - half)
            hi = min(b_n, b + half + 1)
            acc = np.float32(0.0)
            for j in range(lo, hi):
                acc += raw[j]
            box[b] = acc / np.float32(hi - lo)
        return
    n = b_n - 2 * half
    mid = box[half : half + n]
    for b in range(n):
        mid[b] = raw[half + b]
    for j in range(1, half + 1):
        lo = raw[half - j : half - j + n]  # slices let LLVM vectorise (no index arithmetic)
        hi = raw[half + j : half + j + n]
        for b in range(n):
            mid[b] += lo[b] + hi[b]
    inv = np.float32(1.0) / np.float32(2 * half + 1)
    for b in range(n):
        mid[b] *= inv
    for b in range(half):
        acc = np.float32(0.0)
        for j in range(0, b + half + 1):
            acc += raw[j]
        box[b] = acc / np.float32(b + half + 1)
        acc = np.float32(0.0)
        for j in range(b_n - 1 - b - half, b_n):
            acc += raw[j]
        box[b_n - 1 - b] = acc / np.float32(b + half + 1)


@realtime_kernel
def _keep(box, raw, xis, keep):  # pragma: no cover - compiled
    """A bin whose a priori SNR is above ``keep`` gives its own gain to itself and the two bins on
    each side (the main lobe of the analysis window), if that is more than the smoothed gain."""
    b_n = box.shape[0]
    count = 0
    for b in range(b_n):  # a vectorised count first: most frames have no such bin
        count += xis[b] > keep
    if count == 0:
        return
    for b in range(b_n):
        if xis[b] > keep:
            g = raw[b]
            for j in range(max(0, b - 2), min(b_n, b + 3)):
                if box[j] < g:
                    box[j] = g


@realtime_kernel
def _hold(box, g_state, gamma, prev_clean, out, attack, release, floor, started):  # pragma: no cover
    """Floor/clip the smoothed gain, attack/release it into ``g_state``, write ``out`` and the DD memory."""
    b_n = box.shape[0]
    one = np.float32(1.0)
    if started:
        att, rel = attack, release
    else:
        att, rel = np.float32(0.0), np.float32(0.0)
    for b in range(b_n):
        target = box[b]
        target = floor if floor > target else target  # max(target, floor), as a select
        target = one if one < target else target  # min(target, one)
        g = g_state[b]
        coef = att if target > g else rel
        g = target + coef * (g - target)
        g_state[b] = g
        out[b] = g
    for b in range(b_n):
        g = out[b]
        prev_clean[b] = gamma[b] * g * g


@realtime_kernel
def _presence(box, xis, zeta, loc, glob, beta, zclip, zlo, inv_span, half_local, half_global,
              floor, use_frame, flo, finv, sexp, unbias, fe):  # pragma: no cover - compiled
    # fe: the speech detector's presence for this frame (1 without a detector), times the frame term
    """Speech presence ``p`` from ``gamma * unbias - 1`` (``xis`` holds the a posteriori SNR here)
    smoothed in time (``zeta``) and over a narrow and a wide band (and the frame), then
    ``box <- floor + p * (max(box**sexp, floor) - floor)``: where speech is absent (p = 0) every bin
    gets the same floor gain."""
    b_n = box.shape[0]
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for b in range(b_n):
        z = xis[b] * unbias - one
        zeta[b] = beta * zeta[b] + (one - beta) * (zclip if zclip < z else z)
    _box_smooth(zeta, loc, half_local)
    _box_smooth(zeta, glob, half_global)
    pf = fe
    if use_frame:
        acc = np.float32(0.0)
        for b in range(b_n):
            acc += zeta[b]
        pf = fe * min(max((acc / np.float32(b_n) - flo) * finv, zero), one)
    for b in range(b_n):
        pl = (loc[b] - zlo) * inv_span
        pl = zero if zero > pl else pl
        pl = one if one < pl else pl
        pg = (glob[b] - zlo) * inv_span
        pg = zero if zero > pg else pg
        pg = one if one < pg else pg
        loc[b] = pl * pg * pf
    if sexp == one:  # branch-free, vectorisable: floor + p * (G - floor)
        for b in range(b_n):
            g = box[b]
            box[b] = floor + loc[b] * ((floor if floor > g else g) - floor)
    else:
        for b in range(b_n):
            g = box[b] ** sexp
            box[b] = floor + loc[b] * ((floor if floor > g else g) - floor)


@realtime_kernel
def _gate_kernel(spectra, gcum, noise, out, prev_clean, g_state, started, gam, xis, raw, box,
                 dd, exponent, half, keep, attack, release, floor,
                 zeta, loc, glob, presence, pbeta, zclip, zlo, inv_span, half_local, half_global,
                 use_frame, flo, finv, sexp, unbias, fext):  # pragma: no cover - compiled
    c_n, k_n, b_n = spectra.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for c in range(c_n):
        pv = prev_clean[c]
        gs = g_state[c]
        for k in range(k_n):
            st = started[c] != 0
            a = dd if st else zero
            sp = spectra[c, k]
            gr = gcum[c, k]
            for b in range(b_n):
                y = sp[b]
                p = y.real * y.real + y.imag * y.imag
                gc = gr[b]
                gam[b] = p / (noise[b] * gc * gc + _EPS)
            for b in range(b_n):
                d = gam[b] - one
                xi = a * pv[b] + (one - a) * (zero if zero > d else d)
                xis[b] = xi
                raw[b] = xi / (one + xi)
            if exponent == np.float32(0.5):
                for b in range(b_n):
                    raw[b] = np.sqrt(raw[b])
            elif exponent != one:
                for b in range(b_n):
                    raw[b] = raw[b] ** exponent
            _box_smooth(raw, box, half)
            _keep(box, raw, xis, keep)
            if presence:
                _presence(box, gam, zeta[c], loc, glob, pbeta if st else np.float32(0.0), zclip,
                          zlo, inv_span, half_local, half_global, floor, use_frame, flo, finv, sexp, unbias, fext[k])
            _hold(box, gs, gam, pv, out[c, k], attack, release, floor, st)
            if presence:  # the DD memory takes the speech gain, not the floored one
                for b in range(b_n):
                    pv[b] = gam[b] * raw[b] * raw[b]
            started[c] = 1


@realtime_kernel
def _mmse_kernel(spectra, original, gcum, init_noise, ceiling, has_init, out, noise_est, spp_avg, prev_clean,
                 g_state, started, gam, xis, raw, box, idx, table, slope, table_step, dd, xi_h1, track, over, xi_min,
                 half, keep, attack, release, floor,
                 zeta, loc, glob, presence, pbeta, zclip, zlo, inv_span, half_local, half_global,
                 use_frame, flo, finv, sexp, unbias, fext):  # pragma: no cover - compiled
    c_n, k_n, b_n = spectra.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    t_last = table.shape[0] - 1
    i_last = np.int32(t_last - 1)
    u_max = table_step * np.float32(t_last)
    inv_step = one / table_step
    e_max = np.float32(24.0)
    p_max = np.float32(0.99)
    post = xi_h1 / (one + xi_h1)
    lead = one + xi_h1
    for c in range(c_n):
        ne = noise_est[c]
        sa = spp_avg[c]
        pv = prev_clean[c]
        gs = g_state[c]
        for k in range(k_n):
            st = started[c] != 0
            so = original[c, k]
            sp = spectra[c, k]
            gr = gcum[c, k]
            if not st:
                for b in range(b_n):
                    yo = so[b]
                    ne[b] = init_noise[b] if has_init else yo.real * yo.real + yo.imag * yo.imag + _EPS
                    sa[b] = np.float32(0.5)
            a = dd if st else zero
            for b in range(b_n):
                yo = so[b]
                raw[b] = yo.real * yo.real + yo.imag * yo.imag  # input power (raw is scratch here)
            for b in range(b_n):
                # -- noise tracking on the input spectra (Gerkmann & Hendriks) --
                po = raw[b]
                sig = ne[b]
                e = po / (sig + _EPS) * post
                e = e_max if e_max < e else e  # min(e, 24): plain selects vectorise, min() does not
                # exp(-e) = (exp(-e/32))**32, the inner one by its 4th-order Taylor series
                x = e * np.float32(1.0 / 32.0)
                q = one - x * (one - x * (np.float32(0.5) - x * (np.float32(1.0 / 6.0) - x * np.float32(1.0 / 24.0))))
                q = q * q
                q = q * q
                q = q * q
                q = q * q
                q = q * q
                p = one / (one + lead * q)
                pa = np.float32(0.9) * sa[b] + np.float32(0.1) * p
                sa[b] = pa
                p = (p_max if p_max < p else p) if pa > p_max else p
                sig = track * sig + (one - track) * ((one - p) * po + p * sig)
                cl = ceiling[b]
                sig = cl if cl < sig else sig
                ne[b] = sig
            # -- decision-directed log-spectral-amplitude gain on the current spectra --
            for b in range(b_n):
                y = sp[b]
                pc = y.real * y.real + y.imag * y.imag
                gc = gr[b]
                gam[b] = pc / (ne[b] * over * gc * gc + _EPS)
            for b in range(b_n):
                d = gam[b] - one
                xi = a * pv[b] + (one - a) * (zero if zero > d else d)
                xis[b] = xi_min if xi_min > xi else xi
            # LSA gain: exp(E1(v)/2) from the table, v = xi/(1+xi) * gamma, u = sqrt(v);
            # w and u go through raw and box (scratch until _box_smooth) so this loop vectorises.
            # The table lookup is split in three so that only the gather itself stays scalar
            # (a loop that stores next to an indexed load cannot be vectorised); loc and glob are
            # scratch here (_presence overwrites them).
            for b in range(b_n):
                w = xis[b] / (one + xis[b])
                raw[b] = w
                u = np.sqrt(w * gam[b])
                u = u_max if u_max < u else u
                box[b] = u
                i = np.int32(u * inv_step)
                idx[b] = i_last if i_last < i else i
            for b in range(b_n):
                i = idx[b]
                loc[b] = table[i]
                glob[b] = slope[i]
            for b in range(b_n):
                w = raw[b]
                u = box[b]
                t = loc[b] + (u * inv_step - np.float32(idx[b])) * glob[b]
                r = w * t / (u + np.float32(1e-12))
                raw[b] = (one if one < r else r) if u < u_max else w
            _box_smooth(raw, box, half)
            _keep(box, raw, xis, keep)
            if presence:
                _presence(box, gam, zeta[c], loc, glob, pbeta if st else np.float32(0.0), zclip,
                          zlo, inv_span, half_local, half_global, floor, use_frame, flo, finv, sexp, unbias, fext[k])
            _hold(box, gs, gam, pv, out[c, k], attack, release, floor, st)
            if presence:  # the DD memory takes the speech gain, not the floored one
                for b in range(b_n):
                    pv[b] = gam[b] * raw[b] * raw[b]
            started[c] = 1


# -- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PassSettings:
    """What the two passes share (declared once; :class:`GateSettings` and :class:`MmseSettings`
    add their estimator's own fields and defaults). Every field's range, unit and meaning is in
    its :func:`~dsp.schema.setting`."""

    max_reduction_db: float = setting(6.0, lo=0.0, hi=40.0, unit="dB",
                                      doc="This pass's cap: it never attenuates a bin by more than this.")
    over_subtraction_db: float = setting(6.0, lo=-20.0, hi=20.0, unit="dB",
                                         doc="The noise estimate is raised by this much before computing gains.")
    snr_smoothing: float = setting(0.96, lo=0.0, hi=1.0, hi_open=True,
                                   doc="Decision-directed weight of the previous frame's clean estimate.")
    attack_ms: float = setting(5.0, lo=0.0, hi=10000.0, unit="ms", doc="How fast the gain rises (opens).")
    release_ms: float = setting(60.0, lo=0.0, hi=10000.0, unit="ms", doc="How fast the gain falls (closes).")
    frequency_smoothing_hz: float = setting(400.0, lo=0.0, hi=10000.0, unit="Hz",
                                            doc="Width of the box that smooths the gain across frequency.")
    keep_snr_db: float = setting(30.0, lo=-60.0, hi=100.0, unit="dB",
                                 doc="A bin with an a priori SNR above this keeps at least its own gain after smoothing.")
    speech_presence: bool = setting(True, doc="Uniform floor gain where speech is absent, per-bin gain where present.")
    presence_low_snr_db: float = setting(-6.0, lo=-30.0, hi=30.0, unit="dB",
                                         doc="Smoothed SNR that maps to speech presence 0.")
    presence_high_snr_db: float = setting(-1.0, lo=-30.0, hi=30.0, unit="dB",
                                          doc="Smoothed SNR that maps to speech presence 1.")
    presence_smoothing_hz: float = setting(250.0, lo=0.0, hi=10000.0, unit="Hz",
                                           doc="Width of the wide band the presence SNR is averaged over.")
    presence_time_ms: float = setting(50.0, lo=0.0, hi=10000.0, unit="ms",
                                      doc="Time constant of the presence SNR's smoothing.")
    frame_presence: bool = setting(False, doc="Also require presence over the whole frame.")
    frame_presence_snr_db: float = setting(-5.0, lo=-30.0, hi=30.0, unit="dB",
                                           doc="Frame-level presence threshold (the ramp starts 5 dB below).")
    speech_gain_exponent: float = setting(1.0, lo=0.0, hi=4.0,
                                          doc="Where speech is present the gain is G to this power (0: unity).")
    preroll_ms: float = setting(500.0, lo=0.0, hi=60000.0, unit="ms",
                                doc="History the state needs to converge (renders started at a playhead).")

    def _check(self, name: str) -> None:
        check_settings(self, name)
        if not self.presence_low_snr_db < self.presence_high_snr_db:
            raise ParameterError(
                f"{name}.presence_low_snr_db must be below presence_high_snr_db, got {self.presence_low_snr_db} "
                f"and {self.presence_high_snr_db}"
            )


@dataclass(frozen=True)
class GateSettings(PassSettings):
    """A soft spectral gate against the room-tone profile (the fields of :class:`PassSettings`,
    plus the Wiener gain's exponent)."""

    gain_exponent: float = setting(0.5, lo=0.1, hi=4.0,
                                   doc="Wiener gain raised to this power (0.5: power subtraction; 1: Wiener).")

    def __post_init__(self) -> None:
        self._check("gate")


@dataclass(frozen=True)
class MmseSettings(PassSettings):
    """Adaptive noise tracking with MMSE log-spectral-amplitude gains (the fields of
    :class:`PassSettings`, plus the noise tracker's)."""

    over_subtraction_db: float = setting(3.0, lo=-20.0, hi=20.0, unit="dB",
                                         doc="The tracked noise is raised by this much before computing gains.")
    snr_smoothing: float = setting(0.98, lo=0.0, hi=1.0, hi_open=True,
                                   doc="Decision-directed weight (0.98 in Ephraim & Malah).")
    preroll_ms: float = setting(2000.0, lo=0.0, hi=60000.0, unit="ms",
                                doc="History the state needs to converge (renders started at a playhead).")
    speech_prior_snr_db: float = setting(15.0, lo=0.0, hi=40.0, unit="dB",
                                         doc="Noise tracker: the a priori SNR assumed when speech is present.")
    noise_tracking_ms: float = setting(70.0, lo=1.0, hi=10000.0, unit="ms",
                                       doc="Noise tracker: time constant of its recursive average.")
    min_prior_snr_db: float = setting(-25.0, lo=-60.0, hi=0.0, unit="dB", doc="Lower bound of the a priori SNR.")
    use_profile: bool = setting(True, doc="Start the noise tracker from the room-tone profile when there is one.")
    max_noise_rise_db: float = setting(12.0, lo=0.0, hi=100.0, unit="dB",
                                       doc="The tracked noise never rises more than this above the profile.")

    def __post_init__(self) -> None:
        self._check("mmse")


def _db_to_amp(db: float) -> np.float32:
    return np.float32(10.0 ** (-db / 20.0))


# -- stages ------------------------------------------------------------------------------------
class _PassBase(SpectralStage):
    """State handling shared by the passes (per-channel, per-bin arrays)."""

    mix: float = 1.0
    settings: GateSettings | MmseSettings

    def _preroll(self, geometry: StftGeometry) -> int:
        return int(math.ceil(self.settings.preroll_ms * 1e-3 * geometry.sample_rate / geometry.hop_length))

    def _timing(self, g: StftGeometry) -> tuple[np.float32, np.float32, int]:
        s = self.settings
        return (
            np.float32(time_coefficient(s.attack_ms, g.hop_length, g.sample_rate)),
            np.float32(time_coefficient(s.release_ms, g.hop_length, g.sample_rate)),
            smoothing_half_width(s.frequency_smoothing_hz, g),
        )

    def _presence_args(self, g: StftGeometry) -> tuple:
        """The presence kernel's constants (see :func:`_presence`)."""
        s = self.settings
        zlo = 10.0 ** (s.presence_low_snr_db / 10.0)
        zhi = 10.0 ** (s.presence_high_snr_db / 10.0)
        fhi = 10.0 ** (s.frame_presence_snr_db / 10.0)
        return (
            bool(s.speech_presence), np.float32(time_coefficient(s.presence_time_ms, g.hop_length, g.sample_rate)),
            np.float32(100.0 * zhi), np.float32(zlo), np.float32(1.0 / (zhi - zlo)), 1,
            smoothing_half_width(s.presence_smoothing_hz, g), bool(s.frame_presence),
            np.float32(fhi * 10.0 ** (-0.5)), np.float32(1.0 / (fhi * (1.0 - 10.0 ** (-0.5)))),
            np.float32(s.speech_gain_exponent), np.float32(10.0 ** (s.over_subtraction_db / 10.0)),
        )

    def _presence_state(self, g: StftGeometry) -> None:
        self._zeta = np.zeros((g.channels, g.bins), np.float32)
        self._loc = np.zeros(g.bins, np.float32)
        self._glob = np.zeros(g.bins, np.float32)

    #: A speech detector's presence per track frame (:mod:`dsp.presence`), whole-file data set
    #: by the factory from ``BuildContext.extras["speech_presence"]``; None: presence 1 everywhere.
    presence_track: np.ndarray | None = None
    presence_frame_s: float = 0.032

    def _fext(self, frames: FrameBlock) -> np.ndarray:
        """The detector's presence at each frame of ``frames`` (ones without a track)."""
        k_n = frames.spectra.shape[1]
        if self.presence_track is None:
            return np.ones(k_n, np.float32)
        g = self._require()
        return frame_presence(self.presence_track, self.presence_frame_s, frames.first_frame, k_n, g.hop_length,
                              g.n_fft, g.sample_rate)

    def _require(self) -> StftGeometry:
        if self.geometry is None:
            raise RuntimeError(f"{type(self).__name__}.prepare(geometry) must be called first")
        return self.geometry


class SpectralGate(_PassBase):
    """Profile-driven soft spectral gate (stage kind ``gate``); see the module header."""

    settings: GateSettings

    def __init__(self, settings: GateSettings = GateSettings(), *, profile=None) -> None:
        if profile is None:
            raise ParameterError("the spectral gate needs a room-tone profile", remedy=NEEDS_PROFILE)
        self.settings = settings
        self.profile = profile
        self.mix = 1.0

    def prepare(self, geometry: StftGeometry) -> None:
        prof = self.profile.adapted(geometry.sample_rate, geometry.n_fft, geometry.hop_length)
        over = 10.0 ** (self.settings.over_subtraction_db / 10.0)
        self._noise = np.ascontiguousarray(prof.mean_power * over, np.float32)
        self._attack, self._release, self._half = self._timing(geometry)
        self.preroll_frames = self._preroll(geometry)
        super().prepare(geometry)

    def reset(self, *, first_frame: int) -> None:
        g = self._require()
        self._prev = np.zeros((g.channels, g.bins), np.float32)
        self._g = np.ones((g.channels, g.bins), np.float32)
        self._started = np.zeros(g.channels, np.int64)
        self._gam = np.zeros(g.bins, np.float32)
        self._xis = np.zeros(g.bins, np.float32)
        self._raw = np.zeros(g.bins, np.float32)
        self._box = np.zeros(g.bins, np.float32)
        self._presence_state(g)

    def gains(self, frames: FrameBlock) -> np.ndarray:
        """Compute this pass's gains for ``frames`` (advancing the state) without applying them."""
        s = self.settings
        out = np.empty(frames.spectra.shape, np.float32)
        _gate_kernel(
            frames.spectra, frames.gain, self._noise, out, self._prev, self._g, self._started, self._gam, self._xis,
            self._raw, self._box, np.float32(s.snr_smoothing), np.float32(s.gain_exponent), self._half,
            np.float32(10.0 ** (s.keep_snr_db / 10.0)), self._attack, self._release,
            _db_to_amp(s.max_reduction_db), self._zeta, self._loc, self._glob, *self._presence_args(self._require()),
            self._fext(frames),
        )
        return out

    def process_frames(self, frames: FrameBlock) -> None:
        frames.apply_gain(self.gains(frames), self.mix)


class MmseDenoiser(_PassBase):
    """Adaptive MMSE log-spectral-amplitude pass (stage kind ``mmse``); see the module header."""

    settings: MmseSettings

    def __init__(self, settings: MmseSettings = MmseSettings(), *, profile=None) -> None:
        self.settings = settings
        self.profile = profile
        self.mix = 1.0

    def prepare(self, geometry: StftGeometry) -> None:
        s = self.settings
        if self.profile is not None and s.use_profile:
            prof = self.profile.adapted(geometry.sample_rate, geometry.n_fft, geometry.hop_length)
            self._init = np.ascontiguousarray(prof.mean_power, np.float32)
            self._ceiling = np.ascontiguousarray(prof.mean_power * 10.0 ** (s.max_noise_rise_db / 10.0), np.float32)
            self._has_init = True
        else:
            self._init = np.zeros(geometry.bins, np.float32)
            self._ceiling = np.full(geometry.bins, np.finfo(np.float32).max, np.float32)
            self._has_init = False
        self._track = np.float32(time_coefficient(s.noise_tracking_ms, geometry.hop_length, geometry.sample_rate))
        self._attack, self._release, self._half = self._timing(geometry)
        self.preroll_frames = self._preroll(geometry)
        super().prepare(geometry)

    def reset(self, *, first_frame: int) -> None:
        g = self._require()
        shape = (g.channels, g.bins)
        self._noise = np.zeros(shape, np.float32)
        self._spp = np.zeros(shape, np.float32)

        self._prev = np.zeros(shape, np.float32)
        self._g = np.ones(shape, np.float32)
        self._started = np.zeros(g.channels, np.int64)
        self._gam = np.zeros(g.bins, np.float32)
        self._xis = np.zeros(g.bins, np.float32)
        self._raw = np.zeros(g.bins, np.float32)
        self._box = np.zeros(g.bins, np.float32)
        self._idx = np.zeros(g.bins, np.int32)
        self._presence_state(g)

    def gains(self, frames: FrameBlock) -> np.ndarray:
        """Compute this pass's gains for ``frames`` (advancing the state) without applying them."""
        s = self.settings
        out = np.empty(frames.spectra.shape, np.float32)
        _mmse_kernel(
            frames.spectra, frames.original, frames.gain, self._init, self._ceiling, self._has_init, out, self._noise, self._spp,
            self._prev, self._g, self._started, self._gam, self._xis, self._raw, self._box, self._idx, LSA_TABLE,
            LSA_SLOPE,
            np.float32(LSA_TABLE_U_MAX / (LSA_TABLE_SIZE - 1)), np.float32(s.snr_smoothing),
            np.float32(10.0 ** (s.speech_prior_snr_db / 10.0)), self._track,
            np.float32(10.0 ** (s.over_subtraction_db / 10.0)), np.float32(10.0 ** (s.min_prior_snr_db / 10.0)),
            self._half, np.float32(10.0 ** (s.keep_snr_db / 10.0)), self._attack, self._release,
            _db_to_amp(s.max_reduction_db), self._zeta, self._loc, self._glob, *self._presence_args(self._require()),
            self._fext(frames),
        )
        return out

    def process_frames(self, frames: FrameBlock) -> None:
        frames.apply_gain(self.gains(frames), self.mix)


_Pass = TypeVar("_Pass", bound=_PassBase)


def _with_track(stage: _Pass, context: BuildContext) -> _Pass:
    """Hand the speech detector's presence track (if the chain has one) to a pass."""
    track = context.extras.get("speech_presence")
    if track is not None and stage.settings.speech_presence:
        stage.presence_track, stage.presence_frame_s = track
    return stage


def _gate_factory(settings: GateSettings, context: BuildContext) -> SpectralGate:
    return _with_track(SpectralGate(settings, profile=context.profile), context)


def _mmse_factory(settings: MmseSettings, context: BuildContext) -> MmseDenoiser:
    return _with_track(MmseDenoiser(settings, profile=context.profile), context)


GATE = register(StageKind(
    name="gate", label="Room-tone gate", settings_cls=GateSettings, domain="spectral", factory=_gate_factory,
    description="Soft spectral gate against the learned room tone (decision-directed Wiener-type gain)",
    needs_profile=True, role="pass", placement=30,
))
MMSE = register(StageKind(
    name="mmse", label="Adaptive MMSE", settings_cls=MmseSettings, domain="spectral", factory=_mmse_factory,
    description="Adaptive noise tracking with MMSE log-spectral-amplitude gains (for noise that changes)",
    needs_profile=False, role="pass", placement=31,
))
