"""The photo library: index a folder tree of photos, cluster faces by person, name them, find
every photo of someone.

>>> from faceprint.library import Library
>>> lib = Library.create("~/.faceprint/library")                      # doctest: +SKIP
>>> report = lib.scan("~/Pictures")          # incremental, resumable  # doctest: +SKIP
>>> lib.cluster()                                                     # doctest: +SKIP
>>> biggest = lib.clusters().clusters[0]                              # doctest: +SKIP
>>> lib.label(biggest.id, "Grandma")                                  # doctest: +SKIP
>>> [p.path for p in lib.find("Grandma")]    # oldest first            # doctest: +SKIP

The index is SQLite in the library directory (``library.sqlite``); the people a user names are
identities of a :class:`~faceprint.gallery.Gallery` (``DIR/people`` by default). The photo tree
is only ever read.
"""

from faceprint.library.library import GALLERY_DIR, LIBRARY_AUGMENT, Library
from faceprint.library.types import (
    ClusterInfo,
    ClusterList,
    ClusterReport,
    FaceRecord,
    FileProblem,
    FoundPhoto,
    LibraryStatus,
    ScanReport,
    to_jsonable,
)
from faceprint.library.walk import IMAGE_EXTENSIONS

__all__ = [
    "GALLERY_DIR",
    "IMAGE_EXTENSIONS",
    "LIBRARY_AUGMENT",
    "ClusterInfo",
    "ClusterList",
    "ClusterReport",
    "FaceRecord",
    "FileProblem",
    "FoundPhoto",
    "Library",
    "LibraryStatus",
    "ScanReport",
    "to_jsonable",
]
