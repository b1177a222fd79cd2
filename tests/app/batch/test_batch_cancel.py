"""Cancelling a batch (the dialog's Stop, Ctrl+C) stops the workers, keeps the lock until they are gone,
and leaves the ledger true: nothing is written after the run returns, nothing done is called queued."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.batch.runner import STATE_DIR, BatchRunner
from app.batch.worker import BatchOptions
from app.presets import load_preset
from dsp.errors import Cancelled

REPO = Path(__file__).resolve().parents[3]


def _folder(dev_data: Path, root: Path, copies: int = 3) -> Path:
    src = root / "in"
    src.mkdir()
    for i in range(copies):
        shutil.copy(dev_data / "podcast" / "podcast_dev_2min_noisy.flac", src / f"episode_{i + 1}.flac")
    return src


def _ledger(out: Path) -> dict[str, str]:
    db = sqlite3.connect(out / STATE_DIR / "roomtone-batch.sqlite")
    try:
        return dict(db.execute("SELECT rel, status FROM files").fetchall())
    finally:
        db.close()


def _lock_is_free(out: Path) -> bool:
    import fcntl

    with open(out / STATE_DIR / "lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


def _check_truth(out: Path) -> None:
    rows = _ledger(out)
    for rel, status in rows.items():
        written = (out / rel).exists()
        assert status in ("done", "queued"), (rel, status)
        assert written == (status == "done"), (rel, status, written)
    assert not list(out.rglob("*.tmp-roomtone"))
    tmp = out / STATE_DIR / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


@pytest.mark.slow
def test_cancel_stops_workers_before_returning(dev_data, tmp_path):
    src = _folder(dev_data, tmp_path)
    out = tmp_path / "out"
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), hole_audit=False)
    running = threading.Event()

    def on_update(p):
        if any(f.status == "running" and f.fraction > 0.05 for f in p.files):
            running.set()

    runner = BatchRunner(src, out, opts, workers=1, on_update=on_update)
    outcome: dict = {}

    def work():
        try:
            outcome["summary"] = runner.run()
        except Cancelled as exc:
            outcome["cancelled"] = str(exc)
        outcome["returned"] = time.monotonic()

    thread = threading.Thread(target=work)
    thread.start()
    assert running.wait(120), "no file started"
    t_cancel = time.monotonic()
    runner.cancel()
    thread.join(60)
    assert not thread.is_alive()
    assert "cancelled" in outcome
    assert outcome["returned"] - t_cancel < 10.0  # the running file stops at its next block
    # when run() returns the workers are gone and the lock is free
    assert not multiprocessing.active_children()
    assert _lock_is_free(out)
    _check_truth(out)
    before = sorted(p.name for p in out.rglob("*.flac"))
    time.sleep(3.0)  # nothing is written after the run returned
    assert sorted(p.name for p in out.rglob("*.flac")) == before
    _check_truth(out)
    assert list(_ledger(out).values()).count("queued") >= 2
    assert "run the same command again" in outcome["cancelled"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT")
def test_ctrl_c_in_a_terminal_stops_the_batch_cleanly(dev_data, tmp_path):
    src = _folder(dev_data, tmp_path)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "batch", str(src), str(out), "--no-hole-audit", "--workers", "1"],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    # wait until a file is being processed (its temporary folder exists)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tmp = out / STATE_DIR / "tmp"
        if tmp.exists() and any(tmp.iterdir()):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("no file started")
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl+C does: the whole process group
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10.0
    assert proc.returncode == 130, err
    assert "batch cancelled" in err and "Traceback" not in err and "nothing was written" not in err.split("batch cancelled")[0]
    # no worker of the group is left running (multiprocessing's resource tracker exits on its own
    # once its parent is gone: allow it a moment)
    gone = time.monotonic() + 5.0
    while time.monotonic() < gone:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        out_ps = subprocess.run(["ps", "-o", "pid,args", "-g", str(proc.pid)], capture_output=True, text=True).stdout
        pytest.fail(f"processes left in the batch's group: {out_ps}")
    assert _lock_is_free(out)
    _check_truth(out)


def test_run_restores_the_sigint_handler(dev_data, tmp_path):
    before = signal.getsignal(signal.SIGINT)
    src = tmp_path / "in"
    src.mkdir()  # an empty folder: the run plans nothing and returns
    BatchRunner(src, tmp_path / "out", BatchOptions(chain=load_preset("podcast").to_dict()), workers=1).run()
    assert signal.getsignal(signal.SIGINT) is before
