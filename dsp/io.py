"""Audio files in and out: block-wise reading of any supported file, atomic writing.

This is the only module where the file layout ``(frames, channels)`` appears; everything it
returns is ``(channels, samples)`` float32. Reading never holds the whole file; writing goes to
a temporary file in the target folder that is renamed over the target only when complete, so a
crash, error or cancel never leaves a half-written file under the target name.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from dsp.errors import InputError, OutputError, ParameterError

#: Extensions we read, with libsndfile's format name.
READ_FORMATS = {
    ".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
    ".opus": "OGG", ".mp3": "MP3", ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF",
}

#: Output formats: name -> (libsndfile format, subtype, extension).
WRITE_FORMATS = {
    "wav16": ("WAV", "PCM_16", ".wav"),
    "wav24": ("WAV", "PCM_24", ".wav"),
    "float32": ("WAV", "FLOAT", ".wav"),
    "flac16": ("FLAC", "PCM_16", ".flac"),
    "flac24": ("FLAC", "PCM_24", ".flac"),
}

MIN_RATE, MAX_RATE, MAX_CHANNELS = 8000, 192000, 8


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, as read from its header."""

    path: str
    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _open_error(path: Path, exc: Exception) -> InputError:
    text = str(exc)
    ext = path.suffix.lower()
    if ext and ext not in READ_FORMATS:
        return InputError(
            f"{path}: unsupported format '{ext}'. Roomtone reads WAV, FLAC, OGG/Vorbis, Opus, MP3 and AIFF; "
            "convert the file to one of those (e.g. ffmpeg -i IN OUT.wav)"
        )
    return InputError(f"{path}: cannot read it as audio ({text}); the file is corrupt or not an audio file")


def format_for_source(info: AudioInfo) -> str:
    """The output format that keeps what the source had: FLAC stays FLAC, float stays float."""
    if info.format == "FLAC":
        return "flac24" if info.subtype == "PCM_24" else "flac16"
    if info.subtype in ("FLOAT", "DOUBLE"):
        return "float32"
    if info.subtype in ("PCM_24", "PCM_32"):
        return "wav24"
    return "wav16" if info.subtype in ("PCM_16", "PCM_U8", "PCM_S8") else "wav24"


class AudioReader:
    """Random-access, block-wise reader. ``read(start, n)`` -> ``(channels, n)`` float32.

    NaN and Inf samples are counted (``nonfinite_count``) and replaced by 0, so a damaged
    recording still renders; the CLI reports how many were found.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file; check the path")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected an audio file")
        size = self.path.stat().st_size
        if size == 0:
            raise InputError(f"{self.path}: the file is empty (0 bytes); re-export or re-copy it")
        try:
            self._sf = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise _open_error(self.path, exc) from None
        info = AudioInfo(
            str(self.path), self._sf.format, self._sf.subtype, self._sf.samplerate,
            self._sf.channels, self._sf.frames,
        )
        self.info = info
        if info.frames <= 0:
            self.close()
            raise InputError(f"{self.path}: holds no audio (0 frames); the file is empty or truncated")
        if not MIN_RATE <= info.sample_rate <= MAX_RATE:
            self.close()
            raise InputError(
                f"{self.path}: sample rate {info.sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz; resample it first"
            )
        if info.channels > MAX_CHANNELS:
            self.close()
            raise InputError(f"{self.path}: {info.channels} channels; Roomtone handles 1 to {MAX_CHANNELS}")
        self.nonfinite_count = 0
        self._pos = 0

    # BlockSource protocol
    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def frames(self) -> int:
        return self.info.frames

    def read(self, start: int, frames: int) -> np.ndarray:
        """Samples ``[start, start + frames)`` as ``(channels, frames)`` float32."""
        if start < 0 or frames < 0 or start + frames > self.info.frames:
            raise ParameterError(
                f"read of [{start}, {start + frames}) is outside the file's {self.info.frames} frames"
            )
        try:
            if start != self._pos:
                self._sf.seek(start)
            data = self._sf.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(
                f"{self.path}: reading failed at {start / self.sample_rate:.2f} s ({exc}); the file is truncated or corrupt"
            ) from None
        if data.shape[0] != frames:
            raise InputError(
                f"{self.path}: truncated: the header promises {self.info.frames} frames but audio ends near "
                f"{(start + data.shape[0]) / self.sample_rate:.2f} s; repair or re-export the file"
            )
        self._pos = start + frames
        out = np.ascontiguousarray(data.T)
        bad = ~np.isfinite(out)
        if bad.any():
            self.nonfinite_count += int(bad.sum())
            out[bad] = 0.0
        return out

    def blocks(self, block_size: int = 65536):
        """Iterate over the file in ``(channels, <=block_size)`` blocks."""
        for start in range(0, self.frames, block_size):
            yield self.read(start, min(block_size, self.frames - start))

    def read_all(self) -> np.ndarray:
        """The whole file (for analyses of short files and tests; renders use blocks)."""
        return self.read(0, self.frames)

    def close(self) -> None:
        try:
            self._sf.close()
        except Exception:  # noqa: BLE001 - closing a broken handle must not mask the real error
            pass

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Whole file as ``((channels, samples) float32, sample_rate)``; NaN/Inf set to 0."""
    with AudioReader(path) as r:
        return r.read_all(), r.sample_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    with AudioReader(path) as r:
        return r.info


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


class AtomicWriter:
    """Writes audio blocks to a temporary file beside ``target``; ``commit()`` renames it over.

    Use as a context manager: leaving the block with an exception (or without ``commit()``)
    removes the temporary file, so the target is either the old file or the complete new one.
    """

    def __init__(
        self,
        target: str | os.PathLike,
        sample_rate: int,
        channels: int,
        fmt: str = "wav24",
        *,
        sources: tuple[str | os.PathLike, ...] = (),
    ) -> None:
        self.target = Path(target)
        if fmt not in WRITE_FORMATS:
            raise ParameterError(f"unknown output format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
        self.fmt = fmt
        for src in sources:
            if _same_file(Path(src), self.target) or Path(src).resolve() == self.target.resolve():
                raise OutputError(
                    f"{self.target}: refusing to write over the source file; choose another output name"
                )
        folder = self.target.parent if str(self.target.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"{folder}: output folder does not exist; create it first")
        if self.target.is_dir():
            raise OutputError(f"{self.target}: is a folder; give a file name for the output")
        major, subtype, _ = WRITE_FORMATS[fmt]
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp-roomtone", dir=folder)
            os.close(fd)
        except OSError as exc:
            raise _write_error(folder, exc) from None
        self._tmp = Path(tmp)
        try:
            self._sf = sf.SoundFile(str(self._tmp), "w", samplerate=sample_rate, channels=channels,
                                    format=major, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.target}: cannot write {fmt} at {sample_rate} Hz, {channels} ch ({exc})") from None
        self.channels = channels
        self.frames_written = 0
        self._done = False

    def write(self, block: np.ndarray) -> None:
        """Append a ``(channels, n)`` float32 block."""
        if block.shape[0] != self.channels:
            raise ParameterError(f"expected {self.channels} channels, got a block of shape {block.shape}")
        try:
            self._sf.write(np.ascontiguousarray(block.T))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise _write_error(self.target, exc) from None
        self.frames_written += block.shape[1]

    def commit(self) -> None:
        try:
            self._sf.close()
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self._tmp, self.target)
        except OSError as exc:
            self.abort()
            raise _write_error(self.target, exc) from None
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        try:
            self._sf.close()
        except Exception:  # noqa: BLE001
            pass
        self._tmp.unlink(missing_ok=True)
        self._done = True

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._done:
            self.abort()


def _write_error(where: Path, exc: BaseException) -> OutputError:
    err = getattr(exc, "errno", None)
    if err == errno.ENOSPC or "No space" in str(exc):
        return OutputError(f"{where}: disk full while writing; free some space or choose another folder. Nothing was written")
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in str(exc):
        return OutputError(f"{where}: not writable (permission denied); choose a folder you can write to")
    return OutputError(f"{where}: writing failed ({exc}); nothing was written")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, fmt: str = "wav24", *,
                sources: tuple[str | os.PathLike, ...] = ()) -> None:
    """Write a whole ``(channels, samples)`` array atomically."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    with AtomicWriter(path, sample_rate, audio.shape[0], fmt, sources=sources) as w:
        w.write(audio)
        w.commit()
