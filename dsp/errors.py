"""The error hierarchy: every message says what was expected, what was found, and what to do.

The CLI maps a ``RoomtoneError`` to one line on stderr and a non-zero exit code; the GUI to a
dialog. Anything else escaping is a bug in Roomtone, never a user mistake.
"""

from __future__ import annotations


class RoomtoneError(Exception):
    """Base of every error that is the user's to fix (a bad file, setting or device)."""

    #: Process exit code the CLI uses for this kind of error.
    exit_code = 1


class InputError(RoomtoneError):
    """An input file is missing, empty, truncated, corrupt or of an unsupported format."""

    exit_code = 3


class ParameterError(RoomtoneError, ValueError):
    """A setting, region, preset or profile is out of range or does not fit the audio."""

    exit_code = 2


class OutputError(RoomtoneError):
    """The output cannot be written: unwritable folder, disk full, or it would overwrite the source."""

    exit_code = 4


class DeviceError(RoomtoneError):
    """An audio device is missing, vanished, or refused the requested format."""

    exit_code = 5


class Cancelled(RoomtoneError):
    """The user cancelled a long operation; nothing was written."""

    exit_code = 130
