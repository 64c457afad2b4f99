"""Turning enrolment images into templates: face choice, embedding, thumbnail; folder scans.

An image with several faces enrols its largest face, unless the two largest are of similar size
(the second at least :data:`AMBIGUITY_RATIO` of the first's area): then nothing says whom the
image is of, and :class:`~faceprint.errors.AmbiguousFaceError` asks for an explicit choice.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.errors import AmbiguousFaceError, ImageError, InvalidArgumentError, NoFaceError
from faceprint.imageio import MAX_PIXELS, ImageInput, load_image, printable, source_name
from faceprint.pipeline import FaceAnalyzer, FaceChoice, select_face
from faceprint.types import Faces

if TYPE_CHECKING:
    from faceprint.batch import ImageResult

__all__ = [
    "AMBIGUITY_RATIO",
    "MAX_NAME_LENGTH",
    "MIN_TEMPLATE_FACE",
    "RESERVED_NAME",
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
#: side of the stored JPEG thumbnail of an aligned crop, in pixels
THUMBNAIL_SIZE = 112
THUMBNAIL_QUALITY = 85
#: shortest face box side (pixels of the frame or photo) whose embedding may become a template
#: without a person choosing it: smaller faces (a video's background, a group photo's back row)
#: give embeddings that resemble every other small face, so a template made of them matches
#: strangers (benchmarks/bench_template_far.py measures it; docs/web-app-library.md)
MIN_TEMPLATE_FACE = 80.0
#: longest identity name accepted, in characters
MAX_NAME_LENGTH = 256
#: Unicode categories refused in names: control characters, lone surrogates (bytes of a file
#: name that are not UTF-8), private use, unassigned, line and paragraph separators
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
#: names the outputs give to faces nobody is enrolled as (identify's ``unknown``, a video's
#: ``unknown_N``), in any letter case: a person so named would read as no match
RESERVED_NAME = re.compile(r"unknown(_[0-9]+)?", re.IGNORECASE)
#: bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make a
#: name display as other text ("Trojan Source"); joiners (ZWNJ, ZWJ) and marks (LRM, RLM) that
#: real names in Persian, Arabic, Indic scripts and emoji sequences need are allowed
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _shown(name: str) -> str:
    """``name`` on one line of valid text: control characters and separators escaped."""
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp")
        else c
        for c in printable(name)
    )


def clean_name(name: object) -> str:
    """An identity name, stripped of surrounding spaces, or :class:`InvalidArgumentError`.

    A name is printable text: not empty, at most :data:`MAX_NAME_LENGTH` characters, without
    control characters (tabs, newlines, escape sequences), bidirectional overrides, lone
    surrogates (a folder name that is not valid UTF-8) or line separators, and not a name the
    outputs use for nobody (:data:`RESERVED_NAME`: ``unknown``, ``unknown_3``). Anything else
    (quotes, brackets, markup, SQL, any
    script, emoji) is stored and returned verbatim.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"an identity name must be a non-empty string, got {name!r}")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"an identity name has at most {MAX_NAME_LENGTH} characters, got {len(name)} "
            f"('{_shown(name[:40])}...')"
        )
    bad = sorted(
        {c for c in name if unicodedata.category(c) in _BAD_CATEGORIES or c in _BIDI_CONTROLS}
    )
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise InvalidArgumentError(
            f"the identity name '{_shown(name)}' holds control, bidirectional-override or "
            f"invalid characters ({shown}; a folder name that is not UTF-8 gives U+DCxx); "
            "use printable text"
        )
    if RESERVED_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"'{name}' is reserved: results call faces that match nobody 'unknown' or "
            "'unknown_N'; choose the person's name"
        )
    return name


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


def thumbnail_jpeg(crop: npt.NDArray[np.uint8], size: int = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG of an aligned RGB crop (resized to ``size`` × ``size`` when larger)."""
    small = crop
    if crop.shape[0] > size:
        small = np.asarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), np.uint8)
    bgr = np.ascontiguousarray(small[:, :, ::-1])
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise ImageError("cannot encode the thumbnail as JPEG")
    return bytes(buf.tobytes())


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
