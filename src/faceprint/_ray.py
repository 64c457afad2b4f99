"""The engine's Ray backend: one actor per worker, each holding one analyzer.

:class:`RayExecutor` has the one method of :class:`concurrent.futures.Executor` the engine's
scheduler uses (``submit``), so :class:`faceprint.batch.Engine` drives Ray actors exactly as it
drives its local worker processes: the same tasks, the same bounded window, the same order.

* **Models load once per worker**: each actor runs the engine's worker initializer in its own
  process (one analyzer, one inference thread) when it starts.
* **Compressed bytes travel, not pixels**: the engine reads each file in the driver and ships
  its encoded bytes (:class:`faceprint.batch.EncodedImage`); the actor decodes them, so workers
  on other machines need no shared file system for ``analyze_iter``.
* **A killed worker loses nothing**: actors restart (``max_restarts``) and Ray re-runs the
  tasks that were in flight on the dead one (``max_task_retries=-1``). Tasks are pure (they
  read bytes and return faces; the caller writes, e.g. the library's SQLite in the driver), so
  a re-run task cannot duplicate anything. Once an actor has used up its restarts the run stops
  with a :class:`~faceprint.errors.FaceprintError` naming what happened; the library resumes
  from its last commit on the next scan.

``ray`` is an optional dependency (``pip install 'faceprint[ray]'``), imported only here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from faceprint.errors import FaceprintError, InvalidArgumentError, MissingDependencyError

__all__ = ["DEFAULT_RESTARTS", "LOCAL", "RayExecutor", "import_ray"]

logger = logging.getLogger(__name__)

#: the ``ray`` argument that starts a Ray instance on this machine (else: a cluster's address)
LOCAL = "auto"
#: restarts of each actor before a run stops with an error
DEFAULT_RESTARTS = 3
#: object store of a Ray instance the engine starts itself (bytes; chunks of JPEGs are small)
LOCAL_OBJECT_STORE = 300 * 1024 * 1024
#: Ray's setting of how long a starting instance waits for its control server (GCS) to publish
#: its port (Ray's default, 30 s, ran out on this 2-core machine under load)
GCS_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"
#: the wait faceprint gives a local instance it starts, unless the user set the variable
GCS_WAIT_SECONDS = 300


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "the Ray backend needs ray: pip install 'faceprint[ray]'"
        ) from None
    return ray


def check_address(address: str) -> str:
    """``address`` stripped; an empty one is refused (``auto`` starts a local instance)."""
    address = str(address).strip()
    if not address or any(c.isspace() for c in address):
        raise InvalidArgumentError(
            f"--ray must be 'auto' (a local Ray instance) or a cluster address, got {address!r}"
        )
    return address


def connect(address: str, workers: int | None) -> bool:
    """Join the Ray cluster at ``address`` or start a local instance (``auto``) unless this
    process is connected already. Returns True when this call started the connection."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address == LOCAL:
        cpus = workers if workers else None
        options.update(num_cpus=cpus, object_store_memory=LOCAL_OBJECT_STORE)
        # Ray nices its workers by 15 by default: on a machine shared with other work they
        # would then get a fraction of the cores a local engine's workers get
        options["_system_config"] = {"worker_niceness": 0}
        os.environ.setdefault(GCS_WAIT_VARIABLE, str(GCS_WAIT_SECONDS))
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FaceprintError(f"cannot connect to Ray at {address}: {exc}") from exc
    return True


class _Worker:
    """Body of each Ray actor: the engine's worker initializer, then tasks one at a time."""

    def __init__(self, init: Callable[[Any], None], config: Any) -> None:
        init(config)

    def run(self, func: Callable[[Any], Any], task: Any) -> Any:
        return func(task)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """``workers`` Ray actors (default: one per CPU of the cluster) behind ``submit``.

    Args:
        address: ``auto`` (start Ray on this machine) or the address of a running cluster.
        workers: actors to start (``None``: the cluster's CPU count).
        init: the engine's worker initializer, run once in each actor with ``config``.
        restarts: times each actor is restarted after its process dies (default
            :data:`DEFAULT_RESTARTS`).
    """

    def __init__(
        self,
        address: str,
        workers: int | None,
        init: Callable[[Any], None],
        config: Any,
        *,
        restarts: int | None = None,
    ) -> None:
        restarts = DEFAULT_RESTARTS if restarts is None else restarts
        self._ray = import_ray()
        self._owns = connect(check_address(address), workers)
        count = workers or max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        remote = self._ray.remote(num_cpus=1, max_restarts=restarts, max_task_retries=-1)
        actor_class = remote(_Worker)
        self.actors = [actor_class.remote(init, config) for _ in range(count)]
        self._load = [0] * count
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        """Number of actors."""
        return len(self.actors)

    def pids(self) -> list[int]:
        """Process ids of the actors (waits until each has started)."""
        return list(self._ray.get([a.pid.remote() for a in self.actors]))

    def submit(self, func: Callable[[Any], Any], task: Any) -> Future[Any]:
        """Run ``func(task)`` on the least busy actor; its result (or error) in a Future."""
        with self._lock:
            slot = min(range(len(self._load)), key=self._load.__getitem__)
            self._load[slot] += 1
        out: Future[Any] = Future()
        ref = self.actors[slot].run.remote(func, task)
        ref.future().add_done_callback(lambda done: self._settle(slot, done, out))
        return out

    def _settle(self, slot: int, done: Future[Any], out: Future[Any]) -> None:
        with self._lock:
            self._load[slot] -= 1
        try:
            out.set_result(done.result())
        except BaseException as exc:
            out.set_exception(self._translate(exc))

    def _translate(self, exc: BaseException) -> BaseException:
        """The task's own error, or a faceprint error for a lost worker or cluster."""
        errors = self._ray.exceptions
        if isinstance(exc, errors.RayTaskError):
            return exc.as_instanceof_cause()
        if isinstance(exc, errors.RayError):
            error = FaceprintError(
                "a Ray worker died and used up its restarts "
                f"({type(exc).__name__}); committed work is kept: re-run to resume"
            )
            error.__cause__ = exc
            return error
        return exc

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the actors (and the local Ray instance when this executor started it)."""
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
        if self._owns:
            self._ray.shutdown()
            self._owns = False
