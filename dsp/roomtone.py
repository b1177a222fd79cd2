"""Room tone: the room's natural background, learned as per-bin statistics.

(Contract only so far: the data type and its JSON form. ``estimate_room_tone`` is built in the
room-tone issue.)

Power is in the units of the STFT engine's spectra: ``|rfft(window * frame)|**2`` with the
engine's analysis window (:func:`dsp.stft.stft_windows`) at this profile's ``n_fft`` and hop,
so stages compare ``abs(spectra)**2`` with ``mean_power`` directly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsp.errors import InputError

PROFILE_FORMAT = "roomtone-noise-profile"
PROFILE_VERSION = 1


@dataclass
class NoiseProfile:
    """Per-bin room-tone statistics (whole-file knowledge: data, not processor state)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    mean_power: np.ndarray  # (bins,) float64, mean |X|^2 per bin
    power_std: np.ndarray  # (bins,) float64, standard deviation of |X|^2 per bin
    level_dbfs: float  # broadband RMS level of the learned stretch, dBFS
    regions: list[tuple[float, float]] = field(default_factory=list)  # seconds
    duration_s: float = 0.0
    method: str = "learn"  # "learn" (explicit regions), "auto" (quietest frames), "vad"
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def frequencies(self) -> np.ndarray:
        return np.arange(self.bins) * (self.sample_rate / self.n_fft)

    def shape_db(self) -> np.ndarray:
        """Spectral shape: mean power in dB relative to its own average (0 dB mean)."""
        db = 10.0 * np.log10(np.maximum(self.mean_power, 1e-30))
        return db - db.mean()

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "level_dbfs": self.level_dbfs,
            "regions": [list(r) for r in self.regions],
            "duration_s": self.duration_s,
            "method": self.method,
            "source": self.source,
            "warnings": list(self.warnings),
            "mean_power": [float(v) for v in self.mean_power],
            "power_std": [float(v) for v in self.power_std],
        }

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "profile") -> NoiseProfile:
        if d.get("format") != PROFILE_FORMAT:
            raise InputError(f"{where}: not a Roomtone room-tone profile (format {d.get('format')!r})")
        if int(d.get("version", 0)) > PROFILE_VERSION:
            raise InputError(
                f"{where}: profile version {d.get('version')} is newer than this Roomtone understands "
                f"({PROFILE_VERSION}); update Roomtone"
            )
        try:
            prof = cls(
                sample_rate=int(d["sample_rate"]), n_fft=int(d["n_fft"]), hop_length=int(d["hop_length"]),
                mean_power=np.asarray(d["mean_power"], np.float64), power_std=np.asarray(d["power_std"], np.float64),
                level_dbfs=float(d["level_dbfs"]), regions=[tuple(r) for r in d.get("regions", [])],
                duration_s=float(d.get("duration_s", 0.0)), method=str(d.get("method", "learn")),
                source=str(d.get("source", "")), warnings=list(d.get("warnings", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: damaged profile ({type(exc).__name__}: {exc}); learn it again") from None
        if prof.mean_power.shape != (prof.bins,) or prof.power_std.shape != (prof.bins,):
            raise InputError(f"{where}: damaged profile (expected {prof.bins} bins for n_fft {prof.n_fft})")
        if not np.all(np.isfinite(prof.mean_power)) or np.any(prof.mean_power < 0):
            raise InputError(f"{where}: damaged profile (negative or non-finite power); learn it again")
        return prof

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-roomtone")
        tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoiseProfile:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such profile file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable profile ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a Roomtone room-tone profile")
        return cls.from_dict(data, where=str(path))


