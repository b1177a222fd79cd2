"""Frozen entry point of the ``roomtone`` command line (the console script ``app.cli:main``)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes of a frozen app re-enter here
    from app.cli import main

    sys.exit(main())
