"""The ``roomtone`` command line: subcommands, error mapping, exit codes.

Each subcommand lives in ``app.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func=run`` with ``run(args) -> int``. A user mistake (any
:class:`~dsp.errors.RoomtoneError`) becomes one line on stderr and its exit code; a bug becomes
one line naming a crash log with the traceback. Never a traceback on the terminal.

This module never imports Qt, and imports nothing that loads numba before
:func:`dsp.jit.configure_cache` has run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback
from datetime import datetime
from pathlib import Path

from app.paths import log_dir
from app.remedies import explain
from dsp import __version__
from dsp.errors import RoomtoneError
from dsp.jit import configure_cache  # sets NUMBA_CACHE_DIR before numba is first imported

#: Subcommand modules, in help order; a module that does not exist yet is skipped.
COMMANDS = ("info", "clean", "render", "profile", "holes", "prosody", "batch", "gui")

EXIT_CODES = """\
exit codes:
  0    success
  1    other Roomtone error
  2    bad usage or parameter (unknown option, preset, setting, time range)
  3    input problem (missing, empty, truncated, corrupt or unsupported file)
  4    output problem (unwritable folder, disk full, would overwrite the source)
  5    audio device problem
  70   internal error (a bug in Roomtone; the message names a crash log)
  130  cancelled (Ctrl+C)
  143  cancelled (terminated: SIGTERM)
"""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl+C so every cleanup that runs on a cancel (temporary files) runs."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def handle_sigterm(handler=_terminate):
    """Install ``handler`` for SIGTERM; return the previous one (None where it cannot be set:
    not the main thread, or no SIGTERM on this platform)."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError, AttributeError):
        return None


class RoomtoneArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = RoomtoneArgumentParser(
        prog="roomtone",
        description="Roomtone: light, transparent clean-up of spoken word (room tone, denoise passes, hole refill).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roomtone {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=RoomtoneArgumentParser)
    sub.required = True
    for name in COMMANDS:
        modname = f"app.commands.{name}"
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _crash_log(exc: BaseException) -> Path | None:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (
        f"roomtone crash {datetime.now().isoformat(timespec='seconds')}\n"
        f"argv: {sys.argv!r}\npython: {sys.version}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    for folder in (log_dir(), Path(os.environ.get("TMPDIR", "/tmp"))):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``roomtone``; returns the exit code (the console script exits with it)."""
    configure_cache()
    previous = handle_sigterm()
    try:
        return _run(argv)
    finally:
        if previous is not None:
            handle_sigterm(previous)


def _unrecognized(command: str, extra: list[str]) -> None:
    """Refuse arguments the subcommand does not know, naming the subcommand's own help (exit 2)."""
    hint = ""
    if command == "batch" and {"-o", "--output"} & set(extra):
        hint = "; batch takes the output folder as its second argument: roomtone batch IN_DIR OUT_DIR"
    sys.stderr.write(f"roomtone {command}: error: unrecognized arguments: {' '.join(extra)}{hint} "
                     f"(see 'roomtone {command} --help')\n")
    raise SystemExit(2)


def _run(argv: list[str] | None) -> int:
    """Parse ``argv`` and run the subcommand; every error becomes one line and an exit code."""
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:
            _unrecognized(args.command, extra)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except RoomtoneError as exc:
        sys.stderr.write(f"roomtone: error: {_one_line(explain(exc, 'cli'))}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        sys.stderr.write("\nroomtone: cancelled; nothing was written\n")
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # e.g. `roomtone info ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line + crash log, never a raw traceback
        path = _crash_log(exc)
        where = f"the details are in {path}" if path else "no crash log could be written"
        sys.stderr.write(
            f"roomtone: internal error (a bug in Roomtone, not your mistake): {type(exc).__name__}: "
            f"{_one_line(exc)[:200]}; {where}; please report it\n"
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
