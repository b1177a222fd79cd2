"""Spectral-hole detection: where processing pushed the audio far below the room's natural floor.

Algorithm
---------
Both signals are analysed on the room-tone profile's STFT grid (its ``n_fft``, ``hop_length``
and the engine's analysis window, so powers are in the profile's units ``|rfft(w*frame)|**2``;
frame ``f`` covers samples ``[f*hop - (n_fft - hop), f*hop + hop)`` exactly as in the engine).
Only frames lying wholly inside the file are analysed.

The *floor* of bin ``k`` is the profile's mean power minus the chain's total allowed reduction
(``max_total_reduction_db``, 15 dB by default): the quietest a correctly capped chain should
leave the room tone. A time-frequency bin is a *candidate* when

* the processed power is more than ``threshold_db`` below the floor, and
* the processed power is at least ``min_removed_db`` below the original's power in that bin
  (processing made the dip: untouched audio is never reported, nor a file's own digital
  silence or band-limited noise).

Single bins of real noise dip that low by chance (about 1 % of bins at 21 dB below the mean
of an exponentially distributed power; 22 % when a chain sits exactly at its cap), so a
candidate is kept only when at least ``min_density`` of its neighbourhood (3 frames by
``neighbourhood_bins`` bins, itself included) are candidates too: a hole is an *area* where
most bins are that low, not a scatter of chance dips. (Corners of a rectangular hole fall
below the density, its edges do not, so a hole's extent is kept.) Kept bins are joined into regions (8-connected) and a region is reported when it
lasts at least ``min_hole_ms`` and spans at least ``min_bandwidth_octaves`` (and ``min_bins``).

Streaming: frames are analysed in chunks; regions are labelled per chunk and merged across
chunk boundaries with a union-find, and closed as soon as they stop touching the newest frame.
Memory holds the open regions, the reported region list and a time-decimated mask (at most
``mask_max_frames`` columns), never a full-resolution mask of a long file.

Units: times in seconds, frequencies in Hz, depths in dB below the floor (per-bin depth capped
at 100 dB for digital zeros), areas in bin-frames and in s*Hz.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.render import ArraySource, BlockSource
from dsp.roomtone import NoiseProfile
from dsp.stft import frame_signal, stft_windows

#: Per-bin depth cap (dB below the floor) for digital zeros.
MAX_DEPTH_DB = 100.0
#: Octave bands (centre frequencies, Hz) used for the "worst bands" summary.
OCTAVE_CENTRES_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)


@dataclass(frozen=True)
class HoleSettings:
    """What counts as a spectral hole (defaults from DOMAIN.md, "Spectral holes").

    Attributes
    ----------
    threshold_db : float
        How far below the floor (profile mean minus the total allowed reduction) the processed
        power must be. DOMAIN.md: "~6 dB below the profile's floor minus the total reduction".
    min_hole_ms : float
        Shortest reported hole (about 3 frames at 48 kHz with 2048/512 frames).
    min_bandwidth_octaves : float
        Narrowest reported hole (1/3 octave).
    min_bins : int
        Narrowest reported hole in bins (guards the lowest octaves, where 1/3 octave is < 1 bin).
    min_removed_db : float
        The processed bin must sit at least this far below the original bin: only dips that the
        processing made count.
    min_density : float
        Fraction of candidates needed in the neighbourhood (3 frames by ``neighbourhood_bins``).
    neighbourhood_bins : int
        Width of the neighbourhood in bins (odd).
    low_hz, high_hz : float
        Analysed band; ``high_hz`` 0 means up to Nyquist.
    """

    threshold_db: float = 6.0
    min_hole_ms: float = 30.0
    min_bandwidth_octaves: float = 1.0 / 3.0
    min_bins: int = 2
    min_removed_db: float = 3.0
    min_density: float = 0.5
    neighbourhood_bins: int = 5
    low_hz: float = 20.0
    high_hz: float = 0.0

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        if not 0.0 <= self.threshold_db <= 60.0:
            raise ParameterError(f"threshold_db must be between 0 and 60 dB, got {self.threshold_db}")
        if self.min_hole_ms < 0:
            raise ParameterError(f"min_hole_ms must be >= 0 ms, got {self.min_hole_ms}")
        if self.min_bandwidth_octaves < 0:
            raise ParameterError(f"min_bandwidth_octaves must be >= 0, got {self.min_bandwidth_octaves}")
        if not 0.0 < self.min_density <= 1.0:
            raise ParameterError(f"min_density must be in (0, 1], got {self.min_density}")
        if self.neighbourhood_bins < 1 or self.neighbourhood_bins % 2 == 0:
            raise ParameterError(f"neighbourhood_bins must be odd and >= 1, got {self.neighbourhood_bins}")
        if self.min_removed_db < 0:
            raise ParameterError(f"min_removed_db must be >= 0 dB, got {self.min_removed_db}")
        if self.low_hz < 0 or self.high_hz < 0 or (self.high_hz and self.high_hz <= self.low_hz):
            raise ParameterError(
                f"the analysed band must satisfy 0 <= low_hz < high_hz (0 = Nyquist); got {self.low_hz}-{self.high_hz} Hz"
            )


@dataclass(frozen=True)
class HoleRegion:
    """One spectral hole: a connected time-frequency region below the threshold."""

    channel: int
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    depth_db: float  # mean depth below the floor over the region's bins
    max_depth_db: float
    area_bin_frames: int  # hole bins in the region
    area_s_hz: float  # the same area in seconds * Hz

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def bandwidth_octaves(self) -> float:
        return math.log2(self.high_hz / max(self.low_hz, 1e-9))

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


@dataclass
class HoleMap:
    """Result of :func:`detect_holes`: a decimated hole mask, the regions, and summary figures.

    ``mask`` is ``(columns, bins)`` float32: the fraction of hole bins among the ``decimation``
    frames (times channels) each column covers; column ``j`` starts at analysed frame
    ``first_frame + j * decimation``. ``level_db`` is the processed signal's mean power in dB
    (profile units) over the same cells, for drawing the map over a spectrogram.
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    channels: int
    first_frame: int
    frames: int  # analysed frames per channel
    decimation: int
    mask: np.ndarray
    level_db: np.ndarray
    floor_db: np.ndarray  # (bins,) the floor, dB
    regions: list[HoleRegion]
    hole_bins: int
    total_bins: int
    band_hole_bins: np.ndarray  # (bins,) hole bin count per frequency bin (all channels)
    band_total_bins: np.ndarray  # (bins,) analysed bin count per frequency bin
    settings: HoleSettings = field(default_factory=HoleSettings)
    max_total_reduction_db: float = 15.0
    duration_s: float = 0.0

    # -- summary -----------------------------------------------------------------------------
    @property
    def hole_rate(self) -> float:
        """Fraction of analysed time-frequency bins (all channels) inside reported holes."""
        return self.hole_bins / self.total_bins if self.total_bins else 0.0

    @property
    def total_hole_time_s(self) -> float:
        """Seconds during which at least one hole is open (union of region spans, all channels)."""
        spans = sorted((r.start_s, r.end_s) for r in self.regions)
        total = 0.0
        cur: tuple[float, float] | None = None
        for a, b in spans:
            if cur is None or a > cur[1]:
                if cur is not None:
                    total += cur[1] - cur[0]
                cur = (a, b)
            else:
                cur = (cur[0], max(cur[1], b))
        if cur is not None:
            total += cur[1] - cur[0]
        return total

    def frequencies(self) -> np.ndarray:
        return np.arange(self.n_fft // 2 + 1) * (self.sample_rate / self.n_fft)

    def column_times(self) -> np.ndarray:
        """Start time (s) of each mask column."""
        f = self.first_frame + np.arange(self.mask.shape[0]) * self.decimation
        return (f * self.hop_length - (self.n_fft - self.hop_length)) / self.sample_rate

    def band_rates(self) -> list[dict]:
        """Hole rate per octave band (only bands that were analysed)."""
        freqs = self.frequencies()
        out = []
        for fc in OCTAVE_CENTRES_HZ:
            lo, hi = fc / math.sqrt(2.0), fc * math.sqrt(2.0)
            sel = (freqs >= lo) & (freqs < hi)
            total = int(self.band_total_bins[sel].sum())
            if total:
                holes = int(self.band_hole_bins[sel].sum())
                out.append({"centre_hz": fc, "low_hz": round(lo, 1), "high_hz": round(hi, 1),
                            "hole_rate": holes / total})
        return out

    def worst_bands(self, n: int = 3) -> list[dict]:
        """The ``n`` octave bands with the highest hole rate (only bands with holes)."""
        bands = [b for b in self.band_rates() if b["hole_rate"] > 0]
        return sorted(bands, key=lambda b: -b["hole_rate"])[:n]

    def worst_regions(self, n: int = 10) -> list[HoleRegion]:
        """The ``n`` largest holes by area."""
        return sorted(self.regions, key=lambda r: (-r.area_bin_frames, r.start_s))[:n]

    # -- serialisation -----------------------------------------------------------------------
    def summary(self) -> dict:
        return {
            "hole_rate": self.hole_rate,
            "hole_count": len(self.regions),
            "total_hole_time_s": round(self.total_hole_time_s, 4),
            "duration_s": round(self.duration_s, 4),
            "worst_bands": self.worst_bands(),
        }

    def to_dict(self, *, include_mask: bool = False) -> dict:
        d: dict[str, Any] = {
            "format": "roomtone-hole-map",
            "version": 1,
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "channels": self.channels,
            "first_frame": self.first_frame,
            "frames": self.frames,
            "decimation": self.decimation,
            "max_total_reduction_db": self.max_total_reduction_db,
            "settings": asdict(self.settings),
            "summary": self.summary(),
            "band_rates": self.band_rates(),
            "hole_bins": self.hole_bins,
            "total_bins": self.total_bins,
            "regions": [r.to_dict() for r in self.regions],
        }
        if include_mask:
            d["mask"] = np.round(self.mask, 4).tolist()
        return d

    def save_json(self, path: str | os.PathLike, *, include_mask: bool = False) -> None:
        from dsp.io import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(include_mask=include_mask), indent=1))


# -- streaming region tracking ------------------------------------------------------------------
class _Region:
    __slots__ = ("f0", "f1", "b0", "b1", "count", "depth_sum", "depth_max", "cells", "bins")

    def __init__(self, f0, f1, b0, b1, count, depth_sum, depth_max, cells, bins):
        self.f0, self.f1, self.b0, self.b1 = f0, f1, b0, b1
        self.count, self.depth_sum, self.depth_max = count, depth_sum, depth_max
        self.cells = cells  # list of (col0, bin0, counts (cols, nb) uint32)
        self.bins = bins  # list of (bin0, counts (nb,) int64)

    def absorb(self, other: _Region) -> None:
        self.f0, self.f1 = min(self.f0, other.f0), max(self.f1, other.f1)
        self.b0, self.b1 = min(self.b0, other.b0), max(self.b1, other.b1)
        self.count += other.count
        self.depth_sum += other.depth_sum
        self.depth_max = max(self.depth_max, other.depth_max)
        self.cells.extend(other.cells)
        self.bins.extend(other.bins)


class _RegionTracker:
    """Connected hole regions of one channel, labelled chunk by chunk and merged across chunks."""

    def __init__(self, owner: _Detector, channel: int) -> None:
        self.owner = owner
        self.channel = channel
        self.parent: dict[int, int] = {}
        self.active: dict[int, _Region] = {}
        self.next_id = 1
        self.last_row: np.ndarray | None = None  # global ids of the previous chunk's last frame

    def _find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.active[ra].absorb(self.active.pop(rb))

    def add_chunk(self, mask: np.ndarray, depth: Callable[[tuple[slice, slice], np.ndarray], np.ndarray],
                  f_start: int) -> None:
        """``mask`` is ``(frames, bins)`` for analysed frames starting at ``f_start``; ``depth(sl, sub)``
        gives the depth (dB below the floor) of the bins the object slice ``sl`` and its mask ``sub``
        select (computed only where read)."""
        det = self.owner
        frames, bins = mask.shape
        hit_rows = np.flatnonzero(mask.any(axis=1))
        if hit_rows.size:
            # labelled inside the candidates' bounding box only: the same labels (numbered in the
            # same raster order), the objects' slices shifted back to the chunk's
            r0, r1 = int(hit_rows[0]), int(hit_rows[-1]) + 1
            hit_cols = np.flatnonzero(mask[r0:r1].any(axis=0))
            c0, c1 = int(hit_cols[0]), int(hit_cols[-1]) + 1
            labels, n = ndimage.label(mask[r0:r1, c0:c1], structure=np.ones((3, 3), bool))
        else:  # the usual chunk: nothing to label, open regions close below
            r0, r1, c0, c1 = 0, 0, 0, 0
            labels, n = np.zeros((0, 0), np.int32), 0
        ids = np.zeros(n + 1, np.int64)
        if n:
            objs = ndimage.find_objects(labels)
            for i, (fs_box, bs_box) in enumerate(objs, start=1):
                fs = slice(fs_box.start + r0, fs_box.stop + r0)
                bs = slice(bs_box.start + c0, bs_box.stop + c0)
                sl = (fs, bs)
                if 0 < fs.start and fs.stop < frames and not det.large_enough(fs.stop - fs.start, bs.start, bs.stop - 1):
                    continue  # whole inside this chunk (no neighbour before or after) and too small: never reported
                sub = labels[fs_box, bs_box] == i
                d = depth(sl, sub)
                rows = np.arange(fs.start, fs.stop) + f_start
                cols = (rows - det.first_frame) // det.decimation
                starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
                cell_counts = np.add.reduceat(sub.astype(np.uint32), starts, axis=0)
                gid = self.next_id
                self.next_id += 1
                self.parent[gid] = gid
                self.active[gid] = _Region(
                    int(rows[0]), int(rows[-1]), bs.start, bs.stop - 1, int(sub.sum()),
                    float(d.sum(dtype=np.float64)), float(d.max()),
                    [(int(cols[0]), bs.start, cell_counts)], [(bs.start, sub.sum(axis=0).astype(np.int64))],
                )
                ids[i] = gid
        def row_ids(r: int) -> np.ndarray:
            """Each bin's region id in row ``r`` of the chunk (0: none)."""
            row = np.zeros(bins, np.int64)
            if r0 <= r < r1:
                row[c0:c1] = ids[labels[r - r0]]
            return row

        first = row_ids(0) if frames else np.zeros(0, np.int64)
        if self.last_row is not None and frames:
            prev = self.last_row
            for shift in (-1, 0, 1):
                a = first[max(0, -shift) : len(first) - max(0, shift)]
                b = prev[max(0, shift) : len(prev) - max(0, -shift)]
                both = (a > 0) & (b > 0)
                if both.any():
                    for ga, gb in set(zip(a[both].tolist(), b[both].tolist(), strict=False)):
                        self._union(ga, gb)
        if frames:
            self.last_row = row_ids(frames - 1)
        open_roots = {self._find(int(g)) for g in np.unique(self.last_row) if g > 0} if self.last_row is not None else set()
        for root in [r for r in self.active if r not in open_roots]:
            det.finish(self.channel, self.active.pop(root))
        # Forget union-find entries of closed regions (keeps memory bounded).
        if len(self.parent) > 4 * (len(self.active) + 1) + 1024:
            live = {g: self._find(g) for g in self.parent if self._find(g) in self.active}
            self.parent = {g: r for g, r in live.items()}
            for r in self.active:
                self.parent[r] = r
            if self.last_row is not None:
                self.last_row = np.array([g if g in self.parent else 0 for g in self.last_row.tolist()], np.int64)

    def flush(self) -> None:
        for root in list(self.active):
            self.owner.finish(self.channel, self.active.pop(root))
        self.last_row = None


class _Detector:
    def __init__(self, *, sample_rate, n_fft, hop, bins, channels, first_frame, n_frames, decimation,
                 settings: HoleSettings, band: np.ndarray) -> None:
        self.sample_rate, self.n_fft, self.hop, self.bins = sample_rate, n_fft, hop, bins
        self.first_frame, self.decimation = first_frame, decimation
        self.settings = settings
        self.band = band
        n_cols = max(1, -(-n_frames // decimation))
        self.mask_counts = np.zeros((n_cols, bins), np.uint32)
        self.bin_counts = np.zeros(bins, np.int64)
        self.regions: list[HoleRegion] = []
        self.hole_bins = 0
        hop_ms = 1000.0 * hop / sample_rate
        self.min_frames = max(1, math.ceil(settings.min_hole_ms / hop_ms - 1e-9))
        self.trackers = [_RegionTracker(self, c) for c in range(channels)]

    def large_enough(self, n_frames: int, b0: int, b1: int) -> bool:
        """Whether a region of ``n_frames`` frames over bins ``b0..b1`` is reported."""
        s = self.settings
        df = self.sample_rate / self.n_fft
        octaves = math.log2((b1 + 0.5) * df / max(max(b0 - 0.5, 0.0) * df, 0.5 * df))
        return not (n_frames < self.min_frames or octaves < s.min_bandwidth_octaves - 1e-9 or b1 - b0 + 1 < s.min_bins)

    def finish(self, channel: int, r: _Region) -> None:
        if not self.large_enough(r.f1 - r.f0 + 1, r.b0, r.b1):
            return
        df = self.sample_rate / self.n_fft
        low_hz = max(r.b0 - 0.5, 0.0) * df
        high_hz = (r.b1 + 0.5) * df
        for col0, b0, counts in r.cells:
            self.mask_counts[col0 : col0 + counts.shape[0], b0 : b0 + counts.shape[1]] += counts
        for b0, counts in r.bins:
            self.bin_counts[b0 : b0 + counts.shape[0]] += counts
        self.hole_bins += r.count
        hop, n_fft, sr = self.hop, self.n_fft, self.sample_rate

        def centre(f: int) -> float:
            return (f * hop + hop - n_fft / 2.0) / sr

        self.regions.append(HoleRegion(
            channel=channel,
            start_s=centre(r.f0) - 0.5 * hop / sr,
            end_s=centre(r.f1) + 0.5 * hop / sr,
            low_hz=low_hz,
            high_hz=high_hz,
            depth_db=r.depth_sum / r.count,
            max_depth_db=r.depth_max,
            area_bin_frames=r.count,
            area_s_hz=r.count * (hop / sr) * df,
        ))


def _as_source(x: Any, sample_rate: int, what: str) -> BlockSource:
    if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
        a = np.asarray(x, np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2:
            raise ParameterError(f"{what}: expected audio of shape (channels, samples), got {a.shape}")
        return ArraySource(a, sample_rate)
    for attr in ("sample_rate", "channels", "frames", "read"):
        if not hasattr(x, attr):
            raise ParameterError(f"{what}: expected a (channels, samples) array or a BlockSource, got {type(x).__name__}")
    return x


@realtime_kernel
def _power(spec, out):  # pragma: no cover - compiled
    # |spec|^2 of complex64 rows into float32, as numpy's ``spec.real**2 + spec.imag**2``: the
    # same float32 operations in the same order, without its three temporaries
    for i in range(spec.shape[0]):
        for j in range(spec.shape[1]):
            v = spec[i, j]
            out[i, j] = v.real * v.real + v.imag * v.imag


@realtime_kernel
def _candidates(p_o, p_p, thresh, removed, band, out):  # pragma: no cover - compiled
    # ``(p_p < thresh) & (p_p * removed < p_o) & band`` row by row (float32 throughout, as numpy)
    for i in range(p_p.shape[0]):
        for j in range(p_p.shape[1]):
            p = p_p[i, j]
            out[i, j] = band[j] and p < thresh[j] and p * removed < p_o[i, j]



def _neighbour_filter(prev_row: np.ndarray, rows: np.ndarray, next_row: np.ndarray, k: int, width: int) -> np.ndarray:
    """Keep candidates with at least ``k`` candidates in their 3 x ``width`` neighbourhood
    (outside the rows given and the bins: none). A box sum, separable: three rows added, then a
    running sum across bins; most chunks have no candidate at all and return at once."""
    if not rows.any():
        return rows
    v = rows.astype(np.int32)
    v[1:] += rows[:-1]
    v[:-1] += rows[1:]
    v[0] += prev_row
    v[-1] += next_row
    h = width // 2
    csum = np.zeros((v.shape[0], v.shape[1] + width), np.int32)
    np.cumsum(v, axis=1, out=csum[:, h + 1 : h + 1 + v.shape[1]])
    csum[:, h + 1 + v.shape[1] :] = csum[:, h + v.shape[1] : h + v.shape[1] + 1]
    counts = csum[:, width:] - csum[:, : v.shape[1]]
    return rows & (counts >= k)


def detect_holes(
    original: Any,
    processed: Any,
    profile: NoiseProfile,
    sample_rate: int,
    *,
    settings: HoleSettings = HoleSettings(),
    max_total_reduction_db: float = 15.0,
    chunk_frames: int = 1024,
    mask_max_frames: int = 2000,
    keep_level: bool = True,
) -> HoleMap:
    """Find spectral holes the processing made, against the room-tone floor.

    Parameters
    ----------
    original, processed : ndarray (channels, samples) float32 or BlockSource
        The input and the processed output, time-aligned (latency-trimmed), same rate and channels.
    profile : NoiseProfile
        The room tone; its ``n_fft``/``hop_length`` set the analysis grid.
    sample_rate : int
        Sample rate (Hz) of both signals; must equal the profile's.
    settings : HoleSettings
        Detection thresholds.
    max_total_reduction_db : float
        The chain's total reduction cap: the floor is the profile mean minus this.
    chunk_frames : int
        Frames analysed per chunk (memory bound; results do not depend on it).
    mask_max_frames : int
        Most columns kept in the decimated mask.
    keep_level : bool
        Also keep the processed signal's decimated spectrogram (``HoleMap.level_db``).

    Returns
    -------
    HoleMap
    """
    settings.validate()
    if profile.sample_rate != sample_rate:
        raise ParameterError(
            f"the room-tone profile was learned at {profile.sample_rate} Hz but the audio is {sample_rate} Hz; "
            "learn a profile from this file (or one at the same rate)"
        )
    if max_total_reduction_db < 0:
        raise ParameterError(f"max_total_reduction_db must be >= 0 dB, got {max_total_reduction_db}")
    src_o = _as_source(original, sample_rate, "original")
    src_p = _as_source(processed, sample_rate, "processed")
    for s, what in ((src_o, "original"), (src_p, "processed")):
        if int(s.sample_rate) != sample_rate:
            raise ParameterError(f"the {what} audio is {s.sample_rate} Hz, expected {sample_rate} Hz")
    if src_o.channels != src_p.channels:
        raise ParameterError(
            f"the original has {src_o.channels} channels but the processed file has {src_p.channels}; "
            "compare a file with its own processed version"
        )
    channels = int(src_o.channels)
    n = int(min(src_o.frames, src_p.frames))
    n_fft, hop = int(profile.n_fft), int(profile.hop_length)
    bins = n_fft // 2 + 1
    window, _ = stft_windows(n_fft, hop)
    f_first = n_fft // hop - 1  # first frame wholly inside the file
    f_last = n // hop - 1  # last one
    n_frames = max(0, f_last - f_first + 1)
    decimation = max(1, -(-n_frames // max(1, mask_max_frames)))
    freqs = np.arange(bins) * (sample_rate / n_fft)
    high = settings.high_hz or sample_rate / 2.0
    band = (freqs >= settings.low_hz) & (freqs <= high)
    mean = np.asarray(profile.mean_power, np.float64)
    floor = mean * 10.0 ** (-max_total_reduction_db / 10.0)
    thresh = (floor * 10.0 ** (-settings.threshold_db / 10.0)).astype(np.float32)
    removed = np.float32(10.0 ** (settings.min_removed_db / 10.0))
    floor32 = np.maximum(floor, 1e-30).astype(np.float32)
    det = _Detector(sample_rate=sample_rate, n_fft=n_fft, hop=hop, bins=bins, channels=channels,
                    first_frame=f_first, n_frames=n_frames, decimation=decimation, settings=settings, band=band)
    n_cols = det.mask_counts.shape[0]
    level_sum = np.zeros((n_cols, bins), np.float64) if keep_level else None
    level_n = np.zeros(n_cols, np.int64)

    def power(src: BlockSource, f0: int, f1: int) -> np.ndarray:
        s0 = f0 * hop - (n_fft - hop)
        x = np.ascontiguousarray(src.read(s0, (f1 - f0 - 1) * hop + n_fft), dtype=np.float32)
        spec = scipy.fft.rfft(frame_signal(x, n_fft, hop, window), axis=-1)
        out = np.empty(spec.shape, np.float32)
        _power(spec.reshape(-1, bins), out.reshape(-1, bins))
        return out

    chunk_frames = max(1, int(chunk_frames))
    need = max(1, math.ceil(settings.min_density * 3 * settings.neighbourhood_bins - 1e-9))
    pending: tuple[np.ndarray, np.ndarray, int] | None = None  # (candidates, processed power, f0)
    prev_rows = np.zeros((channels, bins), bool)

    def depth_of(p_p: np.ndarray, sl: tuple[slice, slice], sub: np.ndarray) -> np.ndarray:
        """Depth below the floor (dB, capped) of the bins ``p_p[sl][sub]``."""
        fl = np.broadcast_to(floor32[sl[1]], sub.shape)[sub]
        return np.minimum(10.0 * np.log10(fl / np.maximum(p_p[sl][sub], fl * 1e-10)), MAX_DEPTH_DB).astype(np.float32)

    def emit(cand: np.ndarray, p_p: np.ndarray, f0: int, next_rows: np.ndarray) -> None:
        nonlocal prev_rows
        for c in range(channels):
            m = _neighbour_filter(prev_rows[c], cand[c], next_rows[c], need, settings.neighbourhood_bins)
            det.trackers[c].add_chunk(m, functools.partial(depth_of, p_p[c]), f0)
        prev_rows = cand[:, -1].copy()

    for f0 in range(f_first, f_last + 1, chunk_frames):
        f1 = min(f0 + chunk_frames, f_last + 1)
        p_o = power(src_o, f0, f1)
        p_p = power(src_p, f0, f1)
        cand = np.empty(p_p.shape, bool)
        _candidates(p_o.reshape(-1, bins), p_p.reshape(-1, bins), thresh, removed, band, cand.reshape(-1, bins))
        if level_sum is not None:
            cols = (np.arange(f0, f1) - f_first) // decimation
            starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
            sums = np.add.reduceat(p_p.astype(np.float64).sum(axis=0), starts, axis=0)
            level_sum[cols[starts]] += sums
            level_n[cols[starts]] += np.diff(np.r_[starts, len(cols)]) * channels
        if pending is not None:
            emit(*pending, cand[:, 0])
        pending = (cand, p_p, f0)
    if pending is not None:
        emit(*pending, np.zeros((channels, bins), bool))
    for t in det.trackers:
        t.flush()

    if level_sum is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            level = level_sum / np.maximum(level_n, 1)[:, None]
        level_db = (10.0 * np.log10(np.maximum(level, 1e-20))).astype(np.float32)
    else:
        level_db = np.zeros((0, bins), np.float32)
    per_col = np.minimum(decimation, n_frames - np.arange(n_cols) * decimation).clip(min=1) * channels
    mask = (det.mask_counts / per_col[:, None]).astype(np.float32)
    det.regions.sort(key=lambda r: (r.start_s, r.low_hz, r.channel))
    return HoleMap(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, channels=channels, first_frame=f_first,
        frames=n_frames, decimation=decimation, mask=mask, level_db=level_db,
        floor_db=(10.0 * np.log10(np.maximum(floor, 1e-30))).astype(np.float32),
        regions=det.regions, hole_bins=det.hole_bins, total_bins=int(band.sum()) * n_frames * channels,
        band_hole_bins=det.bin_counts, band_total_bins=band.astype(np.int64) * n_frames * channels,
        settings=settings, max_total_reduction_db=float(max_total_reduction_db), duration_s=n / sample_rate,
    )
