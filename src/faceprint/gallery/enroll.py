"""Turning enrolment images into templates: face choice, embedding, thumbnail; folder scans.

An image with several faces enrols its largest face, unless the two largest are of similar size
(the second at least :data:`AMBIGUITY_RATIO` of the first's area): then nothing says whom the
image is of, and :class:`~faceprint.errors.AmbiguousFaceError` asks for an explicit choice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from faceprint.errors import AmbiguousFaceError, ImageError, InvalidArgumentError, NoFaceError
from faceprint.imageio import (
    MAX_PIXELS,
    THUMBNAIL_SIZE,
    ImageInput,
    load_image,
    source_name,
    thumbnail_jpeg,
)
from faceprint.names import MAX_NAME_LENGTH, clean_name
from faceprint.pipeline import FaceAnalyzer, FaceChoice, select_face
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.batch import ImageResult

__all__ = [
    "AMBIGUITY_RATIO",
    "MAX_NAME_LENGTH",
    "MIN_TEMPLATE_FACE",
    "THUMBNAIL_SIZE",
    "EnrolmentFace",
    "choose_face",
    "clean_name",
    "embed_each",
    "embed_for_enrolment",
    "enrolment_face",
    "scan_folders",
    "thumbnail_jpeg",
]

#: "largest" is ambiguous when the second-largest face has at least this share of its area
AMBIGUITY_RATIO = 0.8
#: shortest face box side (pixels of the frame or photo) whose embedding may become a template
#: without a person choosing it: smaller faces (a video's background, a group photo's back row)
#: give embeddings that resemble every other small face, so a template made of them matches
#: strangers (benchmarks/bench_template_far.py measures it; docs/web-app-library.md)
MIN_TEMPLATE_FACE = 80.0


@dataclass(frozen=True)
class EnrolmentFace:
    """One face ready to be stored as a template."""

    embedding: npt.NDArray[np.float32]
    box: tuple[float, float, float, float]
    thumbnail: bytes
    source: str


def choose_face(
    faces: Faces,
    choice: FaceChoice,
    *,
    image_shape: tuple[int, ...] | None = None,
    name: str = "",
    ambiguity: float = AMBIGUITY_RATIO,
) -> int:
    """Index of the face to enrol; like :func:`~faceprint.pipeline.select_face`, except that
    ``"largest"`` refuses two largest faces of similar size.

    Raises:
        NoFaceError: no face.
        AmbiguousFaceError: ``"only"`` with several faces, or ``"largest"`` with two largest
            faces within ``ambiguity`` of each other's area.
    """
    if choice == "largest" and len(faces) > 1:
        order = np.argsort(-faces.areas, kind="stable")
        first, second = faces.areas[order[0]], faces.areas[order[1]]
        if second >= ambiguity * first:
            where = f"{name}: " if name else ""
            raise AmbiguousFaceError(
                f"{where}{len(faces)} faces, the two largest of similar size (faces "
                f"{order[0]} and {order[1]} in detection order); say which with face=INDEX "
                "(--face INDEX, see `faceprint detect`) or use a photo of one person"
            )
    return select_face(faces, choice, image_shape=image_shape, name=name)


def embed_for_enrolment(
    analyzer: FaceAnalyzer, image: ImageInput, face: FaceChoice, *, source: str | None = None
) -> EnrolmentFace:
    """Detect, choose, align and embed the face to enrol from ``image``.

    Raises:
        ImageError / NoFaceError / AmbiguousFaceError: the image cannot give one face.
    """
    name = source_name(image)
    rgb = load_image(image)
    faces = analyzer.detect(rgb)
    index = choose_face(faces, face, image_shape=rgb.shape, name=name)
    chosen = faces[[index]]
    crop = analyzer.align(rgb, chosen)
    embedding = analyzer.embed_crops(crop)[0]
    if source is None:
        source = str(image) if isinstance(image, (str, os.PathLike)) else ""
    box = tuple(float(v) for v in chosen.boxes[0])
    return EnrolmentFace(embedding, box, thumbnail_jpeg(crop[0]), source)  # type: ignore[arg-type]


def embed_each(
    analyzer: FaceAnalyzer,
    images: Sequence[tuple[str, bytes]],
    face: FaceChoice,
    *,
    max_pixels: int = MAX_PIXELS,
) -> tuple[list[EnrolmentFace], list[tuple[str, str]]]:
    """:func:`embed_for_enrolment` of each ``(source, bytes)`` image with the same face
    choice: the faces to enrol, and ``(source, reason)`` of each image that gave none (no face,
    several similar faces, not a readable image), in input order."""
    done: list[EnrolmentFace] = []
    skipped: list[tuple[str, str]] = []
    for source, data in images:
        try:
            rgb = load_image(data, max_pixels=max_pixels)
            done.append(embed_for_enrolment(analyzer, rgb, face, source=source))
        except (NoFaceError, AmbiguousFaceError, ImageError) as exc:
            text = str(exc)
            skipped.append((source, text.split(": ", 1)[-1] if text.startswith("<") else text))
    return done, skipped


def enrolment_face(result: ImageResult, face: FaceChoice, *, source: str) -> EnrolmentFace:
    """The face to enrol from an engine result (analysed with embeddings and thumbnails).

    Raises:
        the result's error (ImageError, ...), NoFaceError / AmbiguousFaceError as
        :func:`choose_face`.
    """
    if result.error is not None:
        raise result.error
    faces = result.faces
    if faces is None or faces.embeddings is None or len(result.thumbnails) != len(faces):
        raise InvalidArgumentError(
            "enrolment needs results analysed with embeddings and thumbnails"
        )
    index = choose_face(faces, face, image_shape=result.shape, name=result.source)
    box = tuple(float(v) for v in faces.boxes[index])
    return EnrolmentFace(faces.embeddings[index], box, result.thumbnails[index], source)  # type: ignore[arg-type]


def scan_folders(root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(person name, file) for every file in each subfolder of ``root``, sorted.

    The subfolder's name is the person's name; hidden files and folders are left out.

    Raises:
        ImageError: ``root`` is not a folder.
    """
    base = Path(root)
    if not base.is_dir():
        raise ImageError(f"{base}: not a folder (expected one subfolder per person)")
    pairs: list[tuple[str, Path]] = []
    for person in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in person.iterdir() if f.is_file() and not f.name.startswith("."))
        pairs.extend((person.name, f) for f in files)
    return pairs
