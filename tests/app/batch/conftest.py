"""A small batch folder: two short 16 kHz dev mixtures (one in a subfolder), a corrupt and an empty file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DEV_FILES = (
    "mixtures/s03_libri_198__hum_50hz__snr00_noisy.flac",
    "mixtures/s04_libri_3436__cafe_coffeeshop__snr15_noisy.flac",
)


def make_folder(dev_data: Path, root: Path, *, bad: bool = True) -> Path:
    src = root / "in"
    (src / "season1").mkdir(parents=True)
    shutil.copy(dev_data / DEV_FILES[0], src / "ep01.flac")
    shutil.copy(dev_data / DEV_FILES[1], src / "season1" / "ep02.flac")
    if bad:
        (src / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(256)) * 8)
        (src / "empty.flac").write_bytes(b"")
        (src / "notes.txt").write_text("not audio")
    return src


@pytest.fixture
def batch_folder(dev_data, tmp_path) -> Path:
    return make_folder(dev_data, tmp_path)
