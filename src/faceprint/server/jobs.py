"""Background jobs of the server (library scans, video analyses): a bounded queue run by one
worker thread, with progress, cancellation and a list of recent jobs.

A job is a function of its :class:`Job` (it reports ``job.progress`` and checks
``job.cancel``); its return value becomes ``job.result`` (JSON data). Finished jobs are kept
(the newest :data:`KEEP`) with their files under ``scratch/jobs/<id>/``, which is removed when a
job is forgotten.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faceprint.errors import FaceprintError
from faceprint.gallery.store import utc_now
from faceprint.pipeline import Augment, FaceAnalyzer
from faceprint.server.errors import ApiError

__all__ = ["KEEP", "Job", "JobAnalyzer", "JobRunner", "JobStatus", "without_paths"]

#: an absolute path's folders (``/srv/data/jobs/ab12/``), dropped from messages sent to clients
_FOLDERS = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\](?:[^/\\\s'\"]+[/\\])+")


def without_paths(exc: BaseException) -> str:
    """The error's message with the folders of every absolute path removed (the file name
    stays): a client learns nothing of the server's file system."""
    return _FOLDERS.sub("", str(exc))


logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
#: finished jobs remembered (older ones are forgotten, their files deleted)
KEEP = 50
#: jobs waiting or running at once; more are refused with 429
MAX_PENDING = 8


@dataclass(eq=False)
class Job:
    """One background job (mutable: its worker thread updates it; readers copy with
    :meth:`snapshot`)."""

    id: str
    kind: str
    directory: Path
    status: JobStatus = "queued"
    progress: float = 0.0
    error: str | None = None
    result: Any = None
    created_at: str = field(default_factory=utc_now)
    cancel: threading.Event = field(default_factory=threading.Event)
    files: dict[str, Path] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def report(self, done: int, total: int | None) -> None:
        """A progress callback: ``done`` of ``total`` units."""
        if total:
            self.progress = max(0.0, min(1.0, done / total))
        self.detail.update(done=done, total=total)

    def snapshot(self) -> dict[str, Any]:
        """The job as the API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 4),
            "error": self.error,
            "result": self.result,
            "created_at": self.created_at,
        }


class JobRunner:
    """Runs jobs one at a time in a background thread (inference of the API keeps its own
    analyzers); thread-safe."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch / "jobs"
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceprint-job")
        self._closed = False
        shutil.rmtree(self.scratch, ignore_errors=True)  # files of a previous run's jobs

    def reserve(self, kind: str) -> Job:
        """A queued job with its directory, not started yet (see :meth:`start`, :meth:`drop`).

        Raises:
            ApiError: 503 when shutting down, 429 when too many jobs are pending.
        """
        with self._lock:
            if self._closed:
                raise ApiError(503, "unavailable", "the server is shutting down")
            pending = sum(j.status in ("queued", "running") for j in self._jobs.values())
            if pending >= MAX_PENDING:
                raise ApiError(
                    429, "too_many_jobs", f"{pending} jobs are pending; retry when one finishes",
                    {"Retry-After": "30"},
                )  # fmt: skip
            job_id = uuid.uuid4().hex[:12]
            job = Job(job_id, kind, self.scratch / job_id)
            job.directory.mkdir(parents=True, exist_ok=True)
            self._jobs[job.id] = job
        return job

    def start(self, job: Job, work: Callable[[Job], Any]) -> Job:
        """Run ``work(job)`` in the background (after the jobs queued before it)."""
        future = self._executor.submit(self._run, job, work)
        future.add_done_callback(_log_crash)
        self._evict()
        return job

    def submit(self, kind: str, work: Callable[[Job], Any]) -> Job:
        """:meth:`reserve` and :meth:`start`."""
        return self.start(self.reserve(kind), work)

    def drop(self, job_id: str) -> None:
        """Forget a reserved job that will not start (its directory is removed)."""
        self._forget(job_id)

    def _run(self, job: Job, work: Callable[[Job], Any]) -> None:
        if job.cancel.is_set():
            job.status = "cancelled"
            return
        job.status = "running"
        try:
            job.result = work(job)
        except FaceprintError as exc:
            job.status, job.error = (
                ("cancelled", None) if job.cancel.is_set() else ("failed", without_paths(exc))
            )
            return
        except Exception as exc:  # a fault: logged with its traceback, one line to the client
            logger.exception("job %s (%s) failed", job.id, job.kind)
            job.status, job.error = (
                "failed",
                f"internal error ({type(exc).__name__}); see the server log",
            )
            return
        job.progress = 1.0
        job.status = "cancelled" if job.cancel.is_set() and job.result is None else "done"

    def get(self, job_id: str) -> Job:
        """The job, or a 404."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id[:40]!r}")
        return job

    def jobs(self) -> list[Job]:
        """Every remembered job, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop (a queued one never starts; a running one stops at its next
        check)."""
        job = self.get(job_id)
        job.cancel.set()
        if job.status == "queued":
            job.status = "cancelled"
        return job

    def close(self) -> None:
        """Cancel everything and wait for the running job to stop."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _evict(self) -> None:
        with self._lock:
            done = [j for j in self._jobs.values() if j.status in ("done", "failed", "cancelled")]
        for job in sorted(done, key=lambda j: j.created_at)[: max(0, len(done) - KEEP)]:
            self._forget(job.id)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.directory, ignore_errors=True)


def _log_crash(future: Future[None]) -> None:
    exc = future.exception() if not future.cancelled() else None
    if exc is not None:
        logger.error("job runner crashed", exc_info=exc)


class JobAnalyzer:
    """One analyzer for background jobs, loaded by the first job that needs it (the API's
    pool stays free for requests)."""

    def __init__(self, pack: str, augment: Augment) -> None:
        self.pack = pack
        self.augment = augment
        self._lock = threading.Lock()
        self._analyzer: FaceAnalyzer | None = None

    def get(self) -> FaceAnalyzer:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = FaceAnalyzer(self.pack, augment=self.augment)
            return self._analyzer
