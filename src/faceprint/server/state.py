"""What a running server holds: configuration, gallery, analyzer pool, keys, limiters; and the
per-route dependencies that authenticate, authorise and rate-limit a request."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from faceprint.batch import AnalyzerPool
from faceprint.gallery import Gallery
from faceprint.pipeline import FaceAnalyzer
from faceprint.server.config import ServerConfig, is_loopback
from faceprint.server.errors import ApiError
from faceprint.server.gate import Caller
from faceprint.server.security import KeyStore, RateLimiter, Role

__all__ = ["Caller", "ServerState", "get_state", "require"]

if TYPE_CHECKING:
    from faceprint.library import Library
    from faceprint.server.jobs import Job, JobAnalyzer, JobRunner

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: index and database work running at once (each call is short; the gallery serialises writes)
INDEX_THREADS = 8


class ServerState:
    """The objects one server process shares between requests (models loaded once)."""

    def __init__(self, config: ServerConfig, gallery: Gallery, keys: KeyStore) -> None:
        self.config = config
        self.gallery = gallery
        self.keys = keys
        limits = config.limits
        self.rate = RateLimiter(
            limits.rate_per_second, limits.rate_burst, limits.concurrent_per_key
        )
        self.pool: AnalyzerPool | None = None
        self._infer: anyio.CapacityLimiter | None = None
        self._index: anyio.CapacityLimiter | None = None
        #: the photo library of ``--library`` (None: library routes answer 404)
        self.library: Library | None = None
        #: background jobs (created at start-up)
        self.jobs: JobRunner | None = None
        #: the latest library scan's job
        self.scan_job: Job | None = None
        #: the analyzer background jobs use (loaded by the first job that needs it)
        self.job_analyzer: JobAnalyzer | None = None

    def start(self) -> None:
        """Load the models (once per process, at start-up) and start the job runner."""
        from faceprint.server.jobs import JobAnalyzer, JobRunner

        self.jobs = JobRunner(self.config.scratch)
        self.job_analyzer = JobAnalyzer(self.gallery.pack, self.gallery.augment)
        self.pool = AnalyzerPool(
            self.gallery.pack,
            size=self.config.workers,
            augment=self.gallery.augment,
        )
        self._infer = anyio.CapacityLimiter(self.config.workers)
        self._index = anyio.CapacityLimiter(INDEX_THREADS)
        logger.info("loaded %d analyzers of pack %s", self.config.workers, self.gallery.pack)

    def stop(self) -> None:
        """Cancel background jobs, refuse further inference, close the library and the
        gallery (saving its index)."""
        jobs, self.jobs = self.jobs, None
        if jobs is not None:
            jobs.close()
        if self.pool is not None:
            self.pool.close()
        library, self.library = self.library, None
        if library is not None:
            library.close()
        self.gallery.close()

    @property
    def auth_required(self) -> bool:
        """Keys are needed when any exists, or when bound beyond loopback without the
        explicit no-auth flag (so revoking every key never opens such a server)."""
        if self.keys.configured():
            return True
        return not is_loopback(self.config.host) and not self.config.insecure_no_auth

    async def infer(self, fn: Callable[[FaceAnalyzer], T]) -> T:
        """Run ``fn(analyzer)`` in a worker thread with an analyzer of the pool; at most
        ``workers`` run at once, the event loop never blocks."""
        if self.pool is None or self._infer is None:
            raise ApiError(
                503, "unavailable", "the models are not loaded (server starting or stopping)"
            )
        pool = self.pool

        def work() -> T:
            with pool.acquire() as analyzer:
                return fn(analyzer)

        return await anyio.to_thread.run_sync(work, limiter=self._infer)

    async def index(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run gallery/index work in a worker thread (bounded)."""
        limiter = self._index or anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), limiter=limiter
        )


def get_state(request: Request) -> ServerState:
    """The server state of the app serving ``request``."""
    state: ServerState = request.app.state.faceprint
    return state


bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `faceprint keys add`, as `Authorization: Bearer <key>`.",
)


def require(role: Role) -> Callable[..., AsyncIterator[Caller]]:
    """Dependency: the caller the gate (:mod:`faceprint.server.gate`) authenticated from the
    headers, before any body was read, with ``role`` (admin includes read); here it is held
    within its rate and concurrency limits (429 + Retry-After otherwise)."""

    async def dependency(
        request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> AsyncIterator[Caller]:
        state = get_state(request)
        caller: Caller | None = request.scope.get("state", {}).get("caller")
        if caller is None:  # the gate lets only public routes through without a caller
            raise ApiError(500, "internal_error", "the request did not pass the gate")
        wait = state.rate.acquire(caller.client)
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests; retry after {int(wait)} s",
                {"Retry-After": str(int(wait))},
            )
        try:
            yield caller
        finally:
            state.rate.release(caller.client)

    dependency.faceprint_role = role  # type: ignore[attr-defined]  # read by the gate
    return dependency


ReadCaller = Depends(require("read"))
AdminCaller = Depends(require("admin"))
