"""Output devices: list them, pick one, check a format, open a stream; failures are DeviceErrors.

``sounddevice`` (PortAudio) is imported lazily, inside functions, so that importing
``app.audio`` works on a machine without PortAudio and so that a test can point JACK at its own
server (``JACK_DEFAULT_SERVER``) first. Every PortAudio failure is turned into a
:class:`dsp.errors.DeviceError` whose message names the device, says what went wrong and what
to do.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsp.errors import DeviceError

#: Buffer sizes offered in preferences (frames per callback).
BLOCK_SIZES = (64, 128, 256, 512, 1024, 2048)


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio library missing
        raise DeviceError(
            f"audio output is unavailable: the PortAudio library could not be loaded ({exc}); "
            "install it (Debian/Ubuntu: apt-get install libportaudio2) and restart Roomtone"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class OutputDevice:
    """One output device as PortAudio reports it."""

    index: int
    name: str
    host_api: str
    max_output_channels: int
    default_sample_rate: float
    default_low_latency_s: float
    default_high_latency_s: float
    is_default: bool = False

    @property
    def label(self) -> str:
        """Name shown in preferences: ``name (host API)``."""
        return f"{self.name} ({self.host_api})"


#: Said when PortAudio cannot be re-initialised in this process (see :func:`sound_server_lost`).
SERVER_LOST = (
    "the JACK sound server Roomtone was playing through has stopped; audio output cannot be "
    "reconnected until Roomtone restarts (editing and export still work): save your work and restart it"
)
JACK_NO_START_SERVER = 0x01  # jack_options_t: never start a server just to ask

_server_lost = False
_abandoned: list[Any] = []  # streams of a lost JACK server: never touched (or collected) again
_jack_silence: Any = None  # libjack's error/info callbacks, kept alive


def _libjack() -> Any:
    """libjack through ctypes (None when it is not installed)."""
    global _jack_silence
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
    except OSError:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    if _jack_silence is None:  # "cannot connect to server" is an answer here, not an error to print
        _jack_silence = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda _msg: None)
        lib.jack_set_error_function(_jack_silence)
        lib.jack_set_info_function(_jack_silence)
    return lib


def jack_server_running() -> bool:
    """Whether the JACK server PortAudio would use (``JACK_DEFAULT_SERVER``) is running.

    Asked through libjack with ``JackNoStartServer``: a short-lived client opens and closes;
    no server is started.
    """
    import ctypes

    lib = _libjack()
    if lib is None:
        return False
    status = ctypes.c_int(0)
    client = lib.jack_client_open(b"roomtone-probe", JACK_NO_START_SERVER, ctypes.byref(status))
    if not client:
        return False
    lib.jack_client_close(client)
    return True


def sound_server_lost() -> bool:
    """True when PortAudio's JACK client has lost its server.

    PortAudio cannot recover from that in the same process: terminating it then fails an
    assertion in its JACK host API and aborts the process, and closing a stream of that server
    blocks for ever. Once lost, sounddevice's exit handler (which terminates PortAudio) is
    dropped so that quitting Roomtone stays clean, and :func:`rescan` refuses with
    :data:`SERVER_LOST`. (A JACK server stopped *and* started again while Roomtone had no
    stream open is not noticed here.)
    """
    global _server_lost
    if _server_lost:
        return True
    sd = _sd()
    try:
        jack = any("JACK" in str(api["name"]) for api in sd.query_hostapis())
    except Exception:  # noqa: BLE001 - PortAudio not initialised: nothing of JACK's to lose
        return False
    if not jack or jack_server_running():
        return False

    _server_lost = True
    atexit.unregister(sd._exit_handler)
    return True


def abandon_stream(stream: Any) -> None:
    """Keep ``stream`` (of a lost JACK server) referenced and untouched until the process ends."""
    _abandoned.append(stream)


def rescan() -> None:
    """Ask PortAudio to enumerate devices again (a device plugged in, a sound server started).

    Only call it with no stream open (``Monitor.rescan_devices`` makes sure). Raises
    :class:`DeviceError` when PortAudio cannot be re-initialised in this process.
    """
    if sound_server_lost():
        raise DeviceError(SERVER_LOST)
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_output_devices() -> list[OutputDevice]:
    """All devices with at least one output channel (empty list if there are none)."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_out = sd.default.device[1]
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices ({exc}); check the sound system and retry") from None
    out = []
    for info in devices:
        if info["max_output_channels"] < 1:
            continue
        out.append(
            OutputDevice(
                index=int(info["index"]),
                name=str(info["name"]),
                host_api=str(apis[info["hostapi"]]["name"]),
                max_output_channels=int(info["max_output_channels"]),
                default_sample_rate=float(info["default_samplerate"]),
                default_low_latency_s=float(info["default_low_output_latency"]),
                default_high_latency_s=float(info["default_high_output_latency"]),
                is_default=int(info["index"]) == default_out,
            )
        )
    return out


def resolve_output_device(device: int | str | None) -> OutputDevice:
    """The device for a preference value: ``None`` (system default), an index, or a name.

    A name matches a device's name or label exactly, or else as a unique case-insensitive
    substring. Raises :class:`DeviceError` listing the devices available when nothing fits.
    """
    devices = list_output_devices()
    if not devices:
        raise DeviceError(
            "no audio output device found; connect headphones or an audio interface "
            "(or start the sound server) and choose it in Preferences > Audio"
        )
    available = "; ".join(d.label for d in devices)
    if device is None or device == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, int):
        for d in devices:
            if d.index == device:
                return d
        raise DeviceError(
            f"output device #{device} is not available (unplugged?); available: {available}. "
            "Choose another one in Preferences > Audio"
        )
    name = str(device)
    exact = [d for d in devices if name in (d.name, d.label)]
    if exact:
        return exact[0]
    partial = [d for d in devices if name.lower() in d.label.lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise DeviceError(
            f"output device {name!r} is ambiguous: it matches {', '.join(d.label for d in partial)}; "
            "give the full name in Preferences > Audio"
        )
    raise DeviceError(
        f"output device {name!r} is not available (unplugged, or taken by another program); "
        f"available: {available}. Choose another one in Preferences > Audio"
    )


def output_channels(device: OutputDevice) -> int:
    """Channels the monitor opens: stereo where possible (headphones), else mono."""
    return 2 if device.max_output_channels >= 2 else 1


def supports_rate(device: OutputDevice, sample_rate: int, channels: int) -> bool:
    """Whether the device accepts ``sample_rate`` for float32 output."""
    sd = _sd()
    try:
        sd.check_output_settings(device=device.index, channels=channels, dtype="float32", samplerate=sample_rate)
    except (sd.PortAudioError, ValueError):
        return False
    return True


def choose_rate(device: OutputDevice, file_rate: int, channels: int) -> int:
    """The file's own rate if the device takes it (no resampling), else the device's default."""
    if supports_rate(device, file_rate, channels):
        return int(file_rate)
    return int(round(device.default_sample_rate))


def open_output_stream(
    device: OutputDevice,
    *,
    sample_rate: int,
    channels: int,
    block_size: int,
    callback: Callable[..., None] | int,
    finished_callback: Callable[[], None] | None = None,
    latency: float | str = "low",
    userdata: int | None = None,
) -> Any:
    """Open (not start) a float32 output stream; failures raise :class:`DeviceError`.

    ``callback`` is either a Python callable (``sounddevice.OutputStream``) or the address of a
    native PortAudio callback, with ``userdata`` the address handed to it (a raw stream: the
    callback then runs without the GIL).
    """
    sd = _sd()
    common = dict(
        samplerate=sample_rate, blocksize=block_size, device=device.index, channels=channels,
        dtype="float32", latency=latency, finished_callback=finished_callback,
        prime_output_buffers_using_stream_callback=True,
    )
    try:
        if isinstance(callback, int):
            ffi = sd._ffi
            return sd._StreamBase(
                kind="output", callback=ffi.cast("PaStreamCallback*", callback),
                userdata=ffi.cast("void*", userdata or 0), wrap_callback=None, **common,
            )
        return sd.OutputStream(callback=callback, **common)
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(
            f"cannot open output device {device.label!r} at {sample_rate} Hz, {channels} channel(s), "
            f"{block_size}-frame buffer ({exc}); choose another device or buffer size in "
            "Preferences > Audio"
        ) from None
