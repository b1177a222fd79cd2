"""SIGKILL a running `roomtone batch`, rerun it: the rest is finished, nothing done is redone, nothing is corrupt."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from app.batch.runner import STATE_DIR
from app.cli import main
from tests.app.batch.conftest import DEV_FILES

REPO = Path(__file__).resolve().parents[3]


def _done(db_path: Path) -> dict[str, tuple[str, str]]:
    if not db_path.exists():
        return {}
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            return {r: (s, h) for r, s, h in db.execute("SELECT rel, status, output_hash FROM files")}
    except sqlite3.Error:
        return {}


@pytest.mark.slow
def test_sigkill_midway_then_rerun_finishes_the_rest(dev_data, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    names = []
    for i in range(6):
        name = f"ep{i:02d}.flac"
        shutil.copy(dev_data / DEV_FILES[i % 2], src / name)
        names.append(name)
    out = tmp_path / "out"
    db_path = out / STATE_DIR / "roomtone-batch.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "batch", str(src), str(out), "--workers", "1", "-q"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            done = [r for r, (s, _) in _done(db_path).items() if s == "done"]
            if done or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"batch ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its worker processes, mid-file
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    before = _done(db_path)
    done_before = {r for r, (s, _) in before.items() if s == "done"}
    assert 1 <= len(done_before) < len(names), before
    stamps = {r: os.stat(out / r).st_mtime_ns for r in done_before}

    rc = main(["batch", str(src), str(out), "--resume", "--workers", "2", "-q"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{len(names) - len(done_before)} done" in err
    assert f"{len(done_before)} already done (skipped)" in err
    after = _done(db_path)
    assert set(after) == set(names) and all(s == "done" for s, _ in after.values())
    for r in done_before:  # not redone
        assert os.stat(out / r).st_mtime_ns == stamps[r]
        assert after[r] == before[r]
    for r in names:  # every output decodes fully and is the one the ledger recorded
        x, sr = sf.read(out / r, dtype="float32")
        assert x.shape[0] == sf.info(src / r).frames and sr == 16000
        assert hashlib.sha256((out / r).read_bytes()).hexdigest() == after[r][1]
    assert not list(out.rglob("*.tmp-roomtone"))
    assert not any((out / STATE_DIR / "tmp").glob("*")) if (out / STATE_DIR / "tmp").exists() else True
    html = (out / "report" / "index.html").read_text("utf-8")
    assert all(n in html for n in names)
