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

*Pause-adaptive level.* Between phrases nothing masks the floor, and a fill that sits a full
chain cap under the room tone leaves the pauses grainy: the passes' output there is the room's
own noise scaled down, whose deepest troughs fall 20 dB and more under the room's floor. So the
fill level depends on the frame's speech presence ``p``: the input frame's power over the room
tone's (``10 log10(sum_k |X|**2 / sum_k R)`` over the refill band) maps linearly from
``pause_snr_db`` (``p = 0``) to ``speech_snr_db`` (``p = 1``), and ``p`` is held with a
``presence_release_ms`` exponential release after speech (speech tails and reverb keep the low
fill). The target is ``T = fill + (1 - p) * (pause_fill - fill)``, where ``pause_fill`` is the
room tone ``pause_level_db`` under its mean (smoothed like the fill; never below the fill). In
speech the fill stays far under the voice, where it cannot blur harmonics; in pauses it keeps
the noise floor even, as an editor's room-tone patch would.

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
from typing import NamedTuple

import numpy as np
import scipy.fft

from dsp.chain import BuildContext, StageKind, register
from dsp.errors import NEEDS_PROFILE, ParameterError
from dsp.jit import realtime_kernel
from dsp.presence import frame_presence
from dsp.roomtone import NoiseProfile
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry, overlap_add, stft_windows

SOURCES = ("roomtone", "pink")
#: Edges of the bands whose speech presence decides a frame's fill level (Hz; a quiet fricative
#: stands out only in the top band, a low vowel only in the bottom ones).
PRESENCE_BAND_EDGES_HZ = (300.0, 1000.0, 3000.0)


@dataclass(frozen=True)
class RefillSettings:
    """Hole refill (each field's range and meaning in its schema)."""

    source: str = setting("roomtone", choices=SOURCES,
                          doc="Fill shaped like the room tone, or pink (1/f) noise at its level.")
    margin_db: float = setting(0.5, lo=0.0, hi=30.0, unit="dB",
                               doc="How far below the floor (room tone minus the total reduction cap) the fill sits.")
    smoothing_octaves: float = setting(1.0 / 6.0, lo=0.0, hi=2.0, unit="octaves",
                                       doc="Frequency smoothing of the fill shape (0 = per bin).")
    cap_to_input: bool = setting(True, doc="Never make a bin louder than the chain's input was.")
    low_hz: float = setting(20.0, lo=0.0, hi=96000.0, unit="Hz", doc="Lowest frequency refilled.")
    high_hz: float = setting(0.0, lo=0.0, hi=96000.0, unit="Hz", doc="Highest frequency refilled (0 = Nyquist).")
    bed: bool = setting(False, doc="Add a constant quiet room-tone bed under the whole output.")
    bed_db: float = setting(-6.0, lo=-60.0, hi=20.0, unit="dB", doc="Bed level relative to the floor.")
    seed: int = setting(0, lo=0, hi=2**31 - 1, doc="Combined with the chain's seed for the random phases.")
    decorrelate_channels: bool = setting(False, doc="Independent noise per channel (else shared seeded noise).")
    pause_level_db: float = setting(-7.0, lo=-60.0, hi=0.0, unit="dB",
                                    doc="Fill level in speech pauses relative to the room tone's mean power.")
    pause_snr_db: float = setting(2.0, lo=-30.0, hi=60.0, unit="dB",
                                  doc="Input-to-room-tone ratio at or below which a frame counts as a pause.")
    speech_snr_db: float = setting(7.0, lo=-30.0, hi=60.0, unit="dB",
                                   doc="Input-to-room-tone ratio at or above which a frame counts as speech.")
    presence_release_ms: float = setting(100.0, lo=0.0, hi=5000.0, unit="ms",
                                         doc="Release time of the frame's speech presence after speech.")

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        check_settings(self, "refill")
        if self.high_hz and self.high_hz <= self.low_hz:
            raise ParameterError(
                f"refill band must satisfy 0 <= low_hz < high_hz (0 = Nyquist); got {self.low_hz}-{self.high_hz} Hz"
            )
        if not self.pause_snr_db < self.speech_snr_db:
            raise ParameterError(
                f"refill pause_snr_db ({self.pause_snr_db}) must be below speech_snr_db ({self.speech_snr_db})"
            )


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


def without_hum(power: np.ndarray, freqs: np.ndarray, hum, *, bin_hz: float) -> np.ndarray:
    """``power`` with the bins of the detected mains hum replaced by their surroundings.

    The room tone was learned with the hum in it; when a de-hum stage removes the hum, the fill
    must not put it back. Bins within two bins (the analysis window's main lobe) of each detected
    harmonic are replaced by the geometric interpolation of the nearest bins outside.
    """
    power = np.asarray(power, np.float64).copy()
    if hum is None or not getattr(hum, "frequencies_hz", ()):
        return power
    masked = np.zeros(power.size, bool)
    for f in hum.frequencies_hz:
        masked |= np.abs(freqs - f) <= 2.0 * bin_hz
    keep = ~masked & (power > 0)
    if masked.any() and keep.sum() >= 2:
        idx = np.arange(power.size)
        power[masked] = np.exp(np.interp(idx[masked], idx[keep], np.log(power[keep])))
    return power


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


# -- the kernel's argument groups (numba takes named tuples: fields are read by name, typed by value) --
class RefillLevels(NamedTuple):
    """The kernel's per-bin levels, ``(bins,)`` float64, and the presence bands."""

    target: np.ndarray  #: the fill's power in speech (coherent)
    pause_target: np.ndarray  #: the fill's power in pauses
    rand_target: np.ndarray  #: the fill's power with random phase (overlap-add compensated)
    bed_amp: np.ndarray  #: the bed's magnitude (zeros without a bed)
    band_edges: np.ndarray  #: ``(n + 1,)`` int64 bin edges of the presence bands
    band_room: np.ndarray  #: ``(n,)`` the room tone's power per band (empty: no pause-adaptive level)


class RefillParams(NamedTuple):
    """The kernel's scalar parameters (float64 where the kernel computes in float64)."""

    snr_lo: float  #: band power ratio (dB) of presence 0
    snr_hi: float  #: and of presence 1
    decay: float  #: the held presence's release per frame
    lo_bin: int  #: the refilled band, ``[lo_bin, hi_bin)``
    hi_bin: int
    mix: float  #: the stage's mix
    cap_to_input: bool
    seed: np.uint64
    first_frame: int  #: absolute index of the block's first frame (the random phases' counter)
    decorrelate: bool  #: independent noise per channel
    bed_on: bool
    ext_mode: int  #: 0: band presence; 1: the detector's (``fext``); 2: the smaller of the two


@realtime_kernel
def _refill(spectra, original, gain_cum, fext, presence, levels, params):  # pragma: no cover - compiled
    """Raise the holes of ``spectra`` (in place; ``gain_cum`` follows) to the fill level; ``presence``
    ``(channels,)`` float64 is the held speech presence carried across calls."""
    target, pause_target, rand_target = levels.target, levels.pause_target, levels.rand_target
    bed_amp, band_edges, band_room = levels.bed_amp, levels.band_edges, levels.band_room
    snr_lo, snr_hi, decay, lo_bin, hi_bin = params.snr_lo, params.snr_hi, params.decay, params.lo_bin, params.hi_bin
    mix, cap_to_input, seed, first_frame = params.mix, params.cap_to_input, params.seed, params.first_frame
    decorrelate, bed_on, ext_mode = params.decorrelate, params.bed_on, params.ext_mode
    c_n, k_n, b_n = spectra.shape
    tiny = 1e-10
    n_bands = band_room.shape[0]
    adaptive = n_bands > 0
    px_row = np.empty(b_n, np.float64)
    for c in range(c_n):
        cc = c if decorrelate else 0
        for k in range(k_n):
            frame = first_frame + k
            for b in range(lo_bin, hi_bin):
                x = original[c, k, b]
                px_row[b] = np.float64(x.real) * x.real + np.float64(x.imag) * x.imag
            q = 0.0  # 1 - speech presence: how much of the pause level the frame gets
            if adaptive:
                p = 0.0
                for i in range(n_bands):  # presence: the most speech-like band decides
                    total = 0.0
                    for b in range(band_edges[i], band_edges[i + 1]):
                        total += px_row[b]
                    snr = 10.0 * np.log10(total / band_room[i]) if total > 0.0 else -300.0
                    pb = (snr - snr_lo) / (snr_hi - snr_lo)
                    if pb > p:
                        p = pb
                p = min(1.0, p)
                if ext_mode == 1:
                    p = np.float64(fext[k])
                elif ext_mode == 2:
                    p = min(p, np.float64(fext[k]))
                held = presence[c] * decay
                if held > p:
                    p = held
                presence[c] = p
                q = 1.0 - p
            for b in range(lo_bin, hi_bin):
                y = spectra[c, k, b]
                px = px_row[b]
                py = np.float64(y.real) * y.real + np.float64(y.imag) * y.imag
                t0 = np.float64(target[b])
                t = t0 + q * (np.float64(pause_target[b]) - t0)
                if cap_to_input and px < t:
                    t = px
                if py < t:
                    if py > t * tiny:
                        g = 1.0 + mix * (np.sqrt(t / py) - 1.0)
                        out = y * np.float32(g)
                    elif px > t * tiny:
                        s = np.sqrt(t / px)
                        x = original[c, k, b]
                        out = y + np.float32(mix) * (x * np.float32(s) - y)
                    else:
                        ph = _phase(seed, frame, b, cc)
                        a = mix * np.sqrt(rand_target[b] * (t / t0)) if t0 > 0 else 0.0
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
                  bed_amp: np.ndarray | None = None, pause_target: np.ndarray | None = None,
                  band_edges: np.ndarray | None = None, band_room: np.ndarray | None = None, pause_snr_db: float = 2.0, speech_snr_db: float = 7.0,
                  decay: float = 0.0, presence: np.ndarray | None = None, fext=None, ext_mode: int = 0) -> None:
    """Numpy-facing wrapper of the refill kernel (validates, then modifies ``spectra`` in place).

    ``spectra``/``original`` are ``(channels, frames, bins)`` complex64, ``gain_cum`` float32 of
    the same shape, ``target``/``rand_target`` ``(bins,)`` float64 powers (coherent and
    random-phase), ``bed_amp`` ``(bins,)`` float64 magnitudes or None.

    Pause-adaptive level (off unless ``band_room`` is given): ``pause_target`` ``(bins,)`` is the
    fill in pauses; ``band_edges`` ``(n + 1,)`` int64 bin edges of ``n`` presence bands and
    ``band_room`` ``(n,)`` the room tone's power summed over each; a band's power ratio maps
    ``pause_snr_db..speech_snr_db`` to presence 0..1, the frame takes its most speech-like band's, held with the per-frame
    ``decay``; ``presence`` ``(channels,)`` float64 carries it across calls (updated in place).
    """
    if spectra.dtype != np.complex64 or original.dtype != np.complex64:
        raise ParameterError("refill expects complex64 spectra")
    if spectra.shape != original.shape or gain_cum.shape != spectra.shape:
        raise ParameterError(f"refill: spectra {spectra.shape}, original {original.shape}, gain {gain_cum.shape} differ")
    channels, _, bins = spectra.shape
    if target.shape != (bins,) or rand_target.shape != (bins,):
        raise ParameterError(f"refill: target must have {bins} bins, got {target.shape}")
    if not 0 <= lo_bin <= hi_bin <= bins:
        raise ParameterError(f"refill: bin range {lo_bin}-{hi_bin} outside 0-{bins}")
    if band_room is None or len(band_room) == 0:
        band_edges, band_room = np.zeros(1, np.int64), np.zeros(0, np.float64)
    else:
        band_edges = np.ascontiguousarray(band_edges, np.int64)
        band_room = np.ascontiguousarray(band_room, np.float64)
        if band_edges.shape != (band_room.size + 1,) or band_edges[0] < lo_bin or band_edges[-1] > hi_bin \
                or np.any(np.diff(band_edges) <= 0) or np.any(band_room <= 0):
            raise ParameterError("refill: presence bands must be increasing bin edges inside the band, with room power > 0")
        if pause_target is None or pause_target.shape != (bins,):
            raise ParameterError(f"refill: pause_target must have {bins} bins")
        if presence is None or presence.shape != (channels,) or presence.dtype != np.float64:
            raise ParameterError(f"refill: presence must be float64 of shape ({channels},)")
        if not pause_snr_db < speech_snr_db:
            raise ParameterError("refill: pause_snr_db must be below speech_snr_db")
    if pause_target is None:
        pause_target = target
    if presence is None:
        presence = np.zeros(channels, np.float64)
    bed = np.zeros(bins, np.float64) if bed_amp is None else np.ascontiguousarray(bed_amp, np.float64)
    levels = RefillLevels(
        target=np.ascontiguousarray(target, np.float64), pause_target=np.ascontiguousarray(pause_target, np.float64),
        rand_target=np.ascontiguousarray(rand_target, np.float64), bed_amp=bed, band_edges=band_edges,
        band_room=band_room,
    )
    params = RefillParams(
        snr_lo=float(pause_snr_db), snr_hi=float(speech_snr_db), decay=float(decay), lo_bin=int(lo_bin),
        hi_bin=int(hi_bin), mix=float(mix), cap_to_input=bool(cap_to_input), seed=np.uint64(seed & 0xFFFFFFFFFFFFFFFF),
        first_frame=int(first_frame), decorrelate=bool(decorrelate), bed_on=bed_amp is not None,
        ext_mode=int(ext_mode),
    )
    fext = np.ones(spectra.shape[1], np.float32) if fext is None else np.ascontiguousarray(fext, np.float32)
    _refill(spectra, original, gain_cum, fext, presence, levels, params)


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
                 seed: int = 0, hum=None) -> None:
        settings.validate()
        if profile is None:
            raise ParameterError("hole refill needs a room-tone profile", remedy=NEEDS_PROFILE)
        self.settings = settings
        self.profile = profile
        self.max_total_reduction_db = float(max_total_reduction_db)
        self.seed = combine_seeds(int(seed), int(settings.seed))
        self.hum = hum  # dsp.dehum.HumEstimate when a de-hum stage removes hum ahead of this one

    def prepare(self, geometry: StftGeometry) -> None:
        if geometry.sample_rate != self.profile.sample_rate:
            raise ParameterError(
                f"the room-tone profile was learned at {self.profile.sample_rate} Hz but the audio is "
                f"{geometry.sample_rate} Hz; learn a profile from this file"
            )
        s = self.settings
        freqs = geometry.bin_frequencies()
        mean = without_hum(profile_power(self.profile, geometry.n_fft, geometry.hop_length), freqs, self.hum,
                           bin_hz=geometry.sample_rate / geometry.n_fft)
        high = s.high_hz or geometry.sample_rate / 2.0
        self.lo_bin = int(np.searchsorted(freqs, s.low_hz, side="left"))
        self.hi_bin = int(np.searchsorted(freqs, high, side="right"))
        band = slice(self.lo_bin, self.hi_bin)
        smooth = smooth_octaves(mean, s.smoothing_octaves)
        if s.source == "pink":  # 1/f with the smoothed room tone's total power over the band
            pink = 1.0 / np.maximum(freqs, max(s.low_hz, freqs[1]))
            smooth = pink * (smooth[band].sum() / pink[band].sum()) if pink[band].sum() > 0 else pink * 0.0
        shape = smooth * 10.0 ** (-self.max_total_reduction_db / 10.0)  # the floor a capped chain leaves
        self.fill_power = shape * 10.0 ** (-s.margin_db / 10.0)
        self.pause_power = np.maximum(smooth * 10.0 ** (s.pause_level_db / 10.0), self.fill_power)
        adaptive = bool(np.any(self.pause_power[band] > self.fill_power[band] * 1.0001))
        edges = [self.lo_bin]
        for f in PRESENCE_BAND_EDGES_HZ:
            e = int(np.searchsorted(freqs, f, side="left"))
            if edges[-1] + 4 <= e <= self.hi_bin - 4:
                edges.append(e)
        edges.append(self.hi_bin)
        self.band_edges = np.asarray(edges, np.int64)
        self.band_room = np.array([mean[a:b].sum() for a, b in zip(edges[:-1], edges[1:], strict=True)], np.float64)
        if not adaptive or self.hi_bin - self.lo_bin < 4 or np.any(self.band_room <= 0):
            self.band_room = np.zeros(0, np.float64)
        hop_s = geometry.hop_length / geometry.sample_rate
        release_s = s.presence_release_ms / 1000.0
        self.decay = float(np.exp(-hop_s / release_s)) if release_s > 0 else 0.0
        self.preroll_frames = int(np.ceil(6.0 * release_s / hop_s)) if self.band_room.size else 0
        incoherent = incoherent_gain(geometry.n_fft, geometry.hop_length)
        self.rand_power = self.fill_power * incoherent
        self.bed_amp = np.sqrt(shape * 10.0 ** (s.bed_db / 10.0) * incoherent) if s.bed else None
        super().prepare(geometry)

    def reset(self, *, first_frame: int) -> None:
        channels = self.geometry.channels if self.geometry is not None else 1
        self._presence = np.zeros(channels, np.float64)

    def process_frames(self, frames: FrameBlock) -> None:
        s = self.settings
        refill_frames(
            frames.spectra, frames.original, frames.gain, self.fill_power, self.rand_power,
            lo_bin=self.lo_bin, hi_bin=self.hi_bin, mix=self.mix, cap_to_input=s.cap_to_input,
            seed=self.seed, first_frame=frames.first_frame, decorrelate=s.decorrelate_channels,
            bed_amp=self.bed_amp, pause_target=self.pause_power, band_edges=self.band_edges, band_room=self.band_room,
            pause_snr_db=s.pause_snr_db, speech_snr_db=s.speech_snr_db, decay=self.decay,
            presence=self._presence, fext=self._fext(frames), ext_mode=self.ext_mode,
        )

    #: A speech detector's presence per track frame (:mod:`dsp.presence`): with it, the detector
    #: decides the pauses (``ext_mode`` 1) instead of the band presence (0, without a track).
    presence_track: np.ndarray | None = None
    presence_frame_s: float = 0.032

    @property
    def ext_mode(self) -> int:
        return 0 if self.presence_track is None else 1

    def _fext(self, frames: FrameBlock) -> np.ndarray | None:
        if self.presence_track is None:
            return None
        g = self.geometry
        assert g is not None  # prepared
        return frame_presence(self.presence_track, self.presence_frame_s, frames.first_frame, frames.spectra.shape[1],
                              g.hop_length, g.n_fft, g.sample_rate)


def _factory(settings: RefillSettings, context: BuildContext) -> HoleRefiller:
    refiller = HoleRefiller(settings, context.profile, max_total_reduction_db=context.max_total_reduction_db,
                            seed=context.seed, hum=context.hum)
    track = context.extras.get("speech_presence_refill")  # a speech detector decides the pauses
    if track is not None:
        refiller.presence_track, refiller.presence_frame_s = track
    return refiller


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
        placement=40,
    )
)


# -- room tone on its own (the editor's fills and cut joins, dsp.edits) --------------------------
@realtime_kernel
def _random_phase_frames(seed, first_frame, amp, out):  # pragma: no cover - compiled
    """``out[k, b] = amp[b] * exp(i * phase(seed, first_frame + k, b))``: the bed's noise, per frame."""
    k_n, b_n = out.shape
    for k in range(k_n):
        frame = first_frame + k
        for b in range(b_n):
            ph = _phase(seed, frame, b, 0)
            a = amp[b]
            out[k, b] = np.complex64(complex(a * np.cos(ph), a * np.sin(ph)))


def synthesise_room_tone(profile: NoiseProfile, start: int, frames: int, *, seed: int, channels: int = 1,
                         gain_db: float = 0.0) -> np.ndarray:
    """Samples ``[start, start + frames)`` of an endless room tone synthesised from ``profile``.

    The same seeded random-phase noise as the hole refill's bed: frame ``f`` of the profile's
    grid holds the profile's mean power per bin (``profile_power``, at the ``incoherent_gain``
    that makes independent frames re-analyse at that power) with a phase that is a hash of
    ``(seed, f, bin)``; frames are inverse transformed, windowed and overlap-added. Every sample
    is a function of its absolute index only, so any piece equals the same span of a longer one
    (streaming, previews). Its level and spectrum are the profile's (``gain_db`` above them).

    Returns
    -------
    ndarray (channels, frames) float32; the channels share the noise.
    """
    n_fft, hop = profile.n_fft, profile.hop_length
    if frames <= 0:
        return np.zeros((channels, 0), np.float32)
    power = np.asarray(profile.mean_power, np.float64).copy()
    power[0] = 0.0  # no DC offset
    amp = np.sqrt(power * incoherent_gain(n_fft, hop) * 10.0 ** (gain_db / 10.0))
    _, ws = stft_windows(n_fft, hop)
    # frame f's window covers [f*hop, f*hop + n_fft): every frame that reaches the span
    f0 = -(-(start - n_fft + 1) // hop)
    f1 = (start + frames - 1) // hop + 1
    spectra = np.empty((f1 - f0, amp.size), np.complex64)
    _random_phase_frames(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), f0, amp, spectra)
    y = scipy.fft.irfft(spectra, n=n_fft, axis=-1).astype(np.float32)
    acc = np.zeros((1, (f1 - f0 - 1) * hop + n_fft), np.float32)
    overlap_add(y[None], hop, ws, acc)
    a = start - f0 * hop
    out = acc[0, a : a + frames]
    return np.ascontiguousarray(np.broadcast_to(out, (channels, frames)))
