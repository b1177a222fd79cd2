"""Helpers for the monitor tests on JACK's dummy driver (the fixture is in conftest.py).

``jack_server`` starts ``jackd -d dummy`` (48 kHz, 256-frame periods, 2 in / 2 out) under a
name of its own (``JACK_DEFAULT_SERVER``), re-initialises PortAudio so it sees it, and on
teardown terminates PortAudio *before* stopping jackd (the other order aborts the interpreter at
exit, ENVIRONMENT.md). It tries real-time scheduling first (``-R``: immune to the load other
processes put on the machine) and falls back to ``--no-realtime``.

``Capture`` records what the device receives: a second PortAudio stream whose input ports are
connected (``jack_connect``) to the monitor's output ports, so it gets exactly the float32
samples the monitor handed to JACK, one period later.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass

import numpy as np

RATE = 48000
PERIOD = 256


@dataclass
class JackServer:
    name: str
    process: subprocess.Popen
    realtime: bool

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, JACK_DEFAULT_SERVER=self.name)
        return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=10)

    def ports(self) -> list[str]:
        return [p.strip() for p in self.run("jack_lsp").stdout.splitlines() if p.strip()]


def start_jackd(name: str, realtime: bool) -> subprocess.Popen | None:
    mode = ["-R"] if realtime else ["--no-realtime"]
    cmd = ["jackd", "-n", name, *mode, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD), "-C", "2", "-P", "2"]
    env = dict(os.environ, JACK_DEFAULT_SERVER=name)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        ok = subprocess.run(["jack_wait", "-c"], env=env, capture_output=True, text=True)
        if "running" in ok.stdout and "not" not in ok.stdout:
            return proc
        time.sleep(0.1)
    proc.terminate()
    proc.wait(5)
    return None


_CAPTURE_CB = None


@contextlib.contextmanager
def running_jack_server(name: str):
    """Start a JACK dummy server called ``name``, point PortAudio at it, yield a :class:`JackServer`.

    Skips when jackd is not installed. On exit PortAudio is terminated *before* jackd stops (the
    other order aborts the interpreter at exit, ENVIRONMENT.md), ``JACK_DEFAULT_SERVER`` is put
    back and PortAudio re-initialised, so whatever server was current before is current again.
    No jackd is left running.
    """
    import shutil

    import pytest

    if shutil.which("jackd") is None or shutil.which("jack_connect") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no real-time test device")
    old_env = os.environ.get("JACK_DEFAULT_SERVER")

    def restore_env() -> None:
        if old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old_env

    os.environ["JACK_DEFAULT_SERVER"] = name
    proc, realtime = start_jackd(name, True), True
    if proc is None:
        proc, realtime = start_jackd(name, False), False
    if proc is None:
        restore_env()
        pytest.fail("jackd is installed but its dummy driver did not start")
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    try:
        yield JackServer(name, proc, realtime)
    finally:
        sd._terminate()  # BEFORE stopping jackd
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        restore_env()
        sd._initialize()


def _capture_callback() -> int:
    """A native input callback: append the input to a preallocated buffer, without the GIL.

    (A Python callback in the same JACK client would make every cycle wait for the GIL, and
    the xruns it causes would be blamed on the monitor.) ``user`` points to an int64 header
    ``[frames_written, capacity_frames, channels, 0...]`` (16 slots) followed by float32 audio.
    """
    global _CAPTURE_CB
    if _CAPTURE_CB is None:
        from numba import carray, cfunc, types

        import dsp.jit  # noqa: F401 - numba cache folder

        sig = types.intc(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64, types.voidptr)

        @cfunc(sig, nopython=True, cache=True)
        def cb(inp, outp, frames, time_info, status, user):  # pragma: no cover - native
            h = carray(user, (16,), np.int64)
            n0, cap, ch = h[0], h[1], h[2]
            data = carray(user, (32 + cap * ch,), np.float32)
            src = carray(inp, (frames * ch,), np.float32)
            m = min(frames, max(0, cap - n0))
            for k in range(m * ch):
                data[32 + n0 * ch + k] = src[k]
            h[0] = n0 + frames
            return 0

        _CAPTURE_CB = cb
    return int(_CAPTURE_CB.address)


class Capture:
    """Record what the device receives (see module docstring)."""

    def __init__(self, server: JackServer, seconds: float, channels: int = 2) -> None:
        import sounddevice as sd

        self.server = server
        cap = int(seconds * RATE)
        self.block = np.zeros(32 + cap * channels, np.float32)
        self.block.fill(0.0)  # fault the pages in now, not in the audio thread
        self.header = self.block[:32].view(np.int64)
        self.header[1], self.header[2] = cap, channels
        self.buf = self.block[32:].reshape(cap, channels)
        before = set(server.ports())
        ffi = sd._ffi
        self.stream = sd._StreamBase(
            kind="input", samplerate=RATE, blocksize=PERIOD, channels=channels, dtype="float32",
            callback=ffi.cast("PaStreamCallback*", _capture_callback()),
            userdata=ffi.cast("void*", int(self.block.ctypes.data)), wrap_callback=None,
        )
        self.stream.start()
        self.in_ports = sorted(p for p in set(server.ports()) - before if ":in_" in p)
        if len(self.in_ports) != channels:
            raise RuntimeError(f"capture ports not found: {self.in_ports}")
        for p in self.in_ports:
            for src in server.run("jack_lsp", "-c", p).stdout.splitlines()[1:]:
                server.run("jack_disconnect", src.strip(), p)

    @property
    def n(self) -> int:
        """Frames received so far."""
        return int(self.header[0])

    def connect(self, out_ports: list[str]) -> None:
        for src, dst in zip(out_ports, self.in_ports, strict=False):
            r = self.server.run("jack_connect", src, dst)
            if r.returncode != 0:
                raise RuntimeError(f"jack_connect {src} {dst}: {r.stderr}")

    @property
    def frames(self) -> int:
        return min(self.n, self.buf.shape[0])

    def close(self) -> np.ndarray:
        self.stream.stop()
        self.stream.close()
        return self.buf[: self.frames].copy()


def output_ports_of(server: JackServer, before: set[str]) -> list[str]:
    return sorted(p for p in set(server.ports()) - before if ":out_" in p)


def align(captured: np.ndarray, reference: np.ndarray, *, probe: int = 4800) -> int:
    """Offset ``k`` with ``captured[k + i] ~ reference[i]``: normalised cross-correlation on a
    loud probe window of the reference."""
    ref = reference[0] if reference.ndim == 2 else reference
    cap = captured[:, 0].astype(np.float64)
    energy = np.convolve(ref.astype(np.float64) ** 2, np.ones(probe), mode="valid")
    p0 = int(np.argmax(energy[: max(1, len(ref) // 2)]))
    seg = ref[p0 : p0 + probe].astype(np.float64)
    corr = np.correlate(cap, seg, mode="valid")
    local = np.sqrt(np.convolve(cap**2, np.ones(probe), mode="valid")) + 1e-12
    return int(np.argmax(corr / local)) - p0
