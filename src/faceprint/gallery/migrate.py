"""Re-embed a gallery with another pack (e.g. an old HOG gallery with today's default).

Embeddings of different packs do not mix, so a gallery keeps the pack it was made with (its
detector and alignment included) until it is migrated. :func:`migrate_gallery` writes a **new**
gallery: each template is re-made from its stored source file (the face whose box overlaps the
stored box best, else the largest) with its thumbnail, as an enrolment makes them; identities keep
their names and metadata, and the templates
whose source file is gone, unreadable or without a face are reported, not guessed. The old
gallery is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import FaceprintError
from faceprint.gallery.enroll import EnrolmentFace
from faceprint.gallery.gallery import Gallery
from faceprint.gallery.types import Template
from faceprint.imageio import load_image, thumbnail_jpeg
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import Augment, FaceAnalyzer
from faceprint.types import Faces

__all__ = ["MigrationReport", "migrate_gallery"]


@dataclass(frozen=True, slots=True)
class MigrationReport(JsonResult):
    """What :func:`migrate_gallery` did.

    Attributes:
        source / target: the old and the new gallery folders.
        pack / augment: the new gallery's pack and test-time augmentation.
        templates: templates of the old gallery.
        migrated: templates re-embedded into the new gallery.
        not_migrated: ``(identity, source, reason)`` of every template left out.
        identities_dropped: identities none of whose templates could be re-made.
    """

    source: str
    target: str
    pack: str
    augment: str
    templates: int
    migrated: int
    not_migrated: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    identities_dropped: tuple[str, ...] = field(default_factory=tuple)


def _box_iou(boxes: npt.NDArray[np.float32], box: tuple[float, ...]) -> npt.NDArray[np.float64]:
    ref = np.asarray(box, np.float64)
    lo = np.maximum(boxes[:, :2], ref[:2])
    hi = np.minimum(boxes[:, 2:], ref[2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + np.prod(ref[2:] - ref[:2])
    return np.asarray(inter / np.maximum(areas - inter, 1e-9), np.float64)


def _pick(faces: Faces, box: tuple[float, float, float, float] | None) -> int:
    """The face that overlaps the stored box best (any overlap), else the largest."""
    if box is not None:
        overlap = _box_iou(faces.boxes, box)
        if overlap.max() > 0:
            return int(np.argmax(overlap))
    return int(np.argmax(faces.areas))


def _resolve(source: str, root: Path | None) -> Path | None:
    if not source:
        return None
    path = Path(source)
    if not path.is_absolute() and root is not None:
        path = root / path
    return path if path.is_file() else None


def _remake(analyzer: FaceAnalyzer, template: Template, root: Path | None) -> EnrolmentFace | str:
    """The template's face in its source, re-made as an enrolment makes it (embedding, box
    and thumbnail of the aligned crop), or why it cannot be."""
    path = _resolve(template.source, root)
    if path is None:
        return "source file not found" if template.source else "no source recorded"
    try:
        rgb = load_image(path)
        faces = analyzer.detect(rgb)
        if len(faces) == 0:
            return "no face found by the new pack"
        chosen = faces[[_pick(faces, template.box)]]
        crop = analyzer.align(rgb, chosen)
        embedding = analyzer.embed_crops(crop)[0]
        thumbnail = thumbnail_jpeg(crop[0])
    except FaceprintError as exc:
        return str(exc)
    box = tuple(float(v) for v in chosen.boxes[0])
    return EnrolmentFace(embedding, box, thumbnail, template.source)  # type: ignore[arg-type]


def migrate_gallery(
    source: str | Path,
    target: str | Path,
    pack: str = DEFAULT_PACK,
    *,
    augment: Augment | None = None,
    root: str | Path | None = None,
) -> MigrationReport:
    """Write a new gallery at ``target`` with ``source``'s identities re-embedded by ``pack``.

    Args:
        source: an existing gallery (read only).
        target: a folder for the new gallery (must not hold one).
        pack: the new pack (default: today's default).
        augment: the new gallery's augmentation (default: the old gallery's).
        root: folder that relative source paths are relative to (default: the current one).

    Raises:
        GalleryError: ``source`` is not a gallery or ``target`` holds one already.
    """
    base = None if root is None else Path(root)
    with Gallery.open(source) as old:
        aug: Augment = augment or old.augment
        analyzer = FaceAnalyzer(pack, augment=aug)
        names: list[str] = []
        made: list[EnrolmentFace] = []
        left_out: list[tuple[str, str, str]] = []
        metadata, count = {}, 0
        for ident in old.identities():
            metadata[ident.name] = dict(ident.metadata)
            for template in old.templates(ident.name):
                count += 1
                face = _remake(analyzer, template, base)
                if isinstance(face, str):
                    left_out.append((ident.name, template.source, face))
                    continue
                names.append(ident.name)
                made.append(face)
    with Gallery.create(target, analyzer.pack, augment=aug) as new:
        if made:
            new.add_embeddings(
                names,
                np.stack([f.embedding for f in made]),
                sources=[f.source for f in made],
                boxes=np.asarray([f.box for f in made], np.float32),
                thumbnails=[f.thumbnail for f in made],
            )
        for name in dict.fromkeys(names):
            if metadata[name]:
                new.set_metadata(name, metadata[name])
    return MigrationReport(
        source=str(source),
        target=str(target),
        pack=analyzer.pack.name,
        augment=aug,
        templates=count,
        migrated=len(made),
        not_migrated=tuple(left_out),
        identities_dropped=tuple(n for n in metadata if n not in set(names)),
    )
