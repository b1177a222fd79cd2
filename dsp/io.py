"""Audio files in and out: block-wise reading of any supported file, atomic writing.

This is the only module where the file layout ``(frames, channels)`` appears; everything it
returns is ``(channels, samples)`` float32. Reading never holds the whole file (except MP3, see
``_WHOLE_DECODE_FORMATS``: libsndfile 1.2.2's MP3 decoder is wrong across read calls); writing goes to
a temporary file in the target folder that is renamed over the target only when complete, so a
crash, error or cancel never leaves a half-written file under the target name.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    "wav32": ("WAV", "PCM_32", ".wav"),
    "float32": ("WAV", "FLOAT", ".wav"),
    "float64": ("WAV", "DOUBLE", ".wav"),
    "flac16": ("FLAC", "PCM_16", ".flac"),
    "flac24": ("FLAC", "PCM_24", ".flac"),
}

#: Output extensions we write, with the container they mean. The extension decides the container;
#: an output format (above) only chooses the encoding inside it.
OUTPUT_CONTAINERS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC"}

MIN_RATE, MAX_RATE, MAX_CHANNELS = 8000, 192000, 8
#: Float samples beyond this (+60 dBFS) are damaged bytes, not audio (garbage floats reach 1e38,
#: whose powers overflow float32 in the spectral stages); they are read as 0 like NaN and Inf.
MAX_FLOAT_SAMPLE = 1000.0
#: libsndfile's frame count for a file whose length it does not know (a FLAC with total samples 0).
_UNKNOWN_LENGTH = 2**62


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


#: Compressed formats whose libsndfile decoders are not sample-exact under seeks (measured with
#: libsndfile 1.2.2: a Vorbis seek back after a read returns different samples). We decode them
#: forward in fixed chunks from the start of the file, so every read returns exactly what one
#: whole read would.
_STREAM_FORMATS = ("MP3", "OGG")
#: libsndfile 1.2.2's MP3 decoder drops ~2000 samples to silence at the boundary between two
#: read calls (any call size, even whole MPEG frames; one whole read matches ffmpeg to 1e-6).
#: Until a fixed libsndfile ships, an MP3 is decoded in ONE call on first use and held in memory
#: (float32: about 10 MB per minute of 44.1 kHz stereo); every other format streams in blocks.
_WHOLE_DECODE_FORMATS = ("MP3",)
_STREAM_CHUNK = 1152 * 56
#: A lossy decoder may deliver slightly fewer frames than its header estimates (MP3 without an
#: exact Xing/LAME tag); up to this many missing frames at the very end are padded with silence.
_STREAM_SLACK = 2 * 1152


def _open_error(path: Path, exc: Exception) -> InputError:
    try:  # first what the file system says (permission, a dangling link, I/O): not "corrupt"
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as os_exc:
        return unreadable(path, os_exc)
    text = str(exc).replace(f"Error opening {str(path)!r}: ", "").strip()
    ext = path.suffix.lower()
    if ext not in READ_FORMATS:
        return InputError(
            f"{path}: unsupported format '{ext or '(no extension)'}'. Roomtone reads WAV, FLAC, OGG/Vorbis, "
            "Opus, MP3 and AIFF; convert the file to one of those (e.g. ffmpeg -i IN OUT.wav)"
        )
    kind = READ_FORMATS[ext]
    if "does not exist or is not a regular file" in text or "Format not recognised" in text:
        text = "no valid audio data found"
    return InputError(
        f"{path}: cannot read it as {kind} audio ({text}); the file is corrupt or not an audio file: "
        "re-export or re-copy it"
    )


def unreadable(path: str | os.PathLike, exc: OSError | None = None) -> InputError:
    """The one-line error for a source that cannot be opened at the file-system level.

    Says what happened in words (a link to a file that does not exist, no such file, a folder,
    permission denied) instead of ``[Errno 2] No such file or directory: '...'``.

    Parameters
    ----------
    path : str or os.PathLike
        The source as the user named it.
    exc : OSError, optional
        What the operating system said, when there was an error.
    """
    path = Path(path)
    err = getattr(exc, "errno", None)
    if path.is_symlink() and not path.exists():
        return InputError(
            f"{path}: is a link to {os.readlink(path)}, which does not exist; fix the link or remove it"
        )
    if err == errno.ENOENT or (exc is None and not path.exists()):
        return InputError(f"{path}: no such file; check the path")
    if err == errno.EISDIR or (exc is None and path.is_dir()):
        return InputError(f"{path}: is a folder, expected an audio file")
    if err in (errno.EACCES, errno.EPERM):
        return InputError(f"{path}: permission denied; make the file readable (or copy it somewhere you can read)")
    why = exc.strerror if exc is not None and exc.strerror else str(exc)
    return InputError(f"{path}: cannot read it ({why})")


def _crc8(data: bytes) -> int:
    """FLAC's frame-header CRC-8 (polynomial x^8 + x^2 + x + 1, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _utf8_number(b: bytes, q: int) -> tuple[int, int] | None:
    """FLAC's UTF-8-like coded frame or sample number at ``b[q]``: ``(value, bytes)``, or None."""
    if q >= len(b):
        return None
    first = b[q]
    if first < 0x80:
        return first, 1
    n = 0  # leading one bits: the number of bytes
    while n < 8 and first & (0x80 >> n):
        n += 1
    if not 2 <= n <= 7 or q + n > len(b):
        return None
    value = first & ((1 << (7 - n)) - 1)
    for c in b[q + 1 : q + n]:
        if c & 0xC0 != 0x80:
            return None
        value = (value << 6) | (c & 0x3F)
    return value, n


def _flac_frame_header(b: bytes, p: int) -> tuple[bool, int, int, tuple[int, int]] | None:
    """The FLAC frame header at ``b[p]``, if one is there with a valid CRC-8.

    Returns
    -------
    (variable, number, block_size, signature) or None
        ``variable``: variable-blocksize stream (``number`` is then the first sample's index,
        else the frame's index); ``signature``: the rate code and the channel/bits byte, equal
        in every frame of a stream.
    """
    if p + 6 > len(b) or b[p] != 0xFF or b[p + 1] not in (0xF8, 0xF9):
        return None
    code, rate_code, layout = b[p + 2] >> 4, b[p + 2] & 0x0F, b[p + 3]
    if code == 0 or rate_code == 15 or layout & 1 or layout >> 4 > 10:
        return None
    number = _utf8_number(b, p + 4)
    if number is None:
        return None
    q = p + 4 + number[1]
    if code == 1:
        size = 192
    elif 2 <= code <= 5:
        size = 576 << (code - 2)
    elif code >= 8:
        size = 256 << (code - 8)
    else:  # 6, 7: (size - 1) in 8 or 16 bits
        width = code - 5
        if q + width > len(b):
            return None
        size = int.from_bytes(b[q : q + width], "big") + 1
        q += width
    q += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if q >= len(b) or _crc8(b[p:q]) != b[q]:
        return None
    return b[p + 1] == 0xF9, number[0], size, (rate_code, layout)


#: How much of a FLAC's end is searched for its last frame header (frames are at most ~400 KB).
_FLAC_TAIL = 1 << 20


def _flac_last_frame(fh, size: int, variable: bool, signature: tuple[int, int]) -> tuple[int, int] | None:
    """``(number, block_size)`` of the last frame header in a FLAC's tail, or None."""
    start = max(0, size - _FLAC_TAIL)
    fh.seek(start)
    tail = fh.read(size - start)
    sync = b"\xff\xf9" if variable else b"\xff\xf8"
    end = len(tail)
    while (p := tail.rfind(sync, 0, end)) >= 0:
        h = _flac_frame_header(tail, p)
        if h is not None and h[3] == signature:
            return h[1], h[2]
        end = p + 1
    return None


def flac_header_repair(path: str | os.PathLike) -> tuple[bytes, str] | None:
    """A corrected STREAMINFO for a FLAC whose header contradicts its frames, or None.

    Two header faults make libsndfile fail where ffmpeg decodes the file fully:

    * **block sizes** that understate the frames (an edited or buggy header: 16-16 for frames
      of 4096): libsndfile decodes the file in one call but fails on the second block read
      ("psf_fseek() failed"). For a fixed-blocksize stream the first frame's size is every
      frame's size, so the two sizes are set to it.
    * **total samples 0**, which the format allows for "unknown" (an encoder writing to a pipe
      cannot go back to fill it in): libsndfile then reports 2**63 - 1 frames. The last
      frame's header (number and size) gives the true length.

    The file itself is never written: :class:`AudioReader` reads it through a view with the
    corrected 34 bytes.

    Returns
    -------
    (bytes, str) or None
        The 34 STREAMINFO bytes for offsets 8-41 and a note saying what was corrected; None
        when the header is consistent, the file is not FLAC, or nothing can be judged.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:  # STREAMINFO comes first
                return None
            info = bytearray(fh.read(34))
            if len(info) < 34:
                return None
            pos, last = 4, bool(head[4] & 0x80)
            length = int.from_bytes(head[5:8], "big")
            while not last:  # skip the metadata blocks to the first frame
                pos += 4 + length
                fh.seek(pos)
                block = fh.read(4)
                if len(block) < 4:
                    return None
                last, length = bool(block[0] & 0x80), int.from_bytes(block[1:4], "big")
            pos += 4 + length
            fh.seek(pos)
            first = _flac_frame_header(fh.read(32), 0)
            if first is None:
                return None
            variable, _, size, signature = first
            total = ((info[13] & 0x0F) << 32) | int.from_bytes(info[14:18], "big")
            notes = []
            if total == 0:
                found = _flac_last_frame(fh, os.fstat(fh.fileno()).st_size, variable, signature)
                if found is None:
                    return None
                number, last_size = found
                total = (number if variable else number * size) + last_size
                info[13] = (info[13] & 0xF0) | (total >> 32)
                info[14:18] = (total & 0xFFFFFFFF).to_bytes(4, "big")
                notes.append(f"the FLAC header does not say how long it is; its last frame ends at {total} samples")
    except OSError:
        return None
    lo, hi = int.from_bytes(info[0:2], "big"), int.from_bytes(info[2:4], "big")
    if not variable and not lo == hi == size and size < total:  # one short frame says nothing of the rest
        info[0:4] = size.to_bytes(2, "big") * 2
        notes.append(f"the FLAC header says blocks of {lo}-{hi} samples but its frames hold {size}; read as {size}")
    if not notes:
        return None
    return bytes(info), "; ".join(notes) + " (the file is unchanged)"


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_mpeg_probe(path: Path):
    """Silence the C-level stderr while libsndfile probes a non-``.mp3`` file that starts like MPEG audio.

    Such a file (garbage, or an MP3 under another name) is handed to libmpg123, whose probe
    prints "Note: Illegal Audio-MPEG-Header ..." straight onto file descriptor 2, ahead of our
    one-line error. Only that case is silenced (the redirect is process-wide, for the open call).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    mpeg = len(head) == 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and path.suffix.lower() != ".mp3"
    if not mpeg:
        yield
        return
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class _PatchedFile(io.RawIOBase):
    """A read-only file whose bytes ``[offset, offset + len(patch))`` read as ``patch``."""

    def __init__(self, path: Path, offset: int, patch: bytes) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset, self._patch = offset, patch

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(pos, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buf) -> int:
        start = self._fh.tell()
        n = self._fh.readinto(buf)
        lo, hi = max(start, self._offset), min(start + n, self._offset + len(self._patch))
        if lo < hi:
            memoryview(buf)[lo - start : hi - start] = self._patch[lo - self._offset : hi - self._offset]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _riff_declared_bytes(path: Path, size: int) -> tuple[int, int] | None:
    """For RIFF/WAVE and AIFF: (declared bytes of sample data, bytes actually present), else None.

    libsndfile silently shortens a truncated WAV/AIFF to what is there; we want to say so.
    Unfinalised headers (size 0 or 0xFFFFFFFF, as left by a crashed recorder) return None.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                little, data_id = True, b"data"
            elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                little, data_id = False, b"SSND"
            else:
                return None
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None
                n = int.from_bytes(hdr[4:], "little" if little else "big")
                if hdr[:4] == data_id:
                    if n in (0, 0xFFFFFFFF):
                        return None
                    return n, size - (pos + 8)
                pos += 8 + n + (n & 1)
    except OSError:
        return None
    return None


def format_for_source(info: AudioInfo, container: str | None = None) -> str:
    """The output format that keeps what the source had, in ``container`` ("WAV" or "FLAC").

    Without a container the source's own is used (FLAC stays FLAC, everything else becomes WAV,
    except lossy sources, which become FLAC). Within the container the sample kind and depth are
    kept: 16-bit (and 8-bit) stays 16-bit, 24-bit 24-bit, 32-bit integer 32-bit, float 32-bit
    float and double 64-bit float in WAV. FLAC holds at most 24-bit integers, so 32-bit integer
    and float sources become 24-bit FLAC (:func:`format_note` says so). Lossy sources (MP3,
    Vorbis, Opus) become 24-bit: decoding them yields more than 16 bits.
    """
    if container is None:
        container = "FLAC" if info.format == "FLAC" or info.format in _STREAM_FORMATS else "WAV"
    if info.format in _STREAM_FORMATS:
        return "flac24" if container == "FLAC" else "wav24"
    sixteen = info.subtype in ("PCM_16", "PCM_U8", "PCM_S8")
    if container == "FLAC":
        return "flac16" if sixteen else "flac24"
    if sixteen:
        return "wav16"
    return {"PCM_32": "wav32", "FLOAT": "float32", "DOUBLE": "float64"}.get(info.subtype, "wav24")


_SUBTYPE_WORDS = {
    "PCM_U8": "8-bit", "PCM_S8": "8-bit", "PCM_16": "16-bit", "PCM_24": "24-bit", "PCM_32": "32-bit integer",
    "FLOAT": "32-bit float", "DOUBLE": "64-bit float",
}


def format_note(info: AudioInfo | None, fmt: str) -> str | None:
    """A line saying how ``fmt`` changes the source's sample depth or kind, or None when it keeps it."""
    if info is None or info.format in _STREAM_FORMATS or fmt not in WRITE_FORMATS:
        return None
    major, subtype, _ = WRITE_FORMATS[fmt]
    have = _SUBTYPE_WORDS.get(info.subtype)
    want = _SUBTYPE_WORDS[subtype]
    if have is None or have == want or (have == "8-bit" and want == "16-bit"):
        return None
    why = " (FLAC holds at most 24-bit integers)" if major == "FLAC" and info.subtype in ("PCM_32", "FLOAT", "DOUBLE") else ""
    return f"the source is {have}; written as {want} {major}{why}"


def output_format(target: str | os.PathLike, fmt: str | None = None, source: AudioInfo | None = None) -> str:
    """The output format for writing ``target``: its extension decides the container.

    The one rule for every output (``roomtone clean``, the GUI export, batch): ``.wav``/``.wave``
    is WAV and ``.flac`` is FLAC; any other name is refused (Roomtone writes no lossy or AIFF
    files). ``fmt`` may choose the encoding inside that container and is refused when it names
    another container; without it the source's own depth is kept (:func:`format_for_source`).

    Parameters
    ----------
    target : path
        The output file name (or a temporary file of ours for it, see :func:`make_temp`).
    fmt : str, optional
        A :data:`WRITE_FORMATS` name.
    source : AudioInfo, optional
        The source, for the default encoding (without one: 24-bit).

    Returns
    -------
    str
        A :data:`WRITE_FORMATS` name whose container matches the extension.

    Raises
    ------
    ParameterError
        For an unknown ``fmt``, a ``fmt`` of another container, or an extension Roomtone does
        not write.
    """
    target = Path(target)
    staged = _TEMP_RE.match(target.name)  # a temporary file of ours: its final name counts
    if staged:
        target = target.with_name(staged["name"])
    ext = target.suffix.lower()
    if fmt is not None and fmt not in WRITE_FORMATS:
        raise ParameterError(f"unknown output format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
    container = OUTPUT_CONTAINERS.get(ext)
    if container is None:
        what = f"'{ext}' files" if ext else "files without an extension"
        lossy = " (convert the result afterwards, e.g. ffmpeg -i OUT.flac OUT.mp3)" if ext in READ_FORMATS else ""
        raise ParameterError(
            f"{target.name}: Roomtone does not write {what}; name the output .wav or .flac{lossy}"
        )
    if fmt is not None:
        have = WRITE_FORMATS[fmt][0]
        if have != container:
            fits = ", ".join(k for k, v in WRITE_FORMATS.items() if v[0] == container)
            raise ParameterError(
                f"format {fmt} writes {have}, but the output name {target.name!r} says {container}; "
                f"name it {target.with_suffix(WRITE_FORMATS[fmt][2]).name!r} or choose {fits}"
            )
        return fmt
    if source is None:
        return "flac24" if container == "FLAC" else "wav24"
    return format_for_source(source, container)


class AudioReader:
    """Random-access, block-wise reader. ``read(start, n)`` -> ``(channels, n)`` float32.

    Any read returns exactly the samples a single whole-file read would (Ogg through a forward
    decoder in fixed chunks, where a seek backwards re-decodes from the start; MP3 decoded whole
    on first use and held in memory). Damaged float samples (NaN, Inf, or beyond
    ``MAX_FLOAT_SAMPLE``: bytes that were never audio) are counted (``nonfinite_count``) and
    replaced by 0, so a damaged recording still renders; the CLI reports how many were found.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.nonfinite_count = 0
        self.warnings: list[str] = []
        self._patched: _PatchedFile | None = None  # a FLAC read through corrected block sizes
        if not self.path.exists():
            raise unreadable(self.path)
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected an audio file")
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise InputError(f"{self.path}: cannot access it ({exc.strerror})") from None
        if size == 0:
            raise InputError(f"{self.path}: the file is empty (0 bytes); re-export or re-copy it")
        self._sf = self._open()
        info = AudioInfo(
            str(self.path), self._sf.format, self._sf.subtype, self._sf.samplerate,
            self._sf.channels, self._sf.frames,
        )
        self.info = info
        if info.frames <= 0:
            self.close()
            raise InputError(f"{self.path}: holds no audio (0 frames); the file is empty or truncated")
        if info.frames >= _UNKNOWN_LENGTH:
            self.close()
            raise InputError(
                f"{self.path}: the header does not say how long the audio is and its end cannot be found; "
                "the file is damaged: re-encode it (e.g. ffmpeg -i IN -c:a flac OUT.flac) or re-copy it"
            )
        if not MIN_RATE <= info.sample_rate <= MAX_RATE:
            self.close()
            raise InputError(
                f"{self.path}: sample rate {info.sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz; resample it first"
            )
        if info.channels > MAX_CHANNELS:
            self.close()
            raise InputError(f"{self.path}: {info.channels} channels; Roomtone handles 1 to {MAX_CHANNELS}")
        declared = _riff_declared_bytes(self.path, size)
        if declared is not None and declared[0] > declared[1]:
            self.close()
            frame_bytes = max(1, declared[1] // max(1, info.frames)) if info.frames else 1
            promised = declared[0] / frame_bytes / info.sample_rate
            raise InputError(
                f"{self.path}: truncated: the header promises {promised:.2f} s of audio but the file ends after "
                f"{info.duration_s:.2f} s ({declared[1]} of {declared[0]} data bytes); re-export or re-copy it"
            )
        self._stream = info.format in _STREAM_FORMATS
        self._pos = 0
        # forward-decoder state (MP3/Ogg): samples decoded so far, and the last chunk
        self._dec_pos = 0
        self._chunk = np.zeros((0, info.channels), np.float32)
        self._chunk_start = 0

    def _open(self) -> sf.SoundFile:
        try:
            repair = flac_header_repair(self.path)
            if repair is None:
                with _quiet_mpeg_probe(self.path):
                    return sf.SoundFile(str(self.path))
            self._patched = _PatchedFile(self.path, 8, repair[0])
            if repair[1] not in self.warnings:
                self.warnings.append(repair[1])
            return sf.SoundFile(self._patched)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise _open_error(self.path, exc) from None

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

    def _corrupt(self, at: int, exc: Exception) -> InputError:
        return InputError(
            f"{self.path}: reading failed at {at / self.sample_rate:.2f} s ({exc}); the file is truncated or "
            "corrupt: re-export or re-copy it"
        )

    def _short(self, got_to: int) -> InputError:
        return InputError(
            f"{self.path}: truncated: the header promises {self.info.duration_s:.2f} s but the audio ends near "
            f"{got_to / self.sample_rate:.2f} s; re-export or re-copy the file"
        )

    def _read_direct(self, start: int, frames: int) -> np.ndarray:
        try:
            if start != self._pos:
                self._sf.seek(start)
            data = self._sf.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise self._corrupt(start, exc) from None
        if data.shape[0] != frames:
            raise self._short(start + data.shape[0])
        return data

    def _decode_chunk(self) -> None:
        """Decode the next whole chunk (forward decoder for MP3/Ogg)."""
        at = self._dec_pos
        whole = self.info.format in _WHOLE_DECODE_FORMATS
        try:
            data = self._sf.read(-1 if whole else _STREAM_CHUNK, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise self._corrupt(at, exc) from None
        want = self.frames - at if whole else min(_STREAM_CHUNK, self.frames - at)
        if data.shape[0] < want:
            if at + data.shape[0] < self.frames - _STREAM_SLACK:
                raise self._short(at + data.shape[0])
            pad = np.zeros((want - data.shape[0], self.channels), np.float32)
            data = np.concatenate([data, pad])
            self.warnings.append(
                f"the decoder delivered {at + data.shape[0] - pad.shape[0]} of {self.frames} frames; padded the end with silence"
            )
        self._chunk = data[:want]
        self._chunk_start = at
        self._dec_pos = at + data.shape[0]

    def _read_stream(self, start: int, frames: int) -> np.ndarray:
        out = np.empty((frames, self.channels), np.float32)
        done = 0
        while done < frames:
            p = start + done
            c0 = self._chunk_start
            if not c0 <= p < c0 + self._chunk.shape[0]:
                target = 0 if self.info.format in _WHOLE_DECODE_FORMATS else p - p % _STREAM_CHUNK
                if target < self._dec_pos:  # backwards: start the decoder again
                    self._sf.close()
                    self._sf = self._open()
                    self._dec_pos = 0
                while self._dec_pos < target:
                    self._decode_chunk()
                self._decode_chunk()
                c0 = self._chunk_start
            n = min(frames - done, c0 + self._chunk.shape[0] - p)
            out[done : done + n] = self._chunk[p - c0 : p - c0 + n]
            done += n
        return out

    def read(self, start: int, frames: int) -> np.ndarray:
        """Samples ``[start, start + frames)`` as ``(channels, frames)`` float32 (damaged samples -> 0)."""
        if start < 0 or frames < 0 or start + frames > self.info.frames:
            raise ParameterError(
                f"read of [{start}, {start + frames}) is outside the file's {self.info.frames} frames"
            )
        data = self._read_stream(start, frames) if self._stream else self._read_direct(start, frames)
        self._pos = start + frames
        out = np.ascontiguousarray(data.T)
        if self.info.subtype in ("FLOAT", "DOUBLE") or self._stream:
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(out) <= MAX_FLOAT_SAMPLE)  # NaN compares false: caught too
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
        if self._patched is not None:
            self._patched.close()

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


def check_target(target: str | os.PathLike, *, sources: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Check that ``target`` can be an output (not a source, in an existing folder); return the folder.

    Raises
    ------
    OutputError
        If the target is one of ``sources``, is a folder, or its folder is missing or a file.
    """
    target = Path(target)
    for src in sources:
        if _same_file(Path(src), target) or Path(src).resolve() == target.resolve():
            raise OutputError(f"{target}: refusing to write over the source file; choose another output name")
    folder = target.parent if str(target.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; the output {target.name!r} cannot go there")
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist; create it first")
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name for the output")
    return folder


#: Our temporary files: ``.NAME.PID.XXXXXXXX.tmp-roomtone`` beside the target (XXXXXXXX from mkstemp).
TEMP_SUFFIX = ".tmp-roomtone"
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (True when it cannot be told, so nothing of it is removed)."""
    if sys.platform == "win32" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove our temporary files in ``folder`` whose writing process is gone; return them.

    Ours by name (``.NAME.PID.XXXXXXXX.tmp-roomtone``, see :func:`make_temp`) AND the process
    ``PID`` no longer runs (a SIGKILL, a power cut): a concurrent writer's temp file is never
    touched. Failures to list or remove are ignored (the next run tries again).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def make_temp(target: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """Create an empty temporary file beside ``target`` (named with our pid); return its path.

    Stale temporaries of ours in that folder (their process gone) are removed first.

    Raises
    ------
    OutputError
        If the folder is not writable or full.
    """
    target = Path(target)
    folder = Path(folder) if folder is not None else (target.parent if str(target.parent) else Path("."))
    remove_stale_temps(folder)
    staged = _TEMP_RE.match(target.name)  # a temporary file of ours for a staged target: name it by the target
    name = staged["name"] if staged else target.name
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=folder)
        os.close(fd)
    except OSError as exc:
        raise _write_error(folder, exc) from None
    return Path(tmp)


def _default_file_mode() -> int:
    """The mode a plainly created file gets (0o666 minus the umask); mkstemp's files are 0o600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def stage_text(target: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``text`` (str as UTF-8, or bytes) to a temporary file beside ``target`` (fsynced,
    the umask's mode); return it.

    The caller renames it over the target (``os.replace``) or removes it. On any failure the
    temporary file is removed and nothing is left.

    Raises
    ------
    OutputError
        If the folder is missing or not writable, or the disk is full.
    """
    target = Path(target)
    folder = check_target(target)
    tmp = make_temp(target, folder)
    try:
        with open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fchmod(fh.fileno(), _default_file_mode())
            os.fsync(fh.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(target, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_text_atomic(target: str | os.PathLike, text: str | bytes) -> None:
    """Write a text file (a render record, a profile, a project, a report; or bytes: a PNG) atomically.

    Every text file Roomtone writes goes through here: a temporary file beside the target named
    with our pid, fsynced, given the umask's mode (like any plainly created file), then renamed
    over the target; on any failure the temporary file is removed and the target is unchanged.

    Raises
    ------
    OutputError
        If the folder is missing or not writable, or the disk is full.
    """
    target = Path(target)
    tmp = stage_text(target, text)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(target, exc) from None


class AtomicWriter:
    """Writes audio blocks to a temporary file beside ``target``; ``commit()`` renames it over.

    Use as a context manager: leaving the block with an exception (or without ``commit()``)
    removes the temporary file, so the target is either the old file or the complete new one.
    With ``background``, the encoding (FLAC's costs as much as decoding it) runs on a thread of
    its own, at most two blocks behind :meth:`write`; a failed write is raised by the next
    :meth:`write` or by :meth:`commit`, and nothing is renamed.
    """

    def __init__(
        self,
        target: str | os.PathLike,
        sample_rate: int,
        channels: int,
        fmt: str = "wav24",
        *,
        sources: tuple[str | os.PathLike, ...] = (),
        background: bool = False,
    ) -> None:
        self.target = Path(target)
        if fmt not in WRITE_FORMATS:
            raise ParameterError(f"unknown output format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
        output_format(self.target, fmt)
        self.fmt = fmt
        folder = check_target(self.target, sources=sources)
        major, subtype, _ = WRITE_FORMATS[fmt]
        self._tmp = make_temp(self.target, folder)
        try:
            self._sf = sf.SoundFile(str(self._tmp), "w", samplerate=sample_rate, channels=channels,
                                    format=major, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.target}: cannot write {fmt} at {sample_rate} Hz, {channels} ch ({exc})") from None
        self.channels = channels
        self.frames_written = 0
        #: Samples beyond full scale, clipped by the integer formats (float32 keeps them).
        self.clipped_samples = 0
        self._integer = subtype not in ("FLOAT", "DOUBLE")
        self._pcm16 = subtype == "PCM_16"
        self._done = False
        self._queue: Any = None
        self._thread: threading.Thread | None = None
        self._failed: OutputError | None = None
        if background:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._encode, name="roomtone-write", daemon=True)
            self._thread.start()

    def write(self, block: np.ndarray) -> None:
        """Append a ``(channels, n)`` float32 block."""
        if block.shape[0] != self.channels:
            raise ParameterError(f"expected {self.channels} channels, got a block of shape {block.shape}")
        if self._failed is not None:
            raise self._failed
        if self._integer:
            self.clipped_samples += int(np.count_nonzero(np.abs(block) > 1.0))
        data = _to_pcm16(block) if self._pcm16 else block
        if self._queue is not None:
            frame = np.ascontiguousarray(data.T)
            if np.may_share_memory(frame, block):  # the encoder keeps it: a copy the caller cannot change
                frame = frame.copy()
            self._queue.put(frame)
        else:
            self._put(np.ascontiguousarray(data.T))
        self.frames_written += block.shape[1]

    def _put(self, frame: np.ndarray) -> None:
        try:
            self._sf.write(frame)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise _write_error(self.target, exc, need_bytes=frame.nbytes) from None

    def _encode(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._failed is None:
                try:
                    self._put(frame)
                except OutputError as exc:
                    self._failed = exc

    def _drain(self) -> None:
        """Wait for the encoder to write what it was given (and stop it)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def commit(self) -> None:
        self._drain()
        if self._failed is not None:
            self.abort()
            raise self._failed
        try:
            self._sf.close()
            with open(self._tmp, "rb+") as fh:
                os.fchmod(fh.fileno(), _default_file_mode())
                os.fsync(fh.fileno())
            os.replace(self._tmp, self.target)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self.abort()
            raise _write_error(self.target, exc) from None
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._failed = self._failed or OutputError(f"{self.target}: the write was abandoned")
        self._drain()  # the encoder skips what is left
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


def _to_pcm16(block: np.ndarray) -> np.ndarray:
    """Float to 16-bit: round(x * 32768), clipped to [-32768, 32767], NaN -> 0.

    2.5x faster than libsndfile's own conversion (which rounds half-LSB cases differently);
    ``k / 32768`` maps back to ``k`` exactly, so a 16-bit source round-trips bit for bit.
    """
    y = np.multiply(block, np.float32(32768.0), dtype=np.float32)
    np.rint(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    nan = np.isnan(y)
    if nan.any():
        y[nan] = 0.0
    return y.astype(np.int16)


def _disk_full(where: Path, need_bytes: int) -> bool:
    """Whether the file system holding ``where`` has less than ``need_bytes`` (+ 64 KiB) free."""
    folder = where if where.is_dir() else where.parent
    try:
        return shutil.disk_usage(folder if str(folder) else ".").free < need_bytes + 65536
    except OSError:
        return False


def _write_error(where: Path, exc: BaseException, *, need_bytes: int = 0) -> OutputError:
    """A one-line :class:`OutputError` for a failed write: disk full, permission, or the OS's words.

    libsndfile reports a failed write(2) as "System error." without the errno, so a failed audio
    write is also called "disk full" when the folder's file system has less than the block left.
    """
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or "No space" in str(exc) or (
        isinstance(exc, (sf.LibsndfileError, RuntimeError)) and _disk_full(where, need_bytes)
    ):
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
