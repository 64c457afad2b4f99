"""The gallery: enrolled identities, 1:N identification and lookalike search.

>>> from faceprint import FaceAnalyzer
>>> from faceprint.gallery import Gallery
>>> fa = FaceAnalyzer()                                              # doctest: +SKIP
>>> with Gallery.create("people", pack=fa.pack) as g:                # doctest: +SKIP
...     g.enroll("Barack Obama", ["obama.jpg", "obama2.jpg"], fa)
...     for face in g.identify(fa.analyze("group.jpg")):
...         print(face.label, face.similarity)

SQLite (``DIR/gallery.sqlite``) is the source of truth; the vector index under ``DIR/index`` is
derived from it (backends: :mod:`faceprint.index`).
"""

from faceprint.gallery.enroll import AMBIGUITY_RATIO, choose_face, scan_folders
from faceprint.gallery.gallery import Gallery, Query
from faceprint.gallery.live import Aggregate
from faceprint.gallery.settings import GallerySettings
from faceprint.gallery.types import (
    EnrollReport,
    FileOutcome,
    FileStatus,
    IdentifiedFace,
    Identity,
    Match,
    PeoplePage,
    PersonSummary,
    Template,
)

__all__ = [
    "AMBIGUITY_RATIO",
    "Aggregate",
    "EnrollReport",
    "FileOutcome",
    "FileStatus",
    "Gallery",
    "GallerySettings",
    "IdentifiedFace",
    "Identity",
    "Match",
    "PeoplePage",
    "PersonSummary",
    "Query",
    "Template",
    "choose_face",
    "scan_folders",
]
