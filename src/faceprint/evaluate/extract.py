"""One embedding per image for an evaluation, on every core, through the on-disk cache.

:func:`embed_images` runs the pack's detector on each image (then the configured fallbacks on the
images it misses), picks one face per image, and embeds it. Detections and embeddings come from
the :class:`~faceprint.evaluate.cache.EmbeddingCache` when present; the rest is computed by a pool
of worker processes, each holding its own :class:`~faceprint.pipeline.FaceAnalyzer` created in the
worker's initializer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from faceprint._hashing import sha256_file
from faceprint._json import JsonResult, json_options
from faceprint.align import align_faces
from faceprint.batch import Engine
from faceprint.errors import FaceprintError
from faceprint.evaluate.cache import (
    Detections,
    EmbeddingCache,
    detector_key,
    embedder_key,
    face_key,
)
from faceprint.evaluate.fallback import (
    Fallback,
    check_fallbacks,
    create_fallback,
    fallback_config,
    subject_face,
)
from faceprint.imageio import load_image, printable
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.pipeline import Augment, FaceAnalyzer, FaceChoice, select_face

__all__ = [
    "EvalFaceChoice",
    "ExtractionConfig",
    "ExtractionSummary",
    "ImageEmbeddings",
    "Progress",
    "embed_images",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: progress wrapper: (items, total, description) -> the same items (e.g. with a progress bar)
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]

PRIMARY = "detector"
#: a face choice of :func:`faceprint.pipeline.select_face`, or "subject" (see ExtractionConfig)
EvalFaceChoice = FaceChoice | Literal["subject"]
_SAVE_EVERY = 256


def _no_progress(items: Iterable[T], total: int, description: str) -> Iterable[T]:
    return items


@dataclass(frozen=True)
class ExtractionConfig(JsonResult):
    """How an evaluation turns each image into one embedding.

    Attributes:
        pack: model pack name.
        face: which detected face is the image's subject: a choice of
            :func:`~faceprint.pipeline.select_face` ("largest" suits one-person photos), or
            "subject" for benchmarks whose crops are centred on their subject, like LFW: the face
            that best overlaps the subject's box, where a stage whose faces all miss that box
            counts as finding none, so the fallbacks run
            (:func:`~faceprint.evaluate.fallback.subject_face`).
        embedder: embedder backend override (e.g. ``"dlib-onnx"`` for the dlib packs: the same
            network, several times faster); ``None``: the pack's.
        upsample: detector upsampling override (``None``: the pack's default).
        fallbacks: tried in order on images where the detector finds no face
            (see :mod:`faceprint.evaluate.fallback`).
        workers: worker processes (default: every core).
        batch_size: images per task sent to a worker.
        augment: test-time augmentation of the embeddings (``"none"`` or ``"flip"``); part of
            the cache key, so plain and augmented embeddings never mix.
        ray: run the workers on Ray (``"auto"`` or a cluster's address; the image files must be
            readable at the same paths on every Ray node); ``workers`` is then the actor count.

    Its JSON (in a report) holds what shapes the embeddings: embedder, face, upsample,
    fallbacks and augment (the pack is the report's; how the work was spread is left out).
    """

    pack: str = field(default=DEFAULT_PACK, metadata=json_options(json=False))
    face: EvalFaceChoice = "largest"
    embedder: str | None = None
    upsample: int | None = None
    fallbacks: tuple[Fallback, ...] = ()
    workers: int = field(
        default_factory=lambda: os.cpu_count() or 1, metadata=json_options(json=False)
    )
    batch_size: int = field(default=16, metadata=json_options(json=False))
    augment: Augment = "none"
    ray: str | None = field(default=None, metadata=json_options(json=False))

    json_order = ("embedder", "face", "upsample", "fallbacks", "augment")

    def detector_options(self) -> dict[str, Any]:
        return {} if self.upsample is None else {"upsample": self.upsample}

    def pack_spec(self) -> PackSpec:
        """The pack, with the embedder override applied."""
        pack = get_pack(self.pack)
        return pack if self.embedder is None else replace(pack, embedder=self.embedder)


@dataclass(frozen=True)
class ExtractionSummary(JsonResult):
    """Counts of how the images were handled.

    Attributes:
        images: images asked for.
        detected: images where the pack's detector found at least one face.
        several_faces: images where it found more than one (the ``face`` choice decided).
        not_subject: images where it found faces but none was taken as the subject
            (``face="subject"``), so the fallbacks ran.
        by_fallback: (fallback, images it supplied the face for), in order of trial.
        no_face: images left without a face (their pairs score as non-matches).
        errors: images that could not be read.
    """

    images: int
    detected: int
    several_faces: int
    not_subject: int
    by_fallback: tuple[tuple[str, int], ...] = field(
        metadata=json_options(convert=dict, schema=dict[str, int])
    )
    no_face: int
    errors: int


@dataclass(frozen=True)
class ImageEmbeddings:
    """One embedding per image (zero rows where there is none).

    Attributes:
        files: the image paths, in the order asked for.
        embeddings: (N, D) L2-normalised float32; an image without a face has a zero row.
        boxes / landmarks: (N, 4) and (N, 5, 2) of the chosen face in image pixels (zeros where
            there is none).
        sources: per image, where its face came from: ``"detector"``, a fallback name, ``""``
            (no face) or ``"error: <message>"`` (unreadable file).
        face_counts: (N,) faces the pack's detector found in each image.
        summary: the counts above.
    """

    files: tuple[str, ...]
    embeddings: npt.NDArray[np.float32]
    boxes: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32]
    sources: tuple[str, ...]
    face_counts: npt.NDArray[np.int32]
    summary: ExtractionSummary

    @property
    def has_face(self) -> npt.NDArray[np.bool_]:
        """(N,) True where the image has an embedding."""
        return np.array([s != "" and not s.startswith("error:") for s in self.sources])


# --- work done in the engine's workers ------------------------------------------------------


def _stage_detector(analyzer: FaceAnalyzer, stage: str, options: dict[str, Any]) -> Any:
    """The ``detect(rgb)`` of stage ``stage``: the analyzer's, or a fallback detector made for
    this task (fallbacks run on the few images the detector misses; nothing is kept between
    tasks)."""
    if stage == PRIMARY:
        return analyzer.detect
    return create_fallback(analyzer.pack, stage, options).detect  # type: ignore[arg-type]


def _detect_task(
    analyzer: FaceAnalyzer, task: tuple[str, dict[str, Any], list[tuple[int, str]]]
) -> list[tuple[int, Detections | str]]:
    stage, options, items = task
    detect = _stage_detector(analyzer, stage, options)
    out: list[tuple[int, Detections | str]] = []
    for index, path in items:
        try:
            rgb = load_image(path)
            faces = detect(rgb)
        except FaceprintError as exc:
            out.append((index, f"error: {exc}"))
            continue
        out.append((index, Detections(faces, (rgb.shape[0], rgb.shape[1]))))
    return out


def _embed_task(
    analyzer: FaceAnalyzer, items: list[tuple[int, str, npt.NDArray[np.float32]]]
) -> list[tuple[int, Any]]:
    crops, done = [], []
    for index, path, landmarks in items:
        try:
            rgb = load_image(path)
        except FaceprintError as exc:  # the file changed or vanished since detection
            logger.warning("%s", exc)
            continue
        crops.append(align_faces(rgb, landmarks[None], analyzer.embedder.crop))
        done.append(index)
    if not crops:
        return []
    emb = analyzer.embed_crops(np.concatenate(crops))
    return list(zip(done, emb, strict=True))


class _Runner:
    """Runs tasks on the batch engine's workers (:class:`faceprint.batch.Engine`): worker
    processes with one analyzer each, or this process for one worker; made on first use."""

    def __init__(self, config: ExtractionConfig) -> None:
        self.config = config
        self._engine: Engine | None = None

    def map(
        self, func: Callable[[FaceAnalyzer, Any], list[T]], tasks: list[Any]
    ) -> Iterator[list[T]]:
        if not tasks:
            return
        if self._engine is None:
            self._engine = Engine(
                self.config.pack_spec(),
                workers=self._workers(),
                augment=self.config.augment,
                detector_options=self.config.detector_options(),
                ray=self.config.ray,
            )
        yield from self._engine.map(func, tasks)

    def _workers(self) -> int:
        """Worker processes: none for one worker (this process) unless on Ray."""
        workers = self.config.workers
        return workers if workers > 1 or self.config.ray is not None else 0

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def _batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# --- the parent's side ------------------------------------------------------------------------


@dataclass
class _State:
    """Mutable per-run bookkeeping of the parent (never leaves this module)."""

    files: list[str]
    shas: list[str]
    found: dict[int, Detections] = field(default_factory=dict)  # of the stage that found faces
    sources: dict[int, str] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    chosen: dict[int, int] = field(default_factory=dict)  # index of the subject among found


def _stage_key(pack: PackSpec, stage: str, config: ExtractionConfig) -> str:
    if stage == PRIMARY:
        options = {**pack.detector_options, **config.detector_options()}
        return detector_key(pack, pack.detector, options)
    primary = {**pack.detector_options, **config.detector_options()}
    backend, options = fallback_config(pack, stage, primary)  # type: ignore[arg-type]
    return detector_key(pack, backend, options)


def _run_stage(
    stage: str,
    todo: list[int],
    state: _State,
    key: str,
    cache: EmbeddingCache | None,
    runner: _Runner,
    progress: Progress,
) -> dict[int, Detections]:
    """Detections of stage ``stage`` for images ``todo``: cached, else computed and stored."""
    found: dict[int, Detections] = {}
    if cache is not None:
        hits = cache.get_detections(key, [state.shas[i] for i in todo])
        found = {i: hits[state.shas[i]] for i in todo if state.shas[i] in hits}
    missing = [(i, state.files[i]) for i in todo if i not in found]
    options = {**runner.config.pack_spec().detector_options, **runner.config.detector_options()}
    tasks = [(stage, options, b) for b in _batches(missing, runner.config.batch_size)]
    pending: dict[str, Detections] = {}
    results = (r for batch in runner.map(_detect_task, tasks) for r in batch)
    for index, dets in progress(results, len(missing), f"detect ({stage})"):
        if isinstance(dets, str):
            state.sources[index] = dets
            continue
        found[index] = dets
        pending[state.shas[index]] = dets
        if cache is not None and len(pending) >= _SAVE_EVERY:
            cache.put_detections(key, pending)
            pending = {}
    if cache is not None and pending:
        cache.put_detections(key, pending)
    return found


def _detect_all(
    pack: PackSpec,
    config: ExtractionConfig,
    state: _State,
    cache: EmbeddingCache | None,
    runner: _Runner,
    progress: Progress,
) -> None:
    todo = [i for i in range(len(state.files)) if i not in state.sources]  # unreadable: done
    for stage in (PRIMARY, *config.fallbacks):
        key = _stage_key(pack, stage, config)
        found = _run_stage(stage, todo, state, key, cache, runner, progress)
        for i, dets in found.items():
            if stage == PRIMARY:
                state.counts[i] = len(dets.faces)
            pick = _pick(dets, config.face, state.files[i])
            if pick is not None:
                state.found[i], state.chosen[i], state.sources[i] = dets, pick, stage
        todo = [i for i in todo if i not in state.sources]
        if not todo:
            break


def _pick(dets: Detections, choice: EvalFaceChoice, name: str) -> int | None:
    """Index of the chosen face, or None when this stage did not find the subject."""
    if len(dets.faces) == 0:
        return None
    if choice == "subject":
        return subject_face(dets.faces, dets.shape)
    return select_face(dets.faces, choice, image_shape=dets.shape, name=name)


def _embed_chosen(
    pack: PackSpec,
    chosen: dict[int, npt.NDArray[np.float32]],
    state: _State,
    cache: EmbeddingCache | None,
    runner: _Runner,
    progress: Progress,
) -> dict[int, npt.NDArray[np.float32]]:
    augment = runner.config.augment
    options = (
        pack.embedder_options
        if augment == "none"
        else {**pack.embedder_options, "augment": augment}
    )
    key = embedder_key(pack, options)
    fkeys = {i: face_key(state.shas[i], lm) for i, lm in chosen.items()}
    hits = cache.get_embeddings(key, list(fkeys.values())) if cache is not None else {}
    vectors = {i: hits[k] for i, k in fkeys.items() if k in hits}
    missing = [(i, state.files[i], chosen[i]) for i in sorted(chosen) if i not in vectors]
    tasks = _batches(missing, runner.config.batch_size)
    pending: dict[str, npt.NDArray[np.float32]] = {}
    results = (r for batch in runner.map(_embed_task, tasks) for r in batch)
    for index, vec in progress(results, len(missing), "embed"):
        vectors[index] = vec
        pending[fkeys[index]] = vec
        if cache is not None and len(pending) >= _SAVE_EVERY:
            cache.put_embeddings(key, pending)
            pending = {}
    if cache is not None and pending:
        cache.put_embeddings(key, pending)
    return vectors


def _summary(state: _State, config: ExtractionConfig) -> ExtractionSummary:
    sources = [state.sources.get(i, "") for i in range(len(state.files))]
    return ExtractionSummary(
        images=len(state.files),
        detected=sources.count(PRIMARY),
        several_faces=sum(1 for n in state.counts.values() if n > 1),
        not_subject=sum(1 for i, n in state.counts.items() if n and sources[i] != PRIMARY),
        by_fallback=tuple((f, sources.count(f)) for f in config.fallbacks),
        no_face=sources.count(""),
        errors=sum(1 for s in sources if s.startswith("error:")),
    )


def _hash(path: str) -> str:
    """The file's sha256, or ``"error: <message>"`` when it cannot be read (reported, not
    raised: one missing image of a data set must not stop an evaluation)."""
    try:
        return sha256_file(path)
    except OSError as exc:
        cause = (exc.strerror or str(exc)).lower()
        logger.warning("%s: %s", path, cause)
        return f"error: {printable(path)}: {cause}"


def embed_images(
    files: Sequence[str | Path],
    config: ExtractionConfig | None = None,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> ImageEmbeddings:
    """One embedding per image, as described in the module docstring.

    Args:
        files: image paths.
        config: pack, face choice, fallbacks, workers (default :class:`ExtractionConfig`).
        cache: where detections and embeddings are looked up and stored (``None``: no cache).
        progress: wrapper that shows progress (see :data:`Progress`); silent by default.

    Unreadable images are reported in ``sources`` and ``summary.errors``, not raised.

    Raises:
        ModelError: a configured fallback cannot run with the pack.
    """
    config = config or ExtractionConfig()
    progress = progress or _no_progress
    pack = config.pack_spec()
    check_fallbacks(pack, config.fallbacks)
    paths = [str(f) for f in files]
    hashed = [_hash(p) for p in progress(paths, len(paths), "hash files")]
    state = _State(paths, [h if not h.startswith("error:") else "" for h in hashed])
    state.sources.update({i: h for i, h in enumerate(hashed) if h.startswith("error:")})
    runner = _Runner(config)
    try:
        _detect_all(pack, config, state, cache, runner, progress)
        chosen = state.chosen
        landmarks = {i: state.found[i].faces.landmarks[k] for i, k in chosen.items()}
        vectors = _embed_chosen(pack, landmarks, state, cache, runner, progress)
    finally:
        runner.close()
    emb = np.zeros((len(paths), pack.dim), np.float32)
    boxes = np.zeros((len(paths), 4), np.float32)
    points = np.zeros((len(paths), 5, 2), np.float32)
    for i, v in vectors.items():
        emb[i] = v
        boxes[i] = state.found[i].faces.boxes[chosen[i]]
        points[i] = landmarks[i]
    summary = _summary(state, config)
    logger.info("extraction: %s", summary)
    return ImageEmbeddings(
        files=tuple(paths),
        embeddings=emb,
        boxes=boxes,
        landmarks=points,
        sources=tuple(state.sources.get(i, "") for i in range(len(paths))),
        face_counts=np.array([state.counts.get(i, 0) for i in range(len(paths))], np.int32),
        summary=summary,
    )
