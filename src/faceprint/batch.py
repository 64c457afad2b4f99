"""The engine for many images: decode, detect and embed across worker processes, one outcome per image.

Everything that turns many images into faces goes through here: ``faceprint embed``, ``detect``,
``identify``, ``enroll --folders``, the evaluation tools, the photo library and the HTTP service.

>>> from faceprint.batch import analyze_iter
>>> for r in analyze_iter(["a.jpg", "b.jpg"]):               # doctest: +SKIP
...     print(r.source, len(r.faces) if r.ok else r.error)

* **One outcome per image.** An :class:`ImageResult` carries the faces or the error (a
  :class:`~faceprint.errors.FaceprintError` with ``.source``); a bad file never stops the run.
* **Every core, cheaply.** ``workers`` processes (spawned: no inherited thread pools), each holding
  one :class:`~faceprint.pipeline.FaceAnalyzer` with **one** inference thread that sleeps rather
  than spins: on CPU, processes that each keep one core busy beat threads that wait for each other.
  A task is a chunk of images; the faces of a chunk are embedded in one batched call.
* **Bounded memory.** At most ``2 × workers`` chunks are in flight; images are decoded in the
  workers and dropped there, results stream back in input order (``ordered=True``) or as they
  complete.
* **Cancellation and progress.** Set the ``cancel`` event (or stop iterating) to stop early;
  ``progress(done, total)`` is called as results arrive (``total`` is ``None`` for an iterator of
  unknown length).
* **Beyond one machine.** ``ray="auto"`` (a Ray instance started on this machine) or
  ``ray=ADDRESS`` (a running cluster) runs the same tasks on Ray actors, one analyzer each
  (:mod:`faceprint._ray`, the ``faceprint[ray]`` extra): files are read here and shipped as
  their encoded bytes, results are identical to the local engine's, and a killed worker's tasks
  are re-run.

:class:`Engine` keeps its worker pool between calls (models load once); :func:`analyze_iter` is
the one-shot form. :class:`AnalyzerPool` is the thread-safe in-process counterpart for servers.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.imageio import (
    ImageInput,
    load_image,
    read_image_file,
    source_name,
    thumbnail_jpeg,
)
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.pipeline import DEFAULT_MAX_SIDE, Augment, EmbeddingSpace, FaceAnalyzer, FaceChoice
from faceprint.types import Face, Faces

__all__ = [
    "AnalyzerPool",
    "EncodedImage",
    "Engine",
    "EngineConfig",
    "ImageResult",
    "ProgressCallback",
    "analyze_iter",
    "default_workers",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
#: called as results arrive: (images done, total images or None when unknown)
ProgressCallback = Callable[[int, int | None], None]
#: images per task sent to a worker (their faces are embedded in one call)
DEFAULT_CHUNK = 8
_MAX_WORKERS = 64


def default_workers() -> int:
    """Worker processes used by default: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, eq=False, slots=True)
class ImageResult:
    """What became of one input image.

    Attributes:
        index: position of the image in the input sequence.
        source: the path as given (or a short name for bytes and arrays).
        faces: every face found, boxes and landmarks in pixels of the decoded, EXIF-rotated
            image, with embeddings unless the run asked for none; ``None`` on error.
        error: why the image could not be analysed (``None`` when it was).
        shape: (height, width) of the decoded image, or ``None`` on error.
        thumbnails: one JPEG per face (the aligned crop, 112×112) when asked for.
        sha256: hex digest of the file's bytes when the run hashed it (``hash=True``).
        seconds: wall time the worker spent on this image (decode + detect + its share of
            the batched embedding).
    """

    index: int
    source: str
    faces: Faces | None = None
    error: FaceprintError | None = None
    shape: tuple[int, int] | None = None
    thumbnails: tuple[bytes, ...] = ()
    sha256: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the image was analysed (it may still have no face)."""
        return self.error is None


@dataclass(frozen=True)
class EngineConfig:
    """How each worker builds its analyzer (picklable: sent to the worker processes).

    Attributes:
        pack: model pack (name or spec).
        max_side: detection on a downscaled copy above this size (see FaceAnalyzer).
        augment: test-time augmentation of embeddings.
        detector_options / embedder_options: backend overrides (e.g. ``{"upsample": 2}``).
        threads: inference threads per analyzer (``None``: 1 in worker processes, every core
            in this process).
    """

    pack: str | PackSpec = DEFAULT_PACK
    max_side: int | None = DEFAULT_MAX_SIDE
    augment: Augment = "none"
    detector_options: dict[str, Any] = field(default_factory=dict)
    embedder_options: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None

    def analyzer(self, threads: int) -> FaceAnalyzer:
        """A new analyzer with ``threads`` inference threads where the backend takes them."""
        spec = get_pack(self.pack)
        threaded = {"threads": self.threads or threads}
        return FaceAnalyzer(
            spec,
            detector_options={**_if_threaded(spec.detector, threaded), **self.detector_options},
            embedder_options={**_if_threaded(spec.embedder, threaded), **self.embedder_options},
            max_side=self.max_side,
            augment=self.augment,
        )


#: backends run by onnxruntime, which take a ``threads`` option
_THREADED_BACKENDS = frozenset({"dlib-onnx", "arcface-onnx", "scrfd", "retinaface", "yunet"})


def _if_threaded(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    return options if backend in _THREADED_BACKENDS else {}


# --- the work one image needs ----------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class EncodedImage:
    """A file as it travels to a remote worker: its name and its encoded bytes, or the error
    reading it raised here (re-raised by the worker, so the outcome is the local one's)."""

    name: str
    data: bytes = b""
    error: FaceprintError | None = None

    @classmethod
    def read(cls, source: ImageInput) -> EncodedImage | ImageInput:
        """A path's bytes read here; any other input is returned as it is."""
        if not isinstance(source, (str, os.PathLike)):
            return source
        name = source_name(source)
        try:
            return cls(name, read_image_file(source))
        except FaceprintError as exc:
            return cls(name, error=exc)


def _encode_chunk(chunk: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return [(index, EncodedImage.read(source)) for index, source in chunk]


def _name(source: Any) -> str:
    return source.name if isinstance(source, EncodedImage) else source_name(source)


@dataclass(frozen=True)
class _Job:
    """What to do with each image of a chunk (picklable)."""

    embed: bool = True
    thumbnails: bool = False
    hash: bool = False


def _decode(source: Any, name: str, hash: bool) -> tuple[npt.NDArray[np.uint8], str | None]:
    """The decoded image and, when asked for and ``source`` is a file, its bytes' sha256."""
    if isinstance(source, EncodedImage):
        if source.error is not None:
            raise source.error
        digest = hashlib.sha256(source.data).hexdigest() if hash else None
        return load_image(source.data, name=name), digest
    if not hash:
        return load_image(source, name=name), None
    data = read_image_file(source) if isinstance(source, (str, os.PathLike)) else source
    digest = hashlib.sha256(data).hexdigest() if isinstance(data, (bytes, bytearray)) else None
    return load_image(data, name=name), digest


def _analyze_chunk(
    analyzer: FaceAnalyzer, chunk: list[tuple[int, Any]], job: _Job
) -> list[ImageResult]:
    """Decode and detect each image of the chunk, then embed all their faces in one call."""
    done: list[ImageResult] = []
    decoded: list[tuple[ImageResult, npt.NDArray[np.uint8], Faces, float]] = []
    for index, source in chunk:
        name = _name(source)
        start = time.perf_counter()
        try:
            rgb, sha = _decode(source, name, job.hash)
            faces = analyzer.detect(rgb)
        except Exception as exc:  # one bad image never stops the chunk
            done.append(ImageResult(index, name, error=_as_error(exc, name)))
            continue
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        result = ImageResult(index, name, faces, shape=shape, sha256=sha)
        decoded.append((result, rgb, faces, time.perf_counter() - start))
    done.extend(_finish(analyzer, decoded, job))
    return sorted(done, key=lambda r: r.index)


def _finish(
    analyzer: FaceAnalyzer,
    decoded: list[tuple[ImageResult, npt.NDArray[np.uint8], Faces, float]],
    job: _Job,
) -> list[ImageResult]:
    """Embed (one batched call) and thumbnail the decoded images' faces."""
    if not decoded:
        return []
    start = time.perf_counter()
    try:
        crops = [analyzer.align(rgb, faces) for _, rgb, faces, _ in decoded]
        embedded = _embed_crops(analyzer, crops) if job.embed else [None] * len(crops)
    except Exception as exc:
        return [ImageResult(r.index, r.source, error=_as_error(exc, r.source)) for r, *_ in decoded]
    share = (time.perf_counter() - start) / len(decoded)
    out = []
    for (result, _, faces, spent), part, crop in zip(decoded, embedded, crops, strict=True):
        thumbs = _thumbnails(crop) if job.thumbnails else ()
        out.append(
            ImageResult(
                result.index,
                result.source,
                faces if part is None else faces.with_embeddings(part),
                shape=result.shape,
                thumbnails=thumbs,
                sha256=result.sha256,
                seconds=spent + share,
            )
        )
    return out


def _embed_crops(
    analyzer: FaceAnalyzer, crops: list[npt.NDArray[np.uint8]]
) -> list[npt.NDArray[np.float32]]:
    sizes = [len(c) for c in crops]
    if sum(sizes) == 0:
        return [np.zeros((0, analyzer.dim), np.float32) for _ in crops]
    emb = analyzer.embed_crops(np.concatenate(crops))
    bounds = np.cumsum([0, *sizes])
    return [emb[a:b] for a, b in itertools.pairwise(bounds)]


def _thumbnails(crops: npt.NDArray[np.uint8]) -> tuple[bytes, ...]:
    return tuple(thumbnail_jpeg(c) for c in crops)


def _as_error(exc: BaseException, name: str) -> FaceprintError:
    """A faceprint error naming the image, whatever went wrong (logged when unexpected)."""
    if isinstance(exc, FaceprintError):
        if not exc.source:
            exc.source = name
        return exc
    logger.warning("%s: unexpected %s", name, type(exc).__name__, exc_info=exc)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return FaceprintError(f"{name}: {type(exc).__name__}: {detail}", source=name)


# --- worker processes ------------------------------------------------------------------------

_ANALYZER: FaceAnalyzer | None = None


def _quiet_threads() -> None:
    """One compute thread per worker process: BLAS/OpenMP and OpenCV stay single-threaded."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _init_spawned(config: EngineConfig) -> None:
    """Runs once in each spawned worker: quiet threads, then its own analyzer."""
    global _ANALYZER, _INIT_ERROR
    _quiet_threads()
    try:
        _ANALYZER = config.analyzer(threads=1)
    except Exception as exc:  # reported to the parent with the first task
        _ANALYZER, _INIT_ERROR = None, _as_error(exc, "")


_INIT_ERROR: FaceprintError | None = None


def _worker_analyzer() -> FaceAnalyzer:
    if _ANALYZER is None:
        raise _INIT_ERROR or FaceprintError("engine worker used before its initializer ran")
    return _ANALYZER


def _run_in_worker(call: tuple[Callable[[FaceAnalyzer, Any], R], Any]) -> R:
    func, task = call
    return func(_worker_analyzer(), task)


def _chunk_task(args: tuple[list[tuple[int, Any]], _Job]) -> list[ImageResult]:
    return _analyze_chunk(_worker_analyzer(), *args)


class Engine:
    """A pool of analyzers in worker processes (or one in this process), kept between calls.

    Args:
        pack, max_side, augment, detector_options, embedder_options: how each analyzer is
            built (see :class:`~faceprint.pipeline.FaceAnalyzer`).
        workers: worker processes; ``None`` = one per core; ``0`` = no process: work in this
            process with one analyzer using every core. With ``ray``: Ray actors (``None`` or
            ``0``: one per CPU of the cluster).
        ray: run on Ray instead of local processes: ``"auto"`` starts a Ray instance on this
            machine (unless this process is connected to one already), anything else is the
            address of a running cluster (e.g. ``"10.0.0.5:6379"``). Needs ``faceprint[ray]``.

    Models load when the first work arrives, once per worker. Use as a context manager (or
    call :meth:`close`) to stop the workers.

    Raises:
        InvalidArgumentError: ``workers`` out of range; ModelError: an unknown pack;
        MissingDependencyError: ``ray`` given but Ray is not installed.
    """

    def __init__(
        self,
        pack: str | PackSpec = DEFAULT_PACK,
        *,
        workers: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        augment: Augment = "none",
        detector_options: dict[str, Any] | None = None,
        embedder_options: dict[str, Any] | None = None,
        ray: str | None = None,
    ) -> None:
        if ray is not None:
            from faceprint._ray import check_address, import_ray

            ray = check_address(ray)
            import_ray()  # fail now, with the extra's name, not when the first work arrives
        workers = (default_workers() if ray is None else 0) if workers is None else int(workers)
        if not 0 <= workers <= _MAX_WORKERS:
            raise InvalidArgumentError(
                f"workers must be between 0 and {_MAX_WORKERS}, got {workers}"
            )
        self.config = EngineConfig(
            get_pack(pack),
            max_side,
            augment,
            dict(detector_options or {}),
            dict(embedder_options or {}),
        )
        self.workers = workers  # with ray, 0 until the actors start: one per cluster CPU
        self.ray = ray
        self._executor: Any = None
        self._local: FaceAnalyzer | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_analyzer(cls, analyzer: FaceAnalyzer) -> Engine:
        """An engine that works in this process with ``analyzer`` (no worker processes)."""
        engine = cls(analyzer.pack, workers=0, max_side=analyzer.max_side, augment=analyzer.augment)
        engine._local = analyzer
        return engine

    @property
    def pack(self) -> PackSpec:
        """The model pack of every analyzer of this engine."""
        return self.config.pack  # type: ignore[return-value]

    @property
    def augment(self) -> Augment:
        """The test-time augmentation of every analyzer of this engine."""
        return self.config.augment

    @property
    def space(self) -> EmbeddingSpace:
        """The space of this engine's embeddings."""
        return EmbeddingSpace(self.pack.name, self.augment)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "" if self.ray is None else f", ray={self.ray!r}"
        return f"Engine(pack={self.pack.name!r}, workers={self.workers}{where})"

    @property
    def in_process(self) -> bool:
        """True when the work runs in this process (``workers=0`` without Ray)."""
        return self.ray is None and self.workers == 0

    def close(self) -> None:
        """Stop the worker processes (pending work is cancelled)."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def local_analyzer(self) -> FaceAnalyzer:
        """The analyzer of this process (``workers=0``), made on first use."""
        with self._lock:
            if self._local is None:
                self._local = self.config.analyzer(threads=default_workers())
            return self._local

    def _pool(self) -> Any:
        """The worker processes, spawned (never forked: a fork copies the OpenCV and
        onnxruntime thread pools of this process in a state that can deadlock the child),
        or the Ray actors."""
        with self._lock:
            if self._executor is None and self.ray is not None:
                from faceprint._ray import RayExecutor

                self._executor = RayExecutor(
                    self.ray, self.workers or None, _init_spawned, self.config
                )
                self.workers = self._executor.workers
            elif self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=_init_spawned,
                    initargs=(self.config,),
                )
            return self._executor

    # --- generic work -------------------------------------------------------------------
    def map(
        self,
        func: Callable[[FaceAnalyzer, T], R],
        tasks: Iterable[T],
        *,
        ordered: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[R]:
        """``func(analyzer, task)`` for each task, in the workers (``func`` must be a module-level
        function); results in task order, or as they complete. At most ``2 × workers`` tasks are
        in flight."""
        if self.in_process:
            analyzer = self.local_analyzer()
            for task in tasks:
                if cancel is not None and cancel.is_set():
                    return
                yield func(analyzer, task)
            return
        pool = self._pool()
        yield from _bounded(
            pool, _run_in_worker, ((func, t) for t in tasks), 2 * self.workers, ordered, cancel,
        )  # fmt: skip

    # --- images -------------------------------------------------------------------------
    def analyze_iter(
        self,
        sources: Iterable[ImageInput],
        *,
        embed: bool = True,
        thumbnails: bool = False,
        hash: bool = False,
        chunk: int = DEFAULT_CHUNK,
        ordered: bool = True,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Generator[ImageResult, None, None]:
        """One :class:`ImageResult` per source (see the module docstring).

        Args:
            sources: paths, encoded bytes, arrays or PIL images (an iterator is consumed
                lazily, so a generator over millions of files is fine).
            embed: compute embeddings (else detection only).
            thumbnails: a 112×112 JPEG of each aligned face in ``ImageResult.thumbnails``.
            hash: sha256 of each file's bytes in ``ImageResult.sha256``.
            chunk: images per task (their faces are embedded in one batched call).
            ordered: results in input order (else as they complete).
            progress: ``progress(done, total)`` after each result.
            cancel: stop (without error) once this event is set.
        """
        if not 1 <= chunk <= 1024:
            raise InvalidArgumentError(f"chunk must be between 1 and 1024, got {chunk}")
        total = len(sources) if hasattr(sources, "__len__") else None  # type: ignore[arg-type]
        job = _Job(embed, thumbnails, hash)
        chunks = _chunks(enumerate(sources), chunk)
        if self.in_process:
            analyzer = self.local_analyzer()
            results: Iterator[list[ImageResult]] = (
                _analyze_chunk(analyzer, c, job)
                for c in _until(chunks, cancel)
            )  # fmt: skip
        else:
            pool = self._pool()
            encode = _encode_chunk if self.ray is not None else _same
            tasks = ((encode(c), job) for c in chunks)
            results = _bounded(pool, _chunk_task, tasks, 2 * self.workers, ordered, cancel)
        done = 0
        for batch in results:
            for result in batch:
                done += 1
                if progress is not None:
                    progress(done, total)
                yield result


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while part := list(itertools.islice(it, size)):
        yield part


def _same(items: T) -> T:
    return items


def _until(items: Iterable[T], cancel: threading.Event | None) -> Iterator[T]:
    for item in items:
        if cancel is not None and cancel.is_set():
            return
        yield item


def _bounded(
    executor: ProcessPoolExecutor | Any,
    func: Callable[..., R],
    tasks: Iterable[Any],
    window: int,
    ordered: bool,
    cancel: threading.Event | None,
) -> Iterator[R]:
    """Submit tasks keeping at most ``window`` in flight; yield results in order or as done."""
    pending: dict[Future[R], int] = {}
    ready: dict[int, R] = {}
    source = iter(tasks)
    submitted = next_out = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) + len(ready) < window:
                if cancel is not None and cancel.is_set():
                    exhausted = True
                    break
                try:
                    task = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[executor.submit(func, task)] = submitted
                submitted += 1
            if not pending and not ready:
                return
            if pending:
                finished, _ = wait(list(pending), timeout=0.25, return_when=FIRST_COMPLETED)
                for fut in finished:
                    ready[pending.pop(fut)] = _result(fut)
            if cancel is not None and cancel.is_set():
                return
            if ordered:
                while next_out in ready:
                    yield ready.pop(next_out)
                    next_out += 1
            else:
                for key in sorted(ready):
                    yield ready.pop(key)
    finally:
        for fut in pending:
            fut.cancel()


def _result(fut: Future[R]) -> R:
    """A worker's result; a crashed worker process becomes a faceprint error."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return fut.result()
    except BrokenProcessPool as exc:
        raise FaceprintError(
            "a worker process died (out of memory, or killed); re-run with fewer workers"
        ) from exc


def analyze_iter(
    sources: Iterable[ImageInput],
    *,
    pack: str | PackSpec = DEFAULT_PACK,
    workers: int | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    augment: Augment = "none",
    detector_options: dict[str, Any] | None = None,
    embedder_options: dict[str, Any] | None = None,
    ray: str | None = None,
    embed: bool = True,
    thumbnails: bool = False,
    hash: bool = False,
    chunk: int = DEFAULT_CHUNK,
    ordered: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Generator[ImageResult, None, None]:
    """One-shot :meth:`Engine.analyze_iter`: start workers, stream the results, stop them.

    >>> for r in analyze_iter(paths, workers=2):                 # doctest: +SKIP
    ...     if not r.ok: print("skipped", r.source, r.error)
    """
    engine = Engine(
        pack,
        workers=workers,
        max_side=max_side,
        augment=augment,
        detector_options=detector_options,
        embedder_options=embedder_options,
        ray=ray,
    )
    with engine:
        yield from engine.analyze_iter(
            sources,
            embed=embed,
            thumbnails=thumbnails,
            hash=hash,
            chunk=chunk,
            ordered=ordered,
            progress=progress,
            cancel=cancel,
        )


# --- in-process pool for servers --------------------------------------------------------------


class AnalyzerPool:
    """A fixed set of analyzers shared by threads (e.g. a web server's worker threads).

    Each analyzer is used by one thread at a time; :meth:`acquire` waits for a free one. Models
    load in ``__init__`` (once, at server start-up). ``size`` analyzers share the cores: each gets
    ``threads`` inference threads (default: cores / size, at least 1).

    >>> pool = AnalyzerPool("dlib", size=2)                        # doctest: +SKIP
    >>> faces = pool.analyze(image_bytes)                          # doctest: +SKIP
    """

    def __init__(
        self,
        pack: str | PackSpec = DEFAULT_PACK,
        *,
        size: int | None = None,
        threads: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        augment: Augment = "none",
        detector_options: dict[str, Any] | None = None,
        embedder_options: dict[str, Any] | None = None,
    ) -> None:
        size = default_workers() if size is None else int(size)
        if not 1 <= size <= _MAX_WORKERS:
            raise InvalidArgumentError(f"size must be between 1 and {_MAX_WORKERS}, got {size}")
        per = threads or max(1, default_workers() // size)
        config = EngineConfig(
            get_pack(pack), max_side, augment, dict(detector_options or {}),
            dict(embedder_options or {}), per,
        )  # fmt: skip
        self.size = size
        self._free: queue.LifoQueue[FaceAnalyzer] = queue.LifoQueue()
        for _ in range(size):
            self._free.put(config.analyzer(threads=per))
        self._closed = False
        first = self._free.get()
        self.pack, self.threshold, self.dim = first.pack, first.threshold, first.dim
        self._free.put(first)

    @contextlib.contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[FaceAnalyzer]:
        """An analyzer for this thread's exclusive use until the block ends.

        Raises:
            FaceprintError: the pool is closed, or no analyzer came free within ``timeout``.
        """
        if self._closed:
            raise FaceprintError("the analyzer pool is closed")
        try:
            analyzer = self._free.get(timeout=timeout)
        except queue.Empty:
            raise FaceprintError(f"no analyzer came free within {timeout} s") from None
        try:
            yield analyzer
        finally:
            self._free.put(analyzer)

    def analyze(self, image: ImageInput) -> Faces:
        """Detect and embed every face of one image."""
        with self.acquire() as fa:
            return fa.analyze(image)

    def detect(self, image: ImageInput) -> Faces:
        """Every face of one image, without embeddings."""
        with self.acquire() as fa:
            return fa.detect(image)

    def embed_one(self, image: ImageInput, *, face: FaceChoice = "largest") -> Face:
        """The embedded face ``face`` designates (see FaceAnalyzer.embed_one)."""
        with self.acquire() as fa:
            return fa.embed_one(image, face=face)

    def close(self) -> None:
        """Refuse further work (analyzers are freed with the pool)."""
        self._closed = True

    def __enter__(self) -> AnalyzerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnalyzerPool(pack={self.pack.name!r}, size={self.size})"
