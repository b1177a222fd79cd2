"""Spectral-hole refill: a floor of room tone under the processed spectrum (stage kind ``refill``).

Algorithm
---------
The stage runs last in the STFT chain, after the denoise passes. Its *fill level* in bin ``k``
is the room-tone profile's mean power (smoothed over ``smoothing_octaves``; or pink noise with
the same total power, ``source="pink"``) lowered by the chain's total allowed reduction
(``max_total_reduction_db``: the floor a capped chain should leave) and by ``margin_db`` more:
just under the floor. In every frame and bin the stage compares the processed power ``|Y|**2``
with the target ``T = min(fill, |X|**2)`` (``X`` the chain's input; with ``cap_to_input`` the
fill never makes a bin louder than it was before processing, so untouched or quiet input is
never changed). Where ``|Y|**2 < T`` the bin is in a hole and is raised to ``T``:

* if ``Y`` still has a phase (not a numerical zero) only its magnitude is raised, keeping the
  phase, so the fill stays coherent across overlapping frames and cannot cancel itself;
* else if the input ``X`` has one, the fill takes ``X``'s phase at magnitude ``sqrt(T)``;
* else (digital silence in the input, only reachable with ``cap_to_input=False``) the fill is
  seeded noise: a random phase from a counter-based hash of (seed, absolute frame, bin[, channel])
  at a magnitude compensated for the incoherent overlap-add of independent frames.

Everywhere else the spectrum is left bit for bit as the passes made it. Because the fill is a
floor under the processed magnitude, not a patch pasted into detected regions, its edges are
continuous in time and frequency: at a hole's edge the processed level crosses the fill level
and the output follows the larger of the two. The stage's own ``mix`` blends the raise.

The optional *room-tone bed* adds a constant quiet layer of seeded random-phase room tone
(``bed_db`` relative to the floor) under the whole output, as editors lay by hand.

Randomness depends only on the seed and the absolute frame index (``FrameBlock.first_frame``),
never on state, so any block size and any playhead give the same noise; channels share it
unless ``decorrelate_channels`` (then stereo no longer equals per-channel rendering).

Units: powers in the engine's spectra units ``|rfft(analysis_window * frame)|**2``; levels in dB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.chain import BuildContext, StageKind, register
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.roomtone import NoiseProfile
from dsp.stft import FrameBlock, SpectralStage, StftGeometry, stft_windows

SOURCES = ("roomtone", "pink")


@dataclass(frozen=True)
class RefillSettings:
    """Hole refill.

    Attributes
    ----------
    source : str
        ``"roomtone"`` (fill shaped like the profile) or ``"pink"`` (1/f at the profile's level).
    margin_db : float
        How far below the floor (profile mean minus the chain's total reduction cap) the fill sits.
    smoothing_octaves : float
        Frequency smoothing of the fill shape (fractional octaves; 0 = per bin).
    cap_to_input : bool
        Never make a bin louder than the chain's input was (untouched audio stays bit-exact).
    low_hz, high_hz : float
        Band that is refilled; ``high_hz`` 0 means up to Nyquist.
    bed : bool
        Add a constant quiet room-tone bed under the whole output.
    bed_db : float
        Bed level relative to the floor, dB.
    seed : int
        Combined with the chain's seed for the random phases.
    decorrelate_channels : bool
        Independent noise per channel (otherwise channels share the same seeded noise).
    """

    source: str = "roomtone"
    margin_db: float = 0.5
    smoothing_octaves: float = 1.0 / 6.0
    cap_to_input: bool = True
    low_hz: float = 20.0
    high_hz: float = 0.0
    bed: bool = False
    bed_db: float = -6.0
    seed: int = 0
    decorrelate_channels: bool = False

    def validate(self) -> None:
        if self.source not in SOURCES:
            raise ParameterError(f"refill source must be one of {list(SOURCES)}, got {self.source!r}")
        if not 0.0 <= self.margin_db <= 30.0:
            raise ParameterError(f"refill margin_db must be between 0 and 30 dB, got {self.margin_db}")
        if not 0.0 <= self.smoothing_octaves <= 2.0:
            raise ParameterError(f"refill smoothing_octaves must be between 0 and 2, got {self.smoothing_octaves}")
        if self.low_hz < 0 or self.high_hz < 0 or (self.high_hz and self.high_hz <= self.low_hz):
            raise ParameterError(
                f"refill band must satisfy 0 <= low_hz < high_hz (0 = Nyquist); got {self.low_hz}-{self.high_hz} Hz"
            )
        if not -60.0 <= self.bed_db <= 20.0:
            raise ParameterError(f"refill bed_db must be between -60 and +20 dB re the floor, got {self.bed_db}")


# -- profile helpers ----------------------------------------------------------------------------
def profile_power(profile: NoiseProfile, n_fft: int, hop_length: int) -> np.ndarray:
    """The profile's mean power per bin on another STFT grid (interpolated, window-energy scaled).

    Parameters
    ----------
    profile : NoiseProfile
    n_fft, hop_length : int
        The grid wanted (the chain's).

    Returns
    -------
    ndarray (n_fft // 2 + 1,) float64, power in that grid's units.
    """
    mean = np.asarray(profile.mean_power, np.float64)
    if profile.n_fft == n_fft and profile.hop_length == hop_length:
        return mean.copy()
    w_p, _ = stft_windows(profile.n_fft, profile.hop_length)
    w_n, _ = stft_windows(n_fft, hop_length)
    density = mean / float(np.sum(w_p.astype(np.float64) ** 2))
    f_p = np.arange(profile.bins) * (profile.sample_rate / profile.n_fft)
    f_n = np.arange(n_fft // 2 + 1) * (profile.sample_rate / n_fft)
    return np.interp(f_n, f_p, density) * float(np.sum(w_n.astype(np.float64) ** 2))


def smooth_octaves(power: np.ndarray, octaves: float) -> np.ndarray:
    """Mean of ``power`` over ``octaves`` (total width) around each bin (bin 0 kept as is)."""
    power = np.asarray(power, np.float64)
    if octaves <= 0 or power.size < 3:
        return power.copy()
    k = np.arange(power.size, dtype=np.float64)
    lo = np.clip(np.floor(k * 2.0 ** (-octaves / 2.0)), 1, power.size - 1).astype(np.int64)
    hi = np.clip(np.ceil(k * 2.0 ** (octaves / 2.0)), 1, power.size - 1).astype(np.int64)
    lo[0], hi[0] = 0, 0
    csum = np.concatenate([[0.0], np.cumsum(power)])
    return (csum[hi + 1] - csum[lo]) / (hi - lo + 1)


def incoherent_gain(n_fft: int, hop_length: int) -> float:
    """Power factor that makes independent random-phase frames re-analyse at the target power.

    A frame spectrum of magnitude ``A`` per bin with random phase is ``A**2 / n_fft`` of
    per-sample variance; overlap-added with the synthesis window it becomes white noise of
    variance ``A**2 / n_fft * sum_j ws(n + j*hop)**2``, which the analysis window reads as
    ``variance * sum(wa**2)`` per bin. The factor is ``n_fft / (sum_j ws**2 * sum wa**2)``.
    """
    wa, ws = (w.astype(np.float64) for w in stft_windows(n_fft, hop_length))
    ola = np.zeros(hop_length)
    for start in range(0, n_fft, hop_length):
        ola += ws[start : start + hop_length] ** 2
    return float(n_fft / (ola.mean() * np.sum(wa**2)))


# -- the counter-based random phase ---------------------------------------------------------------
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_BED_SALT = np.uint64(0x5851F42D4C957F2D)


@realtime_kernel
def _mix64(z):  # pragma: no cover - compiled (splitmix64 finaliser)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@realtime_kernel
def _phase(seed, frame, b, c):  # pragma: no cover - compiled
    h = _mix64(seed + _GOLD * np.uint64(frame + 1))
    h = _mix64(h ^ (np.uint64(b) * _M1 + np.uint64(c) * _M2))
    return np.float64(h >> _S11) * (2.0 * np.pi / 9007199254740992.0)


@realtime_kernel
def _refill(spectra, original, gain_cum, target, rand_target, lo_bin, hi_bin, mix, cap_to_input,
            seed, first_frame, decorrelate, bed_amp, bed_on):  # pragma: no cover - compiled
    c_n, k_n, b_n = spectra.shape
    tiny = 1e-10
    for c in range(c_n):
        cc = c if decorrelate else 0
        for k in range(k_n):
            frame = first_frame + k
            for b in range(lo_bin, hi_bin):
                y = spectra[c, k, b]
                x = original[c, k, b]
                py = np.float64(y.real) * y.real + np.float64(y.imag) * y.imag
                px = np.float64(x.real) * x.real + np.float64(x.imag) * x.imag
                t = np.float64(target[b])
                if cap_to_input and px < t:
                    t = px
                if py < t:
                    if py > t * tiny:
                        g = 1.0 + mix * (np.sqrt(t / py) - 1.0)
                        out = y * np.float32(g)
                    elif px > t * tiny:
                        s = np.sqrt(t / px)
                        out = y + np.float32(mix) * (x * np.float32(s) - y)
                    else:
                        ph = _phase(seed, frame, b, cc)
                        a = mix * np.sqrt(rand_target[b] * (t / target[b])) if target[b] > 0 else 0.0
                        out = y + np.complex64(complex(a * np.cos(ph), a * np.sin(ph)))
                    spectra[c, k, b] = out
                    if px > 0:
                        po = np.float64(out.real) * out.real + np.float64(out.imag) * out.imag
                        gain_cum[c, k, b] = np.float32(np.sqrt(po / px))
        if bed_on:
            for k in range(k_n):
                frame = first_frame + k
                for b in range(lo_bin, hi_bin):
                    ph = _phase(seed ^ _BED_SALT, frame, b, cc)
                    a = bed_amp[b]
                    spectra[c, k, b] += np.complex64(complex(a * np.cos(ph), a * np.sin(ph)))


def refill_frames(spectra: np.ndarray, original: np.ndarray, gain_cum: np.ndarray, target: np.ndarray,
                  rand_target: np.ndarray, *, lo_bin: int, hi_bin: int, mix: float, cap_to_input: bool,
                  seed: int, first_frame: int, decorrelate: bool = False,
                  bed_amp: np.ndarray | None = None) -> None:
    """Numpy-facing wrapper of the refill kernel (validates, then modifies ``spectra`` in place).

    ``spectra``/``original`` are ``(channels, frames, bins)`` complex64, ``gain_cum`` float32 of
    the same shape, ``target``/``rand_target`` ``(bins,)`` float64 powers (coherent and
    random-phase), ``bed_amp`` ``(bins,)`` float64 magnitudes or None.
    """
    if spectra.dtype != np.complex64 or original.dtype != np.complex64:
        raise ParameterError("refill expects complex64 spectra")
    if spectra.shape != original.shape or gain_cum.shape != spectra.shape:
        raise ParameterError(f"refill: spectra {spectra.shape}, original {original.shape}, gain {gain_cum.shape} differ")
    bins = spectra.shape[2]
    if target.shape != (bins,) or rand_target.shape != (bins,):
        raise ParameterError(f"refill: target must have {bins} bins, got {target.shape}")
    if not 0 <= lo_bin <= hi_bin <= bins:
        raise ParameterError(f"refill: bin range {lo_bin}-{hi_bin} outside 0-{bins}")
    bed = np.zeros(bins, np.float64) if bed_amp is None else np.ascontiguousarray(bed_amp, np.float64)
    _refill(spectra, original, gain_cum, np.ascontiguousarray(target, np.float64),
            np.ascontiguousarray(rand_target, np.float64), int(lo_bin), int(hi_bin), float(mix),
            bool(cap_to_input), np.uint64(seed & 0xFFFFFFFFFFFFFFFF), int(first_frame), bool(decorrelate),
            bed, bed_amp is not None)


def combine_seeds(chain_seed: int, stage_seed: int) -> int:
    """A 64-bit seed from the chain's and the stage's (both matter, order matters)."""
    mask = 0xFFFFFFFFFFFFFFFF
    z = ((chain_seed & mask) * 0x9E3779B97F4A7C15 + (stage_seed & mask) + 0x632BE59BD9B4E019) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


class HoleRefiller(SpectralStage):
    """Refills spectral holes with room tone just under the floor (see the module header)."""

    mix = 1.0

    def __init__(self, settings: RefillSettings, profile: NoiseProfile, *, max_total_reduction_db: float = 15.0,
                 seed: int = 0) -> None:
        settings.validate()
        if profile is None:
            raise ParameterError("hole refill needs a room-tone profile (--profile, --learn or --auto-profile)")
        self.settings = settings
        self.profile = profile
        self.max_total_reduction_db = float(max_total_reduction_db)
        self.seed = combine_seeds(int(seed), int(settings.seed))

    def prepare(self, geometry: StftGeometry) -> None:
        if geometry.sample_rate != self.profile.sample_rate:
            raise ParameterError(
                f"the room-tone profile was learned at {self.profile.sample_rate} Hz but the audio is "
                f"{geometry.sample_rate} Hz; learn a profile from this file"
            )
        s = self.settings
        mean = profile_power(self.profile, geometry.n_fft, geometry.hop_length)
        freqs = geometry.bin_frequencies()
        high = s.high_hz or geometry.sample_rate / 2.0
        self.lo_bin = int(np.searchsorted(freqs, s.low_hz, side="left"))
        self.hi_bin = int(np.searchsorted(freqs, high, side="right"))
        floor = mean * 10.0 ** (-self.max_total_reduction_db / 10.0)
        shape = smooth_octaves(floor, s.smoothing_octaves)
        if s.source == "pink":
            f = np.maximum(freqs, max(s.low_hz, freqs[1]))
            pink = 1.0 / f
            sel = slice(self.lo_bin, self.hi_bin)
            total = shape[sel].sum()
            shape = pink * (total / pink[sel].sum()) if pink[sel].sum() > 0 else pink * 0.0
        self.fill_power = shape * 10.0 ** (-s.margin_db / 10.0)
        self.rand_power = self.fill_power * incoherent_gain(geometry.n_fft, geometry.hop_length)
        if s.bed:
            self.bed_amp = np.sqrt(shape * 10.0 ** (s.bed_db / 10.0) * incoherent_gain(geometry.n_fft, geometry.hop_length))
        else:
            self.bed_amp = None
        super().prepare(geometry)

    def process_frames(self, frames: FrameBlock) -> None:
        refill_frames(
            frames.spectra, frames.original, frames.gain, self.fill_power, self.rand_power,
            lo_bin=self.lo_bin, hi_bin=self.hi_bin, mix=self.mix, cap_to_input=self.settings.cap_to_input,
            seed=self.seed, first_frame=frames.first_frame, decorrelate=self.settings.decorrelate_channels,
            bed_amp=self.bed_amp,
        )


def _factory(settings: RefillSettings, context: BuildContext) -> HoleRefiller:
    return HoleRefiller(settings, context.profile, max_total_reduction_db=context.max_total_reduction_db,
                        seed=context.seed)


REFILL = register(
    StageKind(
        name="refill",
        label="Hole refill",
        settings_cls=RefillSettings,
        domain="spectral",
        factory=_factory,
        description="Refills spectral holes with room tone (or pink noise) just under the floor; optional room-tone bed.",
        needs_profile=True,
        role="repair",
    )
)
