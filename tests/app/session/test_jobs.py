"""Jobs: progress, cancel (through render_blocks), error capture, poll, shutdown."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from app.session.jobs import Job, JobRunner
from app.session.project import Project
from app.session.session import Session, render_project
from dsp.errors import Cancelled
from dsp.render import ArraySource, render_blocks

from . import make_chain, register_test_kinds, unregister_test_kinds, write_test_wav


@pytest.fixture
def runner():
    r = JobRunner(max_workers=2)
    yield r
    r.shutdown()


def poll_until(runner: JobRunner, n: int, timeout: float = 10.0) -> list[Job]:
    got: list[Job] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += runner.poll()
        time.sleep(0.005)
    assert len(got) == n, f"only {len(got)} of {n} jobs finished"
    return got


def test_result_and_progress(runner):
    seen = []

    def work(progress, is_cancelled):
        for i in range(1, 5):
            progress(i / 4)
            seen.append(i / 4)
        return 42

    job = runner.submit("Compute", work)
    (done,) = poll_until(runner, 1)
    assert done is job and job.ok and job.result == 42 and job.progress == 1.0 and seen == [0.25, 0.5, 0.75, 1.0]
    assert runner.poll() == [] and runner.active == []
    assert job.elapsed_s >= 0 and "done" in repr(job)


def test_progress_done_total_form_and_clamp():
    job = Job("x")
    job.set_progress(250, 1000)
    assert job.progress == 0.25
    job.set_progress(5.0)
    assert job.progress == 1.0
    job.set_progress(3, 0)
    assert job.progress == 1.0


def test_progress_visible_while_running(runner):
    gate = threading.Event()

    def work(progress, is_cancelled):
        progress(0.5)
        gate.wait(5)
        return "ok"

    job = runner.submit("Half", work)
    deadline = time.monotonic() + 5
    while job.progress < 0.5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert job.progress == 0.5 and job.running and not job.done and runner.active == [job]
    gate.set()
    poll_until(runner, 1)
    assert job.ok


def test_error_is_captured_not_lost(runner):
    def work(progress, is_cancelled):
        raise ValueError("bad region 3-2 s")

    job = runner.submit("Analyse", work)
    poll_until(runner, 1)
    assert isinstance(job.error, ValueError) and "bad region" in str(job.error)
    assert "ValueError" in job.traceback and not job.ok and job.result is None and "failed" in repr(job)


def test_cancel_running_render_raises_cancelled_inside(runner):
    x = np.zeros((1, 10_000_000), np.float32)
    from dsp.engine import Gain

    blocks = []

    def work(progress, is_cancelled):
        for b in render_blocks(ArraySource(x, 16000), Gain(-3), block_size=4096, progress=progress,
                               cancel=is_cancelled):
            blocks.append(b.shape[1])
        return "finished"

    job = runner.submit("Render", work)
    deadline = time.monotonic() + 5
    while not blocks and time.monotonic() < deadline:
        time.sleep(0.001)
    job.cancel()
    poll_until(runner, 1)
    assert job.cancelled and job.error is None and not job.ok and job.result is None
    assert 0 < sum(blocks) < x.shape[1] and 0 < job.progress < 1


def test_cancel_before_start_never_runs():
    r = JobRunner(max_workers=1)
    gate = threading.Event()
    ran = []
    try:
        first = r.submit("Blocker", lambda p, c: gate.wait(5))
        second = r.submit("Queued", lambda p, c: ran.append(1))
        second.cancel()
        gate.set()
        jobs = poll_until(r, 2)
        assert set(jobs) == {first, second}
        assert ran == [] and second.cancelled and second.done and first.ok
    finally:
        r.shutdown()


def test_job_ignoring_cancel_is_not_ok(runner):
    gate = threading.Event()
    job = runner.submit("Stubborn", lambda p, c: gate.wait(5) and "result")
    job.cancel()
    gate.set()
    poll_until(runner, 1)
    assert job.cancelled and not job.ok  # the GUI discards its result


def test_poll_returns_each_job_once_in_finish_order(runner):
    events = [threading.Event() for _ in range(3)]
    jobs = [runner.submit(f"J{i}", lambda p, c, e=e: e.wait(5)) for i, e in enumerate(events[:2])]
    events[1].set()
    (first,) = poll_until(runner, 1)
    events[0].set()
    (second,) = poll_until(runner, 1)
    assert (first, second) == (jobs[1], jobs[0])


def test_shutdown_cancels_and_refuses_new_jobs():
    r = JobRunner(max_workers=1)
    started = threading.Event()

    def work(progress, is_cancelled):
        started.set()
        while not is_cancelled():
            time.sleep(0.002)
        raise Cancelled("stopped")

    job = r.submit("Loop", work)
    started.wait(5)
    r.shutdown()
    assert job.done and job.cancelled
    with pytest.raises(RuntimeError, match="shut down"):
        r.submit("late", lambda p, c: None)


def test_render_job_result_applied_on_gui_thread(tmp_path, runner, request):
    """The pattern the GUI uses: a job renders a Project snapshot, the result comes back via apply."""
    register_test_kinds()
    request.addfinalizer(unregister_test_kinds)
    session = Session(Project(chain=make_chain()))
    session.open_source(write_test_wav(tmp_path / "ep.wav", seconds=1.0))
    snapshot = session.project
    out = tmp_path / "after.wav"
    job = runner.submit("Apply chain", lambda progress, is_cancelled: render_project(
        snapshot, out, "float32", progress=progress, cancel=is_cancelled))
    (done,) = poll_until(runner, 1)
    assert done is job and done.ok, done.traceback
    session.apply("Apply chain", lambda p: p.with_analysis("render", {"path": str(out), "frames": done.result.frames}))
    assert session.project.analyses["render"]["frames"] == 16000 and out.exists()
    assert dataclasses.replace(session.project, analyses={}) == snapshot
