"""Batch runs: find the audio under a folder, plan the jobs, run them on a process pool or Dask.

:class:`BatchRunner` is the one implementation behind ``roomtone batch`` and the batch dialog:

* **Discovery**: every file with an audio extension (:data:`dsp.io.READ_FORMATS`) under the
  input folder, recursively, hidden files and the output folder excluded; outputs keep the
  folder structure (``IN/show/ep1.mp3`` -> ``OUT/show/ep1.flac``).
* **Planning**: each source's SHA-256 and header; a file the ledger says is done with the same
  input and settings hashes, whose output still has the recorded hash, is skipped. A file whose
  header cannot be read fails here, with its message, and does not stop the batch.
* **Execution**: :func:`app.batch.worker.process_job` per file, on a local
  ``ProcessPoolExecutor`` (``spawn`` context; numeric libraries get ``cores / workers`` threads)
  or on an existing Dask ``distributed`` cluster (``scheduler="tcp://host:port"``, or a ready
  ``Client``), whose workers must see the same paths. Progress comes back through a queue
  (a ``multiprocessing`` queue, or a Dask ``Queue``).
* **Safety**: one batch per output folder at a time (a lock file); leftovers of a killed run
  (temporary files) are removed at start; the ledger is written only here. A worker process
  that dies takes only its file with it: the pool is restarted and the other files go on (a
  file that kills two workers fails).
* **Report**: ``OUT/report/index.html`` is rebuilt from the per-file JSON reports at the end of
  every run (finished files of earlier runs included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import queue as _q
import re
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.batch import worker
from app.batch.ledger import LEDGER_NAME, Ledger
from app.batch.loudness import TARGET_CHOICES, TARGETS
from app.batch.report import build_index
from app.batch.worker import BatchOptions, file_sha256, init_pool_worker, process_job
from dsp.errors import Cancelled, OutputError, ParameterError, RoomtoneError
from dsp.io import READ_FORMATS, WRITE_FORMATS, AudioReader, format_for_source, unreadable
from dsp.render import software_versions
from dsp.roomtone import NoiseProfile

STATE_DIR = ".roomtone-batch"
REPORT_DIR = "report"
_TMP_SUFFIX = ".tmp-roomtone"
#: How long a cancelled run waits for its workers to stop at their next block before killing them.
STOP_TIMEOUT_S = 30.0


@dataclass
class FileState:
    """Live progress of one file of the current run."""

    rel: str
    duration_s: float
    status: str = "queued"  # queued | running | done | failed | skipped
    fraction: float = 0.0
    phase: str = ""
    error: str | None = None
    started: float | None = None
    seconds: float | None = None


@dataclass
class BatchProgress:
    """A snapshot of a run for progress displays (copied under the runner's lock)."""

    files: list[FileState] = field(default_factory=list)
    started: float = 0.0
    finished: bool = False
    message: str = ""

    @property
    def total(self) -> int:
        return len(self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def work(self) -> tuple[float, float]:
        """(audio seconds done, audio seconds to do) over the files this run processes."""
        todo = [f for f in self.files if f.status not in ("skipped",)]
        total = sum(f.duration_s for f in todo)
        done = sum(f.duration_s * (1.0 if f.status in ("done", "failed") else f.fraction) for f in todo)
        return done, total

    @property
    def fraction(self) -> float:
        done, total = self.work()
        if total > 0:
            return done / total
        # nothing to process (every file skipped or unreadable): all of it is done, not 0 %
        settled = bool(self.files) and all(f.status in ("done", "failed", "skipped") for f in self.files)
        return 1.0 if self.finished or settled else 0.0

    def eta_s(self) -> float | None:
        done, total = self.work()
        elapsed = time.time() - self.started
        if done <= 0 or elapsed < 1.0:
            return None
        return max(0.0, (total - done) * elapsed / done)


@dataclass
class BatchSummary:
    """What a run did."""

    planned: int
    done: int
    skipped: int
    failed: int
    failures: list[dict]
    report: Path | None
    elapsed_s: float
    out_dir: Path
    ignored: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        parts = [f"{self.done} done"]
        if self.skipped:
            parts.append(f"{self.skipped} already done (skipped)")
        parts.append(f"{self.failed} failed")
        return f"batch finished in {self.elapsed_s:.1f} s: " + ", ".join(parts) + f" of {self.planned} files"


# -- discovery ------------------------------------------------------------------------------------
def discover(in_dir: Path, *, exclude: Path | None = None) -> tuple[list[Path], int]:
    """Audio files under ``in_dir`` (sorted, relative paths) and the number of other files ignored."""
    found, ignored = [], 0
    ex = exclude.resolve() if exclude is not None else None
    for root, dirs, files in os.walk(in_dir):
        rootp = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (ex is None or (rootp / d).resolve() != ex))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = rootp / name
            if p.suffix.lower() in READ_FORMATS:
                found.append(p.relative_to(in_dir))
            else:
                ignored += 1
    return found, ignored


def slug_for(rel: Path) -> str:
    """A file-name-safe id for a relative path, unique to it: ``show/ep 1.wav`` -> ``show__ep_1.wav-1f0c...``.

    The readable part alone is not unique (``ep 1.wav`` and ``ep_1.wav``, or ``é.wav`` and
    ``ü.wav``, both map to one name, and case-insensitive disks fold ``Ep1``/``ep1``), so ten hex
    digits of the path's SHA-1 follow it; the slug names the file's report JSON and pictures.
    """
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(rel.parts)).strip("._-")[:80] or "file"
    digest = hashlib.sha1(rel.as_posix().encode("utf-8")).hexdigest()[:10]
    return f"{readable}-{digest}"


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


class _Lock:
    """An exclusive lock file in the output folder (one batch at a time per folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def acquire(self) -> None:
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held for the run
        try:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory locks; best effort
            pass
        except OSError:
            self._fh.close()
            self._fh = None
            raise OutputError(
                f"{self.path.parent.parent}: another roomtone batch is writing to this folder; wait for it to finish "
                "or choose another output folder"
            ) from None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# -- executors --------------------------------------------------------------------------------------
class _LocalExecutor:
    """A spawn-context process pool with a progress queue; restartable after a worker crash."""

    kind = "local"

    def __init__(self, workers: int) -> None:
        import multiprocessing

        self.workers = max(1, int(workers))
        self._ctx = multiprocessing.get_context("spawn")
        self.queue = self._ctx.Queue()
        self.threads = max(1, (os.cpu_count() or 1) // self.workers)
        self.stop_event = self._ctx.Event()  # set: workers stop at their next block
        self.pool = None
        self._start()

    def _start(self) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=init_pool_worker,
                                        initargs=(self.queue, self.threads, self.stop_event))

    def restart(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._start()

    def submit(self, job: dict):
        return self.pool.submit(process_job, job)

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except (_q.Empty, EOFError, OSError):
                return out

    @staticmethod
    def broken(exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def cancel(self, futures) -> None:
        for f in futures:
            f.cancel()

    def stop(self) -> None:
        """Ask the running jobs to stop at their next block (they return ``cancelled``)."""
        self.stop_event.set()

    def terminate(self) -> None:
        """Kill the worker processes (jobs that did not stop in time) and wait until they are gone."""
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            try:
                proc.terminate()
            except Exception:  # noqa: BLE001 - already gone
                pass
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            proc.join(5.0)

    def close(self, *, wait: bool = True) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=wait, cancel_futures=True)
        try:
            self.queue.close()
            self.queue.join_thread()
        except Exception:  # noqa: BLE001
            pass


def _dask_job(job: dict) -> dict:
    """Dask entry: progress through a distributed Queue named in the job, then :func:`process_job`."""
    name = job.get("progress_queue")
    if name:
        try:
            from distributed import Queue

            q = Queue(name)
            worker.set_progress_sink(lambda msg: q.put(msg, timeout=5))
        except Exception:  # noqa: BLE001 - no progress is better than no result
            worker.set_progress_sink(None)
    try:
        return worker.process_job(job)
    finally:
        worker.set_progress_sink(None)


class _DaskExecutor:
    """Jobs on an existing Dask distributed cluster (shared storage assumed)."""

    kind = "dask"

    def __init__(self, scheduler: str | None = None, client: Any = None) -> None:
        try:
            from distributed import Client, Queue
        except ImportError:
            raise ParameterError("--scheduler needs the 'distributed' package: pip install 'roomtone[batch]'") from None
        if client is None:
            try:
                client = Client(scheduler, timeout=20, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ParameterError(
                    f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it (dask scheduler) or fix the address"
                ) from None
            self._own = True
        else:
            self._own = False
        self.client = client
        self.queue_name = f"roomtone-progress-{uuid.uuid4().hex[:12]}"
        self.queue = Queue(self.queue_name, client=client)
        self.workers = len(client.scheduler_info().get("workers", {})) or 1

    def restart(self) -> None:  # Dask reschedules lost work itself
        pass

    def submit(self, job: dict):
        job = dict(job, progress_queue=self.queue_name)
        return self.client.submit(_dask_job, job, pure=False, key=f"roomtone-{job['slug']}-{uuid.uuid4().hex[:8]}")

    def drain(self) -> list[dict]:
        try:
            n = self.queue.qsize()
            return list(self.queue.get(batch=n)) if n else []
        except Exception:  # noqa: BLE001
            return []

    @staticmethod
    def broken(exc: BaseException) -> bool:
        return False

    def cancel(self, futures) -> None:
        try:
            self.client.cancel(list(futures))
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:  # running Dask tasks are cancelled with their futures
        pass

    def terminate(self) -> None:
        pass

    def close(self, *, wait: bool = True) -> None:
        if self._own:
            self.client.close()


# -- the runner -------------------------------------------------------------------------------------
class BatchRunner:
    """Plan and run a batch (see the module docstring).

    Parameters
    ----------
    in_dir, out_dir : path
        Source folder (read only) and output folder (created if missing; must not be the
        source folder).
    options : BatchOptions
        What is done to every file.
    workers : int, optional
        Local worker processes (default: the number of CPU cores, at most the number of files).
    scheduler : str, optional
        ``tcp://host:port`` of a Dask scheduler: run there instead of locally.
    client : distributed.Client, optional
        A ready Dask client (tests, notebooks); wins over ``scheduler``.
    force : bool
        Redo every file, even those the ledger says are done.
    on_update : callable(BatchProgress), optional
        Called from the running thread on every event and about every 0.2 s.
    """

    def __init__(self, in_dir: str | os.PathLike, out_dir: str | os.PathLike, options: BatchOptions, *,
                 workers: int | None = None, scheduler: str | None = None, client: Any = None, force: bool = False,
                 on_update: Callable[[BatchProgress], None] | None = None) -> None:
        self.in_dir = Path(in_dir).absolute()
        self.out_dir = Path(out_dir).absolute()
        self.options = options
        self.workers = workers
        self.scheduler = scheduler
        self.client = client
        self.force = force
        self.on_update = on_update
        self._lock = threading.Lock()
        self._progress = BatchProgress()
        self._cancel = threading.Event()
        self.summary: BatchSummary | None = None

    # -- control from other threads -----------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the run to stop (running files are abandoned; finished ones stay done)."""
        self._cancel.set()

    def snapshot(self) -> BatchProgress:
        """A copy of the current progress (safe from any thread)."""
        with self._lock:
            p = self._progress
            return BatchProgress(files=[dataclasses.replace(f) for f in p.files], started=p.started,
                                 finished=p.finished, message=p.message)

    @property
    def report_path(self) -> Path:
        return self.out_dir / REPORT_DIR / "index.html"

    def _notify(self) -> None:
        if self.on_update is not None:
            self.on_update(self.snapshot())

    # -- checks ----------------------------------------------------------------------------------------
    def _check_folders(self) -> None:
        if not self.in_dir.is_dir():
            raise ParameterError(f"{self.in_dir}: input folder does not exist (or is a file); give a folder of audio files")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputError(f"{self.out_dir}: is a file; give a folder for the outputs")
        if self.out_dir.resolve() == self.in_dir.resolve():
            raise OutputError(f"{self.out_dir}: the output folder is the input folder; choose another one (inputs are never overwritten)")
        if _is_within(self.in_dir, self.out_dir):
            raise OutputError(f"{self.out_dir}: the input folder is inside the output folder; choose a separate output folder")
        try:
            (self.out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.out_dir}: cannot create the output folder ({exc.strerror or exc})") from None

    def _clean_leftovers(self) -> None:
        """Remove what a killed run left: its temporary renders and half-written outputs."""
        shutil.rmtree(self.out_dir / STATE_DIR / "tmp", ignore_errors=True)
        for root, _dirs, files in os.walk(self.out_dir):
            for name in files:
                if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                    try:
                        (Path(root) / name).unlink()
                    except OSError:
                        pass

    # -- planning -------------------------------------------------------------------------------------
    def _output_for(self, rel: Path, fmt: str, taken: set[Path]) -> Path:
        ext = WRITE_FORMATS[fmt][2]
        out_rel = rel.with_suffix(ext)
        if out_rel in taken:  # ep1.wav and ep1.flac both -> ep1.flac: keep the source type in the name
            out_rel = rel.with_name(f"{rel.stem}_{rel.suffix.lstrip('.').lower()}{ext}")
        taken.add(out_rel)
        return out_rel

    def run(self) -> BatchSummary:
        """Run the batch to the end (or until :meth:`cancel`); returns the :class:`BatchSummary`.

        Raises
        ------
        ParameterError, OutputError
            For unusable folders or options (before anything is processed).
        Cancelled
            When cancelled (the ledger and the report reflect what was finished).
        """
        t0 = time.time()
        settings_hash = self._check_options()
        lock = _Lock(self.out_dir / STATE_DIR / "lock")
        lock.acquire()
        ledger = Ledger(self.out_dir / STATE_DIR / LEDGER_NAME)
        executor = None
        run_id = None
        status = "failed"
        rels: list[Path] = []
        ignored = 0
        previous_sigint = self._catch_sigint()
        try:
            self._clean_leftovers()
            rels, ignored = discover(self.in_dir, exclude=self.out_dir)
            with self._lock:
                self._progress = BatchProgress(started=t0, message=f"checking {len(rels)} files")
            self._notify()
            exec_kind = "dask" if (self.client is not None or self.scheduler) else "local"
            run_id = ledger.begin_run(in_dir=str(self.in_dir), options=self.options.to_dict(),
                                      settings_hash=settings_hash, executor=exec_kind)
            jobs, states, skipped, failed_at_plan = self._plan(rels, ledger, settings_hash, run_id)
            with self._lock:
                self._progress.files = states
                self._progress.message = f"{len(jobs)} to process, {skipped} already done, {failed_at_plan} unreadable"
            self._notify()
            if jobs:
                if exec_kind == "dask":
                    executor = _DaskExecutor(self.scheduler, self.client)
                else:
                    n = self.workers or (os.cpu_count() or 1)
                    executor = _LocalExecutor(min(max(1, n), len(jobs)))
                self._execute(executor, jobs, ledger, run_id)
            status = "finished"
        except Cancelled:
            status = "cancelled"
            raise
        finally:
            if executor is not None:
                if status != "finished":
                    executor.stop()  # an error in this process: the workers stop too
                executor.close(wait=True)  # the lock is held until every worker is gone
            summary = self._finish(ledger, run_id, rels, status, t0, ignored)
            ledger.close()
            lock.release()
            self._restore_sigint(previous_sigint)
            self.summary = summary
        return summary

    def _check_options(self) -> str:
        """Refuse unusable folders, formats, targets or profiles before anything runs; the settings hash."""
        self._check_folders()
        if self.options.fmt is not None and self.options.fmt not in WRITE_FORMATS:
            raise ParameterError(f"unknown output format {self.options.fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")

        if self.options.loudness not in TARGET_CHOICES:
            raise ParameterError(f"unknown loudness target {self.options.loudness!r}; choose one of {', '.join(TARGET_CHOICES)}")
        profile_hash = None
        if self.options.profile_path:
            NoiseProfile.load(self.options.profile_path)  # fail early on a bad profile
            profile_hash = file_sha256(self.options.profile_path)
        return self.options.settings_hash(profile_hash)

    def _plan(self, rels: list[Path], ledger: Ledger, settings_hash: str, run_id: int):
        """The jobs to run and every file's first state; unreadable files fail, finished ones are skipped.

        Returns ``(jobs, states, skipped, failed_at_plan)``.
        """
        jobs: list[dict] = []
        states: list[FileState] = []
        taken: set[Path] = set()
        skipped = failed_at_plan = 0
        for rel in rels:
            if self._cancel.is_set():
                raise Cancelled("batch cancelled before any file was processed; nothing was written")
            job, state = self._plan_file(rel, ledger, settings_hash, run_id, taken, len(jobs))
            states.append(state)
            if job is not None:
                jobs.append(job)
            elif state.status == "skipped":
                skipped += 1
            else:
                failed_at_plan += 1
        return jobs, states, skipped, failed_at_plan

    def _plan_file(self, rel: Path, ledger: Ledger, settings_hash: str, run_id: int, taken: set[Path],
                   job_id: int) -> tuple[dict | None, FileState]:
        """One source file: its job (queued in the ledger), or None with a skipped or failed state."""
        src = self.in_dir / rel
        rel_s = rel.as_posix()
        slug = slug_for(rel)
        try:
            in_hash = file_sha256(src)
            size = src.stat().st_size
        except OSError as exc:
            ledger.mark_failed(rel_s, error=str(unreadable(src, exc)), error_kind="InputError",
                               input_path=str(src), settings_hash=settings_hash, run_id=run_id)
            return None, FileState(rel_s, 0.0, "failed", error=str(unreadable(src, exc)))
        if not self.force and ledger.is_done(rel_s, in_hash, settings_hash):
            row = ledger.get(rel_s)
            taken.add(Path(row.output_rel or ""))
            return None, FileState(rel_s, 0.0, "skipped", fraction=1.0)
        try:
            with AudioReader(src) as r:
                info = r.info
        except RoomtoneError as exc:
            msg = " ".join(str(exc).split())
            ledger.mark_failed(rel_s, error=msg, error_kind=type(exc).__name__, input_path=str(src),
                               input_hash=in_hash, settings_hash=settings_hash, run_id=run_id)
            return None, FileState(rel_s, 0.0, "failed", error=msg)
        fmt = self.options.fmt or format_for_source(info)
        out_rel = self._output_for(rel, fmt, taken)
        out_path = self.out_dir / out_rel
        ledger.queue(rel_s, input_path=str(src), input_hash=in_hash, input_size=size, settings_hash=settings_hash,
                     output_path=str(out_path), output_rel=out_rel.as_posix(), slug=slug, run_id=run_id)
        job = {
            "id": job_id, "input": str(src), "rel": rel_s, "output": str(out_path),
            "output_rel": out_rel.as_posix(), "fmt": fmt, "slug": slug, "input_hash": in_hash,
            "settings_hash": settings_hash, "options": self.options.to_dict(),
            "tmp_dir": str(self.out_dir / STATE_DIR / "tmp" / f"{slug}-{uuid.uuid4().hex[:8]}"),
            "report_dir": str(self.out_dir / REPORT_DIR),
        }
        return job, FileState(rel_s, info.duration_s)

    def _catch_sigint(self):
        """Ctrl+C cancels the run in order (see :meth:`_stop`) instead of interrupting it anywhere."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            previous = signal.signal(signal.SIGINT, lambda signum, frame: self.cancel())
        except ValueError:  # pragma: no cover - not the main interpreter
            return None
        return (previous if previous is not None else signal.SIG_DFL,)  # None: a handler set outside Python

    @staticmethod
    def _restore_sigint(saved) -> None:
        if saved is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, saved[0])

    # -- execution -------------------------------------------------------------------------------------
    def _state(self, rel: str) -> FileState | None:
        for f in self._progress.files:
            if f.rel == rel:
                return f
        return None

    def _execute(self, executor, jobs: list[dict], ledger: Ledger, run_id: int) -> None:
        by_id = {j["id"]: j for j in jobs}
        futures = {executor.submit(j): j["id"] for j in jobs}
        crashes: dict[int, int] = {}
        started: set[int] = set()
        last = 0.0
        while futures:
            if self._cancel.is_set():
                self._cancel_run(executor, futures, by_id, ledger, run_id)
            changed = self._take_progress(executor, by_id, started, ledger)
            finished = [f for f in futures if f.done()]
            resubmit: list[int] = []
            for fut in finished:
                jid = futures.pop(fut)
                job = by_id[jid]
                try:
                    res = fut.result()
                except BaseException as exc:  # noqa: BLE001
                    if executor.broken(exc):
                        resubmit.append(jid)
                        continue
                    res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "error_kind": "InternalError"}
                self._record(ledger, job, res, run_id)
                changed = True
            if resubmit:
                self._restart_pool(executor, futures, by_id, resubmit, crashes, started, ledger, run_id)
                changed = True
            now = time.monotonic()
            if changed or now - last > 0.2:
                last = now
                self._notify()
            if not finished:
                time.sleep(0.05)

    def _cancel_run(self, executor, futures: dict, by_id: dict, ledger: Ledger, run_id: int) -> None:
        """Stop the run in order (see :meth:`_stop`) and raise Cancelled saying what was kept."""
        with self._lock:
            self._progress.message = "stopping"
        self._notify()
        stopped = self._stop(executor, futures, by_id, ledger, run_id)
        with self._lock:
            self._progress.message = "cancelled"
            done = sum(1 for f in self._progress.files if f.status == "done")
        self._notify()
        raise Cancelled(f"batch cancelled: {done} file(s) finished and kept, {stopped} stopped before "
                        "anything of them was written; run the same command again to do the rest")

    def _take_progress(self, executor, by_id: dict, started: set[int], ledger: Ledger) -> bool:
        """The workers' progress messages into the files' states (a first message marks a file running)."""
        changed = False
        for msg in executor.drain():
            jid = msg.get("id")
            job = by_id.get(jid)
            if job is None:
                continue
            with self._lock:
                st = self._state(job["rel"])
                if st is not None and st.status in ("queued", "running"):
                    if st.status == "queued":
                        st.status, st.started = "running", time.time()
                    st.fraction = max(st.fraction, float(msg.get("fraction", 0.0)))
                    st.phase = msg.get("phase", "")
            if jid not in started:
                started.add(jid)
                ledger.mark_running(job["rel"])
            changed = True
        return changed

    def _restart_pool(self, executor, futures: dict, by_id: dict, resubmit: list[int], crashes: dict[int, int],
                      started: set[int], ledger: Ledger, run_id: int) -> None:
        """A worker process died: every file in flight is lost with the pool; the ones that had
        started count a crash (a file that crashes twice fails), the rest go again."""
        time.sleep(0.2)
        for fut, jid in list(futures.items()):
            if fut.done() and fut.exception() is None:
                self._record(ledger, by_id[jid], fut.result(), run_id)
            else:
                resubmit.append(jid)
            del futures[fut]
        executor.restart()
        for jid in resubmit:
            crashes[jid] = crashes.get(jid, 0) + (1 if jid in started else 0)
            started.discard(jid)
            if crashes[jid] >= 2:
                self._record(ledger, by_id[jid], {
                    "status": "failed", "error_kind": "Crash",
                    "error": f"{by_id[jid]['input']}: the worker process crashed twice on this file (out of "
                             "memory, or a decoder crash); check the file"}, run_id)
                continue
            with self._lock:
                st = self._state(by_id[jid]["rel"])
                if st is not None:
                    st.status, st.fraction, st.phase = "queued", 0.0, "restarted"
            futures[executor.submit(by_id[jid])] = jid

    def _stop(self, executor, futures: dict, by_id: dict, ledger: Ledger, run_id: int) -> int:
        """Stop the workers and record the truth: returns how many files were stopped unfinished.

        Jobs not started are dropped; running ones stop at their next block (their temporary
        files removed, no output written) and go back to ``queued``; a job that finished in the
        meantime is recorded as done. Workers that do not stop within :data:`STOP_TIMEOUT_S` are
        killed. When this returns no worker is running, so the folder lock can be released.
        """
        executor.stop()
        executor.cancel(list(futures))
        stopped = 0
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while futures and time.monotonic() < deadline:
            for fut in [f for f in futures if f.done()]:
                job = by_id[futures.pop(fut)]
                res = {"status": "cancelled"}
                if not fut.cancelled():
                    try:
                        res = fut.result()
                    except BaseException:  # noqa: BLE001 - a worker lost while stopping: not written
                        pass
                stopped += res.get("status") != "done"
                self._record(ledger, job, res, run_id)
            executor.drain()
            if futures:
                time.sleep(0.05)
        if futures:
            executor.terminate()
            for jid in futures.values():
                self._record(ledger, by_id[jid], {"status": "cancelled"}, run_id)
                stopped += 1
            futures.clear()
        return stopped

    def _record(self, ledger: Ledger, job: dict, res: dict, run_id: int) -> None:
        rel = job["rel"]
        with self._lock:
            st = self._state(rel)
            if res.get("status") == "cancelled":
                ledger.requeue(rel)
                if st is not None:
                    st.status, st.fraction, st.phase = "queued", 0.0, "cancelled"
            elif res.get("status") == "done":
                ledger.mark_done(rel, output_hash=res["output_hash"], report_json=res.get("report_json"),
                                 seconds=res.get("seconds") or 0.0, worker=res.get("worker"))
                if st is not None:
                    st.status, st.fraction, st.seconds = "done", 1.0, res.get("seconds")
            else:
                ledger.mark_failed(rel, error=res.get("error") or "unknown error", error_kind=res.get("error_kind"),
                                   seconds=res.get("seconds"), worker=res.get("worker"), run_id=run_id)
                if st is not None:
                    st.status, st.error, st.seconds = "failed", res.get("error"), res.get("seconds")

    # -- the end -----------------------------------------------------------------------------------------
    def _finish(self, ledger: Ledger, run_id: int | None, rels: list[Path], status: str, t0: float,
                ignored: int) -> BatchSummary:
        wanted = {r.as_posix() for r in rels}
        reports, failures = [], []
        for row in ledger.rows():
            if row.rel not in wanted:
                continue
            if row.status == "done" and row.report_json and Path(row.report_json).is_file():
                try:
                    reports.append((row.slug or slug_for(Path(row.rel)), json.loads(Path(row.report_json).read_text("utf-8"))))
                except (OSError, ValueError):
                    failures.append({"file": row.rel, "error": "finished, but its report is unreadable; rerun with --force"})
            elif row.status == "failed":
                failures.append({"file": row.rel, "error": row.error or "failed"})
        with self._lock:
            states = list(self._progress.files)
            self._progress.finished = True
        done = sum(1 for s in states if s.status == "done")
        skipped = sum(1 for s in states if s.status == "skipped")
        failed = sum(1 for s in states if s.status == "failed")
        elapsed = time.time() - t0
        report = None
        if reports or failures:
            lname = self.options.loudness
            if lname == "podcast":
                label, short = "Podcast: \u221216 LUFS stereo / \u221219 LUFS mono, \u22121 dBTP", "Podcast"
            elif lname == "off":
                label, short = "Loudness not normalised", "off"
            else:
                label = TARGETS[lname][2].replace("-", "\u2212")
                short = f"{TARGETS[lname][0]:g} LUFS".replace("-", "\u2212")
            try:
                report = build_index(self.report_path, title=self.out_dir.name or str(self.out_dir), reports=reports,
                                     failures=failures, meta={"preset": self.options.preset, "loudness": label,
                                                              "source": self.in_dir.name or str(self.in_dir),
                                                              "loudness_short": short, "created": datetime.now(),
                                                              "versions": software_versions(), "elapsed_s": elapsed})
            except RoomtoneError:
                report = None
        if run_id is not None:
            ledger.end_run(run_id, planned=len(states), skipped=skipped, done=done, failed=failed, status=status)
        with self._lock:
            self._progress.message = status
        self._notify()
        return BatchSummary(planned=len(states), done=done, skipped=skipped, failed=failed,
                            failures=[{"file": s.rel, "error": s.error} for s in states if s.status == "failed"],
                            report=report, elapsed_s=elapsed, out_dir=self.out_dir, ignored=ignored)
