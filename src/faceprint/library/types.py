"""Result types of the photo library (frozen dataclasses; JSON via :func:`to_jsonable` or
``to_dict()``, both the one JSON helper).

Coordinates: ``box`` is ``x1, y1, x2, y2`` in pixels of the photo as displayed (EXIF orientation
applied). Paths are relative to the library root, with ``/`` separators, as scanned. Times are
ISO 8601 strings: ``taken`` is the EXIF capture time (local time of the camera, no zone) or
``None``; ``mtime`` is the file's modification time in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from faceprint._json import JsonResult, to_json

__all__ = [
    "ClusterInfo",
    "ClusterList",
    "ClusterReport",
    "FaceRecord",
    "FaceState",
    "FileProblem",
    "FoundPhoto",
    "LibraryStatus",
    "ScanReport",
    "to_jsonable",
]

#: ``free``: nobody named it; ``auto``: named by faceprint (a confident match to a named
#: person, or clustered with their faces); ``confirmed``: named by the user (``label``/``merge``)
FaceState = Literal["free", "auto", "confirmed"]


def to_jsonable(value: Any) -> Any:
    """Plain JSON data (dicts, lists, numbers, strings) of a library result: the one JSON helper,
    :func:`faceprint._json.to_json`."""
    return to_json(value)


@dataclass(frozen=True, slots=True)
class FileProblem(JsonResult):
    """A file the scan could not index (``errors``) or left out on purpose (``skipped``).

    Attributes:
        path: relative to the library root.
        reason: one line, e.g. ``"corrupt or truncated image"``, ``"symlink loop"``.
    """

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScanReport(JsonResult):
    """What one scan did.

    Attributes:
        root: the absolute library root.
        files: image files found in the tree.
        unchanged: files whose size and mtime (or content hash) matched the index.
        added / changed / moved / deleted: photos new to the index, re-decoded because their
            content changed, found under a new path (faces and names kept), gone from the tree.
        faces_added / faces_removed: faces inserted and deleted.
        named: new faces named automatically (confident match to a named person).
        errors: files that could not be indexed, with the reason (the scan went on).
        skipped: entries left out on purpose (other file types, symlinks), with the reason.
        seconds / cpu_seconds: wall time, and CPU time of this process and its workers.
        cancelled: the scan was stopped early (what was committed stays).
    """

    root: str
    files: int
    unchanged: int
    added: int
    changed: int
    moved: int
    deleted: int
    faces_added: int
    faces_removed: int
    named: int
    errors: tuple[FileProblem, ...]
    skipped: tuple[FileProblem, ...]
    seconds: float
    cpu_seconds: float
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class FaceRecord(JsonResult):
    """One face of the library.

    Attributes:
        id: the face id (``remove FACE``).
        photo_id / path: its photo, path relative to the root.
        box: ``x1, y1, x2, y2`` pixels of the photo (EXIF orientation applied).
        score: detector confidence. size: the box's shorter side in pixels.
        quality: 0..1, size × sharpness (see :mod:`faceprint.library.quality`).
        cluster: cluster id or ``None`` (unclustered). name: the person, or ``None``.
        state: see :data:`FaceState`.
    """

    id: int
    photo_id: int
    path: str
    box: tuple[float, float, float, float]
    score: float
    size: float
    quality: float
    cluster: int | None
    name: str | None
    state: str


@dataclass(frozen=True, slots=True)
class ClusterInfo(JsonResult):
    """One cluster: the faces of one person (named) or of one unnamed group."""

    id: int
    size: int
    name: str | None
    faces: tuple[FaceRecord, ...]


@dataclass(frozen=True, slots=True)
class ClusterList(JsonResult):
    """Clusters largest first, and the faces in none."""

    clusters: tuple[ClusterInfo, ...]
    unclustered: tuple[FaceRecord, ...]


@dataclass(frozen=True, slots=True)
class ClusterReport(JsonResult):
    """What one clustering run did.

    Attributes:
        faces: faces considered. fixed: named/confirmed faces that kept their person.
        clusters: unnamed clusters formed. clustered: free faces put in a cluster.
        named: free faces that joined a named person's cluster (named automatically).
        unclustered: faces left in no cluster. excluded: faces a user took out of an unnamed
            cluster ("not this person"), kept out of clustering.
        seconds: wall time.
    """

    faces: int
    fixed: int
    clusters: int
    clustered: int
    named: int
    unclustered: int
    excluded: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FoundPhoto(JsonResult):
    """A photo found by :meth:`Library.find`.

    Attributes:
        id / path: photo id and path relative to the root.
        taken: EXIF capture time (ISO 8601) or ``None``. mtime: file modification time (UTC).
        width / height: pixels (EXIF orientation applied).
        faces: the photo's faces.
    """

    id: int
    path: str
    taken: str | None
    mtime: str
    width: int
    height: int
    faces: tuple[FaceRecord, ...]


@dataclass(frozen=True, slots=True)
class LibraryStatus(JsonResult):
    """Counts of the library (``faceprint library status``)."""

    root: str | None
    library: str
    gallery: str
    pack: str
    photos: int
    faces: int
    clusters: int
    named: int
    people: tuple[str, ...]
    unclustered: int
    problems: int
    augment: str = "none"
