"""A batch over dev files: loudness targets met, bad files reported, report written, reruns skip."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from app.batch.runner import STATE_DIR, BatchRunner, slug_for
from app.batch.worker import BatchOptions
from app.cli import main
from app.presets import load_preset

pyln = pytest.importorskip("pyloudnorm")


def _options(**kw) -> BatchOptions:
    return BatchOptions(chain=load_preset("podcast").to_dict(), **kw)


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _reference_tp(x: np.ndarray) -> float:
    y = scipy.signal.resample_poly(x.astype(np.float64), 8, 1, axis=0)
    return 20 * math.log10(np.abs(y).max())


@pytest.mark.slow
def test_batch_cli_meets_loudness_reports_bad_files_and_writes_report(batch_folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["batch", str(batch_folder), str(out), "--loudness", "podcast", "--workers", "2"])
    err = capsys.readouterr().err
    assert rc == 3  # only unreadable inputs failed
    assert "2 done" in err and "2 failed" in err
    assert "corrupt.wav" in err and "empty.flac" in err and "empty (0 bytes)" in err
    outputs = [out / "ep01.flac", out / "season1" / "ep02.flac"]
    for p in outputs:
        x, sr = sf.read(p, dtype="float64")
        assert x.ndim == 1  # mono sources stay mono: target -19 LUFS
        lufs = pyln.Meter(sr).integrated_loudness(x)
        assert abs(lufs - (-19.0)) <= 0.5, (p, lufs)
        assert _reference_tp(x) <= -1.0 + 0.05, p
    assert not (out / "corrupt.flac").exists() and not (out / "empty.flac").exists()
    # the report: one page, PNGs, both bad files named with their reasons
    html = (out / "report" / "index.html").read_text("utf-8")
    assert "ep01.flac" in html and "season1/ep02.flac" in html
    assert "could not be processed" in html and "corrupt.wav" in html and "empty.flac" in html
    assert "Meets spec" in html
    for name in ("ep01.flac", "season1/ep02.flac"):
        rep = json.loads((out / "report" / "files" / f"{slug_for(Path(name))}.json").read_text())
        assert rep["loudness"]["target_lufs"] == -19.0
        assert rep["after"]["true_peak_dbtp"] <= -1.0
        assert rep["before"]["noise_floor_dbfs"] is not None and rep["after"]["snr_db"] is not None
        assert rep["holes"]["audited"] and "found" in rep["holes"] and "remaining" in rep["holes"]
        assert set(rep["images"]) == {"before", "after", "loudness"}
        for key, img in rep["images"].items():
            data = (out / "report" / img).read_bytes()
            # the spectrograms hold detail; the loudness picture is lines and bars (compresses well)
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > (1000 if key == "loudness" else 5000)
        assert rep["speaker_levels"]["before"]["phrases"] > 0
        assert rep["output_hash"] == _sha(out / rep["output_rel"])
    # the ledger
    db = sqlite3.connect(out / STATE_DIR / "roomtone-batch.sqlite")
    rows = dict(db.execute("SELECT rel, status FROM files").fetchall())
    assert rows == {"ep01.flac": "done", "season1/ep02.flac": "done", "corrupt.wav": "failed", "empty.flac": "failed"}
    # inputs untouched, no leftovers
    assert sorted(p.name for p in batch_folder.rglob("*")) == sorted(
        ["ep01.flac", "season1", "ep02.flac", "corrupt.wav", "empty.flac", "notes.txt"])
    assert not list(out.rglob("*.tmp-roomtone"))
    assert not list((out / STATE_DIR / "tmp").glob("*")) if (out / STATE_DIR / "tmp").exists() else True
    # a rerun skips the finished files (outputs untouched) and retries only the bad ones
    stamps = {p: os.stat(p).st_mtime_ns for p in outputs}
    rc = main(["batch", str(batch_folder), str(out), "--workers", "2", "-q"])
    err = capsys.readouterr().err
    assert rc == 3 and "2 already done (skipped)" in err
    assert {p: os.stat(p).st_mtime_ns for p in outputs} == stamps


@pytest.mark.slow
def test_batch_without_loudness_equals_roomtone_clean(dev_data, tmp_path):
    from tests.app.batch.conftest import make_folder

    src = make_folder(dev_data, tmp_path, bad=False)
    out = tmp_path / "out"
    summary = BatchRunner(src, out, _options(loudness="off", hole_audit=False), workers=1).run()
    assert summary.done == 2 and summary.failed == 0
    assert main(["clean", str(src / "ep01.flac"), "-o", str(tmp_path / "cli.flac"), "--no-record", "-q"]) == 0
    a, _ = sf.read(out / "ep01.flac", dtype="int16")
    b, _ = sf.read(tmp_path / "cli.flac", dtype="int16")
    np.testing.assert_array_equal(a, b)


def test_batch_refuses_output_inside_or_equal_to_input(batch_folder, capsys):
    assert main(["batch", str(batch_folder), str(batch_folder)]) == 4
    assert "output folder is the input folder" in capsys.readouterr().err


@pytest.mark.slow
def test_report_names_never_collide(dev_data, tmp_path):
    """'ep 1.wav' and 'ep_1.wav' (and 'é.wav' and 'ü.wav') each get their own report JSON and pictures."""
    import shutil

    from tests.app.batch.conftest import DEV_FILES

    src = tmp_path / "in"
    src.mkdir()
    names = ["ep 1.flac", "ep_1.flac", "\u00e9.flac", "\u00fc.flac"]
    for i, name in enumerate(names):
        shutil.copy(dev_data / DEV_FILES[i % 2], src / name)
    out = tmp_path / "out"
    summary = BatchRunner(src, out, _options(loudness="off", hole_audit=False), workers=1).run()
    assert summary.done == 4
    slugs = {slug_for(Path(n)) for n in names}
    assert len(slugs) == 4
    reports = [json.loads(p.read_text("utf-8")) for p in (out / "report" / "files").glob("*.json")]
    assert sorted(r["file"] for r in reports) == sorted(names)
    images = {img for r in reports for img in r["images"].values()}
    assert len(images) == 12 and all((out / "report" / img).is_file() for img in images)
    html = (out / "report" / "index.html").read_text("utf-8")
    from app.batch.report import name_html

    for name in names:
        assert html.count(f">{name_html(name)}<") >= 1, name
