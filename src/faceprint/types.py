"""Result types shared by every stage of the pipeline.

Coordinate conventions (all stages, all backends):

* ``box``: ``x1, y1, x2, y2`` in pixels of the *input image* (after EXIF orientation),
  float32, ``x2``/``y2`` exclusive.
* ``landmarks``: five ``(x, y)`` points in pixels of the input image, in this order:
  the eye on the image's left, the eye on the image's right, the nose tip, the mouth corner on
  the image's left, the mouth corner on the image's right (the insightface / ArcFace order).
* ``embedding``: L2-normalised float32 vector; the dot product of two is their cosine similarity.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, json_options
from faceprint.errors import InvalidArgumentError

__all__ = ["Face", "Faces", "Verification"]

_OPTIONAL = ("embeddings", "track_id", "source_index")

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _as_f32(name: str, value: Any, shape: tuple[int | None, ...]) -> FloatArray:
    arr = np.ascontiguousarray(value, dtype=np.float32)
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise InvalidArgumentError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def _as_i64(name: str, value: Any, n: int, *, minimum: int | None = None) -> IntArray | None:
    """``value`` as an (n,) int64 array (a scalar is repeated), or ``None`` for ``None``."""
    if value is None:
        return None
    raw = np.asarray(value)
    if raw.ndim == 0:
        raw = np.full(n, raw)
    if raw.shape != (n,):
        raise InvalidArgumentError(f"{name} must have shape ({n},), got {raw.shape}")
    if n and raw.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name} must hold integers, got dtype {raw.dtype}")
    arr = np.ascontiguousarray(raw, dtype=np.int64)
    if minimum is not None and n and int(arr.min()) < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {int(arr.min())}")
    return arr


def _same_presence(name: str, values: Sequence[object | None]) -> bool:
    """Whether every value is set (``True``) or none is (``False``); mixed is an error."""
    present = [v is not None for v in values]
    if any(present) and not all(present):
        raise InvalidArgumentError(f"either every face has {name} or none has")
    return bool(present) and all(present)


@dataclass(frozen=True, eq=False)
class Face(JsonResult):
    """One detected face.

    Attributes:
        box: (4,) ``x1, y1, x2, y2`` in input-image pixels.
        score: detector confidence; its scale depends on the detector (HOG margins, probabilities).
        landmarks: (5, 2) points in input-image pixels, order documented in this module.
        embedding: (D,) L2-normalised float32, or ``None`` before embedding.
        track_id: the track the face belongs to (video), or ``None``.
        source_index: position of the face's image in a batch of inputs, or ``None``.
    """

    box: FloatArray = field(metadata=json_options(digits=2, schema=list[float]))
    score: float = field(metadata=json_options(digits=4))
    landmarks: FloatArray = field(metadata=json_options(digits=2, schema=list[list[float]]))
    embedding: FloatArray | None = field(
        default=None, metadata=json_options(omit_none=True, schema=list[float])
    )
    track_id: int | None = field(default=None, metadata=json_options(omit_none=True))
    source_index: int | None = field(default=None, metadata=json_options(omit_none=True))

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


@dataclass(frozen=True, eq=False)
class Faces:
    """All faces of one image as a struct of arrays (``N`` faces, ``D``-dim embeddings).

    Attributes:
        boxes: (N, 4) ``x1, y1, x2, y2`` in input-image pixels.
        scores: (N,) detector confidences.
        landmarks: (N, 5, 2) five points per face, order documented in this module.
        embeddings: (N, D) L2-normalised float32, or ``None`` before embedding.
        track_id: (N,) int64 track of each face (video: the same person across frames), or
            ``None``.
        source_index: (N,) int64 position (>= 0) of each face's image among a batch's inputs
            (set when faces of several images are concatenated), or ``None``.

    Index with an int for a :class:`Face`, or with a slice, boolean mask or index array for a new
    :class:`Faces`; :meth:`concat` joins several. Shapes are validated on creation.
    """

    boxes: FloatArray
    scores: FloatArray
    landmarks: FloatArray
    embeddings: FloatArray | None = field(default=None)
    track_id: IntArray | None = field(default=None, kw_only=True)
    source_index: IntArray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        boxes = _as_f32("boxes", self.boxes, (None, 4))
        n = len(boxes)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", _as_f32("scores", self.scores, (n,)))
        object.__setattr__(self, "landmarks", _as_f32("landmarks", self.landmarks, (n, 5, 2)))
        if self.embeddings is not None:
            object.__setattr__(
                self, "embeddings", _as_f32("embeddings", self.embeddings, (n, None))
            )
        object.__setattr__(self, "track_id", _as_i64("track_id", self.track_id, n))
        source = _as_i64("source_index", self.source_index, n, minimum=0)
        object.__setattr__(self, "source_index", source)

    @classmethod
    def empty(cls, dim: int | None = None) -> Faces:
        """No face; with ``dim`` the embeddings are a (0, dim) array instead of ``None``."""
        emb = None if dim is None else np.zeros((0, dim), np.float32)
        f32 = np.float32
        return cls(np.zeros((0, 4), f32), np.zeros(0, f32), np.zeros((0, 5, 2), f32), emb)

    @classmethod
    def from_list(cls, faces: list[Face]) -> Faces:
        """Stack single faces (all with or all without embeddings)."""
        if not faces:
            return cls.empty()
        emb = [f.embedding for f in faces]
        tracks, sources = [f.track_id for f in faces], [f.source_index for f in faces]
        return cls(
            np.stack([f.box for f in faces]).astype(np.float32),
            np.array([f.score for f in faces], np.float32),
            np.stack([f.landmarks for f in faces]).astype(np.float32),
            np.stack(emb) if _same_presence("an embedding", emb) else None,  # type: ignore[arg-type]
            track_id=np.array(tracks, np.int64) if _same_presence("a track_id", tracks) else None,
            source_index=(
                np.array(sources, np.int64) if _same_presence("a source_index", sources) else None
            ),
        )

    @classmethod
    def concat(cls, parts: Sequence[Faces]) -> Faces:
        """The faces of ``parts`` one after the other (e.g. every frame of a video).

        Parts without faces are skipped; the others must agree on embeddings (all with, of one
        size, or all without), ``track_id`` and ``source_index`` (all set or none).
        """
        full = [p for p in parts if len(p)]
        if not full:
            return cls.empty()
        emb, tracks, sources = ([getattr(p, a) for p in full] for a in _OPTIONAL)
        dims = {e.shape[1] for e in emb if e is not None}
        if len(dims) > 1:
            raise InvalidArgumentError(f"cannot concatenate embeddings of sizes {sorted(dims)}")
        return cls(
            np.concatenate([p.boxes for p in full]),
            np.concatenate([p.scores for p in full]),
            np.concatenate([p.landmarks for p in full]),
            np.concatenate(emb) if _same_presence("embeddings", emb) else None,
            track_id=np.concatenate(tracks) if _same_presence("track_id", tracks) else None,
            source_index=(
                np.concatenate(sources) if _same_presence("source_index", sources) else None
            ),
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[Face]:
        return (self[i] for i in range(len(self)))

    @overload
    def __getitem__(self, index: int | np.integer) -> Face: ...
    @overload
    def __getitem__(self, index: slice | npt.ArrayLike) -> Faces: ...
    def __getitem__(self, index: Any) -> Face | Faces:
        emb, track, source = (None if a is None else a[index] for a in self._optional())
        if isinstance(index, (int, np.integer)):
            return Face(
                self.boxes[index],
                float(self.scores[index]),
                self.landmarks[index],
                emb,
                track_id=None if track is None else int(track),
                source_index=None if source is None else int(source),
            )
        return Faces(
            self.boxes[index],
            self.scores[index],
            self.landmarks[index],
            emb,
            track_id=track,
            source_index=source,
        )

    def _optional(self) -> tuple[Any, Any, Any]:
        return self.embeddings, self.track_id, self.source_index

    @property
    def areas(self) -> FloatArray:
        """(N,) box areas in square pixels."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def with_embeddings(self, embeddings: FloatArray) -> Faces:
        """A copy with ``embeddings`` set (the original is left unchanged)."""
        return Faces(
            self.boxes,
            self.scores,
            self.landmarks,
            embeddings,
            track_id=self.track_id,
            source_index=self.source_index,
        )

    def with_ids(
        self, *, track_id: npt.ArrayLike | None = None, source_index: npt.ArrayLike | None = None
    ) -> Faces:
        """A copy with ``track_id`` and/or ``source_index`` set (an int applies to every face;
        ``None`` keeps the current value)."""
        n = len(self)
        return Faces(
            self.boxes,
            self.scores,
            self.landmarks,
            self.embeddings,
            track_id=self.track_id if track_id is None else _as_i64("track_id", track_id, n),
            source_index=(
                self.source_index
                if source_index is None
                else _as_i64("source_index", source_index, n, minimum=0)
            ),
        )

    def largest(self) -> Face:
        """The face with the largest box; raises ``IndexError`` when there is none."""
        if len(self) == 0:
            raise IndexError("no face")
        return self[int(np.argmax(self.areas))]

    def sorted_by_area(self) -> Faces:
        """Faces ordered from largest to smallest box."""
        return self[np.argsort(-self.areas, kind="stable")]

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-ready list of :meth:`Face.to_dict`."""
        return [f.to_dict() for f in self]


@dataclass(frozen=True)
class Verification(JsonResult):
    """Outcome of a 1:1 comparison.

    Attributes:
        similarity: cosine similarity of the two embeddings, in [-1, 1].
        threshold: the threshold the decision used.
        same: ``similarity >= threshold``.
        pack: name of the model pack whose threshold was used.
    """

    similarity: float = field(metadata=json_options(digits=6))
    threshold: float
    same: bool
    pack: str = ""
