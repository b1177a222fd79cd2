"""Frozen entry point of the workstation (``roomtone-gui``): ``app.qt.app.run``.

Arguments are the GUI's own: a file to open, ``--demo``, ``--self-test`` (the smoke test).
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes of a frozen app re-enter here
    from app.qt.app import run

    sys.exit(int(run(sys.argv[1:]) or 0))
