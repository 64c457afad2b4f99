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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = ["Face", "Faces", "Verification"]

FloatArray = npt.NDArray[np.float32]


def _as_f32(name: str, value: Any, shape: tuple[int | None, ...]) -> FloatArray:
    arr = np.ascontiguousarray(value, dtype=np.float32)
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: (4,) ``x1, y1, x2, y2`` in input-image pixels.
        score: detector confidence; its scale depends on the detector (HOG margins, probabilities).
        landmarks: (5, 2) points in input-image pixels, order documented in this module.
        embedding: (D,) L2-normalised float32, or ``None`` before embedding.
    """

    box: FloatArray
    score: float
    landmarks: FloatArray
    embedding: FloatArray | None = None

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of floats); the embedding is included when present."""
        out: dict[str, Any] = {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
        }
        if self.embedding is not None:
            out["embedding"] = [float(v) for v in self.embedding]
        return out


@dataclass(frozen=True)
class Faces:
    """All faces of one image as a struct of arrays (``N`` faces, ``D``-dim embeddings).

    Attributes:
        boxes: (N, 4) ``x1, y1, x2, y2`` in input-image pixels.
        scores: (N,) detector confidences.
        landmarks: (N, 5, 2) five points per face, order documented in this module.
        embeddings: (N, D) L2-normalised float32, or ``None`` before embedding.

    Index with an int for a :class:`Face`, or with a slice, boolean mask or index array for a new
    :class:`Faces`. Shapes are validated on creation.
    """

    boxes: FloatArray
    scores: FloatArray
    landmarks: FloatArray
    embeddings: FloatArray | None = field(default=None)

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
        with_emb = [f.embedding is not None for f in faces]
        if any(with_emb) and not all(with_emb):
            raise ValueError("either every face has an embedding or none has")
        emb = np.stack([f.embedding for f in faces]) if all(with_emb) else None  # type: ignore[misc]
        return cls(
            np.stack([f.box for f in faces]).astype(np.float32),
            np.array([f.score for f in faces], np.float32),
            np.stack([f.landmarks for f in faces]).astype(np.float32),
            emb,
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
        if isinstance(index, (int, np.integer)):
            emb = None if self.embeddings is None else self.embeddings[index]
            return Face(self.boxes[index], float(self.scores[index]), self.landmarks[index], emb)
        emb = None if self.embeddings is None else self.embeddings[index]
        return Faces(self.boxes[index], self.scores[index], self.landmarks[index], emb)

    @property
    def areas(self) -> FloatArray:
        """(N,) box areas in square pixels."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def with_embeddings(self, embeddings: FloatArray) -> Faces:
        """A copy with ``embeddings`` set (the original is left unchanged)."""
        return Faces(self.boxes, self.scores, self.landmarks, embeddings)

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
class Verification:
    """Outcome of a 1:1 comparison.

    Attributes:
        similarity: cosine similarity of the two embeddings, in [-1, 1].
        threshold: the threshold the decision used.
        same: ``similarity >= threshold``.
        pack: name of the model pack whose threshold was used.
    """

    similarity: float
    threshold: float
    same: bool
    pack: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 6),
            "threshold": self.threshold,
            "same": self.same,
            "pack": self.pack,
        }
