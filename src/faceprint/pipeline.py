"""The composition point: a model pack's detector, alignment and embedder in one object.

:class:`FaceAnalyzer` is what the CLI, the gallery, the server and the evaluation tools use;
a Python user uses it the same way::

    from faceprint import FaceAnalyzer

    fa = FaceAnalyzer()                       # the default pack, models loaded now
    faces = fa.analyze("group.jpg")           # Faces with boxes, landmarks and embeddings
    result = fa.verify("a.jpg", "b.jpg")      # Verification(similarity, threshold, same)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.align import align_faces
from faceprint.compare import verify_embeddings
from faceprint.detect.base import Detector
from faceprint.embed.base import Embedder, l2_normalize
from faceprint.errors import (
    AmbiguousFaceError,
    InvalidArgumentError,
    ModelError,
    NoFaceError,
    PackMismatchError,
)
from faceprint.imageio import ImageInput, load_image, source_name
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.packs.scores import ScoreDistribution
from faceprint.types import Face, Faces, Verification

__all__ = [
    "AUGMENTS",
    "DEFAULT_MAX_SIDE",
    "Augment",
    "EmbeddingSpace",
    "FaceAnalyzer",
    "FaceChoice",
    "parse_face_choice",
    "select_face",
]

logger = logging.getLogger(__name__)

#: detection runs on a copy of the image whose longer side is at most this many pixels (boxes,
#: landmarks and the crops that are embedded stay in full resolution); ``None`` disables it.
#: Chosen by ``benchmarks/bench_max_side.py`` (docs/benchmarks/images.md, "Large images"): with the dlib pack every
#: face of the shared photos and of the 43 annotated PASCAL faces is still found at native size
#: and at 12 MP, and a 12 MP photo takes about 1.1 CPU s to search instead of 3.4–4.4 s at full
#: size (dlib's HOG upsamples once, so full size searches 48 MP, using 0.5 GB more memory). The
#: price: the smallest face found is about 40 × longer side / 2048 px (78 px in a 4000-px photo);
#: for crowds of smaller faces use ``max_side=None``.
DEFAULT_MAX_SIDE: int | None = 2048
#: test-time augmentation of the embedding: the unit embeddings of the augmented crops are
#: averaged ("none": one crop; "flip": the crop and its mirror image)
Augment = Literal["none", "flip"]
AUGMENTS: tuple[str, ...] = ("none", "flip")


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    """Where embeddings live: the pack that made them (its detector, alignment and embedder: a
    gallery made with dlib's HOG keeps ``"dlib"``, today's default is ``"dlib-blazeface"``) and
    their test-time augmentation. Embeddings compare only within one space (:meth:`check`, the
    one compatibility check of galleries, libraries, video indexes and archives), and the
    calibration belongs to the space: read it here, never from tables keyed by pack name. It
    comes from the pack's record (:class:`~faceprint.packs.PackSpec`), so an unknown pack raises
    ``ModelError`` when it is read.

    Attributes:
        pack: the pack's name.
        augment: the test-time augmentation (see :data:`Augment`).
    """

    pack: str
    augment: Augment = "none"

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTS:
            raise InvalidArgumentError(
                f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}"
            )

    def spec(self) -> PackSpec:
        """The pack (raises ``ModelError`` for an unknown one)."""
        return get_pack(self.pack)

    @property
    def threshold(self) -> float:
        """The calibrated cosine threshold of verification in this space."""
        return self.spec().threshold_for(self.augment)

    @property
    def threshold_source(self) -> str:
        """How :attr:`threshold` was obtained."""
        return self.spec().threshold_source_for(self.augment)

    @property
    def cluster_threshold(self) -> float:
        """The cosine threshold of the default clustering method in this space (stricter than
        :attr:`threshold` where calibrated; :attr:`threshold` where not)."""
        return self.spec().cluster_threshold_for(self.augment)

    @property
    def scores(self) -> ScoreDistribution | None:
        """Genuine and impostor cosine statistics measured on LFW, or ``None`` where the pack
        has none (measured on plain embeddings; used for every augmentation of the pack)."""
        return self.spec().scores

    def check(
        self, other: EmbeddingSpace, *, holder: str = "this gallery", source: object = ""
    ) -> None:
        """Raise :class:`PackMismatchError` unless embeddings of ``other`` compare with those
        ``holder`` keeps in this space (the message says how to get a matching analyzer;
        ``source`` becomes the error's ``source``)."""
        if other.pack != self.pack:
            raise PackMismatchError(
                f"{holder} holds embeddings of pack {self.pack!r}, not of pack {other.pack!r}: "
                f"embeddings of different packs do not compare; use FaceAnalyzer({self.pack!r}) "
                f"(--pack {self.pack}), or keep pack {other.pack!r} apart (faceprint migrate "
                "re-embeds a gallery with another pack)",
                source=source,
            )
        if other.augment != self.augment:
            raise PackMismatchError(
                f"{holder} holds embeddings made with augment={self.augment!r}, not "
                f"{other.augment!r}: augmented and plain templates do not mix; use "
                f"FaceAnalyzer(..., augment={self.augment!r}) (--augment {self.augment}), or "
                f"keep augment={other.augment!r} apart",
                source=source,
            )


#: which face of an image to use where one is needed: the largest box, the one nearest the image
#: centre, the only one (an error when there are several), or an index in detection order
FaceChoice = Literal["largest", "center", "only"] | int


def parse_face_choice(value: str) -> FaceChoice:
    """The face choice a user typed (``--face``, a form field): ``largest``, ``center``,
    ``only``, or a face index (0-999).

    Raises:
        InvalidArgumentError: anything else.
    """
    text = str(value).strip()
    if text in ("largest", "center", "only"):
        return text  # type: ignore[return-value]
    if text.isdigit() and len(text) < 4:
        return int(text)
    raise InvalidArgumentError(f"face must be largest, center, only or an index, got {text[:40]!r}")


def select_face(
    faces: Faces, choice: FaceChoice, *, image_shape: tuple[int, ...] | None = None, name: str = ""
) -> int:
    """Index of the face ``choice`` designates.

    Raises:
        NoFaceError: ``faces`` is empty.
        AmbiguousFaceError: ``choice="only"`` and there are several faces.
        ValueError: an unknown choice, an index out of range, or "center" without a shape.
    """
    where = f"{name}: " if name else ""
    if len(faces) == 0:
        raise NoFaceError(f"{where}no face found")
    if isinstance(choice, (int, np.integer)) and not isinstance(choice, bool):
        if not 0 <= choice < len(faces):
            raise InvalidArgumentError(
                f"{where}face index {choice} out of range (found {len(faces)} faces)"
            )
        return int(choice)
    if choice == "largest":
        return int(np.argmax(faces.areas))
    if choice == "only":
        if len(faces) > 1:
            raise AmbiguousFaceError(
                f"{where}{len(faces)} faces found; choose one (largest, center or an index)"
            )
        return 0
    if choice == "center":
        if image_shape is None:
            raise InvalidArgumentError("choice 'center' needs image_shape")
        centre = np.array([image_shape[1], image_shape[0]], np.float32) / 2
        mids = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
        return int(np.argmin(((mids - centre) ** 2).sum(1)))
    raise InvalidArgumentError(
        f"face choice must be 'largest', 'center', 'only' or an index, got {choice!r}"
    )


class FaceAnalyzer:
    """Detect → align → embed with one model pack; models are loaded once, in ``__init__``.

    Args:
        pack: a registered pack name or a :class:`PackSpec`.
        detector / embedder: ready-made backends to use instead of the pack's.
        detector_options / embedder_options: keyword overrides for the pack's backends
            (e.g. ``{"upsample": 2}``, ``{"batch_size": 64}``).
        max_side: detect on a copy downscaled so that its longer side is at most this many
            pixels (``None``: full resolution); boxes and landmarks are mapped back and crops
            are taken from the full-resolution image. See :data:`DEFAULT_MAX_SIDE`.
        augment: test-time augmentation of embeddings (see :data:`Augment`).

    Not thread-safe (the backends are not): create one analyzer per thread or process.
    """

    def __init__(
        self,
        pack: str | PackSpec = DEFAULT_PACK,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        detector_options: dict[str, Any] | None = None,
        embedder_options: dict[str, Any] | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        augment: Augment = "none",
    ) -> None:
        if max_side is not None and not 64 <= int(max_side) <= 100_000:
            raise InvalidArgumentError(f"max_side must be between 64 and 100000, got {max_side}")
        if augment not in AUGMENTS:
            raise InvalidArgumentError(
                f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}"
            )
        self.max_side = None if max_side is None else int(max_side)
        self.augment: Augment = augment
        self.pack = get_pack(pack)
        self.detector = detector or self.pack.create_detector(**(detector_options or {}))
        self.embedder = embedder or self.pack.create_embedder(**(embedder_options or {}))
        if self.embedder.dim != self.pack.dim:
            raise ModelError(
                f"pack {self.pack.name!r} declares {self.pack.dim}-d embeddings but its embedder "
                f"gives {self.embedder.dim}-d"
            )

    @property
    def threshold(self) -> float:
        """The pack's calibrated cosine threshold."""
        return self.pack.threshold_for(self.augment)

    @property
    def space(self) -> EmbeddingSpace:
        """The space of this analyzer's embeddings."""
        return EmbeddingSpace(self.pack.name, self.augment)

    def __repr__(self) -> str:
        return (
            f"FaceAnalyzer(pack={self.pack.name!r}, {self.detector!r}, {self.embedder!r}, "
            f"max_side={self.max_side}, augment={self.augment!r})"
        )

    def detect(self, image: ImageInput) -> Faces:
        """Every face in ``image`` (boxes, scores, landmarks in its pixels; no embeddings).

        Images whose longer side exceeds ``max_side`` are searched on a downscaled copy; the
        boxes and landmarks are mapped back to the full-resolution image.
        """
        return self._scaled(load_image(image), None)

    def detect_near(self, image: ImageInput, near: npt.ArrayLike) -> Faces:
        """Faces of ``image`` where faces are expected at the boxes ``near`` (N, 4), e.g. a
        tracker's: see :meth:`~faceprint.detect.base.Detector.detect_near` (a cheaper search
        than :meth:`detect`, which may miss a small face away from ``near``)."""
        return self._scaled(load_image(image), np.asarray(near, np.float32).reshape(-1, 4))

    def _scaled(self, rgb: npt.NDArray[np.uint8], near: npt.NDArray[np.float32] | None) -> Faces:
        """Detection on ``rgb`` or on its copy downscaled to ``max_side``, mapped back."""
        longer = max(rgb.shape[0], rgb.shape[1])
        if self.max_side is None or longer <= self.max_side:
            return self._search(rgb, near)
        scale = self.max_side / longer
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
        fx, fy = rgb.shape[1] / size[0], rgb.shape[0] / size[1]
        factor = np.tile(np.array([fx, fy], np.float32), 2)
        found = self._search(small, None if near is None else near / factor)
        return Faces(found.boxes * factor, found.scores, found.landmarks * factor[:2])

    def _search(self, rgb: npt.NDArray[np.uint8], near: npt.NDArray[np.float32] | None) -> Faces:
        if near is None:
            return self.detector.detect(rgb)
        return self.detector.detect_near(rgb, near)

    def align(self, image: npt.NDArray[np.uint8], faces: Faces) -> npt.NDArray[np.uint8]:
        """Aligned crops (N, S, S, 3) of ``faces`` in the RGB ``image`` for this pack's embedder."""
        return align_faces(image, faces.landmarks, self.embedder.crop)

    def embed_crops(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, D) unit embeddings of aligned crops (N, S, S, 3), with this analyzer's
        test-time augmentation. The one place crops become embeddings."""
        if self.augment == "none" or len(crops) == 0:
            return self.embedder.embed(crops)
        both = self.embedder.embed(np.concatenate([crops, crops[:, :, ::-1]]))
        return l2_normalize(both[: len(crops)] + both[len(crops) :])

    def embed_faces(self, image: npt.NDArray[np.uint8], faces: Faces) -> Faces:
        """``faces`` with embeddings, all crops of the image in one batched call."""
        return faces.with_embeddings(self.embed_crops(self.align(image, faces)))

    def analyze(self, image: ImageInput) -> Faces:
        """Detect and embed every face of one image."""
        rgb = load_image(image)
        return self.embed_faces(rgb, self.detect(rgb))

    def embed_many(self, items: Sequence[tuple[npt.NDArray[np.uint8], Faces]]) -> list[Faces]:
        """Embed the faces of several decoded images, their crops in one batched call."""
        crops = [self.align(img, f) for img, f in items]
        if not crops:
            return []
        n = sum(len(f) for _, f in items)
        emb = self.embed_crops(np.concatenate(crops)) if n else np.zeros((0, self.dim), np.float32)
        bounds = np.cumsum([0, *(len(f) for _, f in items)])
        return [f.with_embeddings(emb[a:b]) for (_, f), a, b in zip(items, bounds, bounds[1:])]

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return self.embedder.dim

    def analyze_many(self, images: Iterable[npt.NDArray[np.uint8]]) -> list[Faces]:
        """Detect in each decoded RGB image, then embed the crops of all of them in one call.

        For many files, or files that may be bad, use :func:`faceprint.batch.analyze_iter`.
        """
        rgbs = list(images)
        return self.embed_many([(img, self.detect(img)) for img in rgbs])

    def embed_one(self, image: ImageInput, *, face: FaceChoice = "largest") -> Face:
        """The embedded face ``face`` designates in ``image``.

        Raises:
            NoFaceError / AmbiguousFaceError: as :func:`select_face`.
        """
        rgb = load_image(image)
        faces = self.detect(rgb)
        index = select_face(faces, face, image_shape=rgb.shape, name=source_name(image))
        return self.embed_faces(rgb, faces[[index]])[0]

    def verify(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        *,
        threshold: float | None = None,
        face: FaceChoice = "largest",
    ) -> Verification:
        """Are the faces of two images the same person? (the largest face of each by default)"""
        a = self.embed_one(image_a, face=face)
        b = self.embed_one(image_b, face=face)
        return verify_embeddings(
            a.embedding,  # type: ignore[arg-type]
            b.embedding,  # type: ignore[arg-type]
            threshold=self.threshold if threshold is None else threshold,
            pack=self.pack.name,
        )

    def embed_images(self, images: Sequence[ImageInput]) -> list[Faces]:
        """Decode and :meth:`analyze_many` a sequence of inputs (errors propagate)."""
        return self.analyze_many(load_image(i) for i in images)
