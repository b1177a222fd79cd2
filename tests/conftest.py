"""Test set-up shared by every test: headless Qt, a writable numba cache, the dev data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

REPO = Path(__file__).resolve().parents[1]
#: ../shared/data beside the checkout (never copied into the repo).
DATA = Path(os.environ.get("ROOMTONE_DEV_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def dev_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"dev data not found at {DATA} (set ROOMTONE_DEV_DATA)")
    return DATA
