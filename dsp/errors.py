"""The error hierarchy: every message says what was expected, what was found, and what to do.

The CLI maps a ``RoomtoneError`` to one line on stderr and a non-zero exit code; the GUI to a
dialog. Anything else escaping is a bug in Roomtone, never a user mistake.

What to do is said neutrally here (dsp knows no command-line flags and no buttons): an error may
carry a ``remedy``, one of the names below, that each front end words its own way
(``app.remedies``: ``--learn A-B`` on the command line, "Learn from selection" in the
workstation).
"""

from __future__ import annotations

#: Remedy: learn a room-tone profile, find one automatically, or load a saved one.
NEEDS_PROFILE = "needs-profile"
#: Remedy: learn the profile again from this recording (the one given does not fit it).
LEARN_PROFILE_AGAIN = "learn-profile-again"
#: Remedy: name a noise-only stretch to learn the room tone from (or load a saved profile).
GIVE_NOISE_REGION = "give-noise-region"
REMEDIES = (NEEDS_PROFILE, LEARN_PROFILE_AGAIN, GIVE_NOISE_REGION)


class RoomtoneError(Exception):
    """Base of every error that is the user's to fix (a bad file, setting or device).

    ``remedy`` (keyword only) names what the user can do, from :data:`REMEDIES`; the message
    itself stays complete without it.
    """

    #: Process exit code the CLI uses for this kind of error.
    exit_code = 1

    def __init__(self, *args: object, remedy: str | None = None) -> None:
        super().__init__(*args)
        if remedy is not None and remedy not in REMEDIES:
            raise ValueError(f"unknown remedy {remedy!r}; known: {REMEDIES}")
        self.remedy = remedy


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
