"""The one exception tree of faceprint.

Every error faceprint raises on purpose derives from :class:`FaceprintError`; errors of the
libraries underneath (PIL, OpenCV, onnxruntime, FAISS, sqlite3) are translated at the boundary
where faceprint calls them and re-raised ``from`` the original::

    FaceprintError
    ├── ImageError (ValueError)          an input image cannot be read or is not acceptable
    │   └── ImageTooLargeError           pixel count or file size over the configured limit
    ├── NoFaceError (ValueError)         an operation needs a face and the image has none
    ├── AmbiguousFaceError (ValueError)  several faces and no rule says which one to use
    ├── ModelError                       a model pack or model file is unknown, missing or broken
    │   └── MissingDependencyError (ImportError)  an optional extra is not installed
    ├── GalleryError                     a gallery cannot be opened or changed as asked
    │   ├── IdentityNotFoundError (KeyError)
    │   ├── IdentityExistsError
    │   └── PackMismatchError            embeddings of another model pack
    ├── IndexCorruptError                a vector index file is corrupt or inconsistent
    └── EvaluationError                  a protocol file or data set is malformed
"""

from __future__ import annotations

__all__ = [
    "AmbiguousFaceError",
    "EvaluationError",
    "FaceprintError",
    "GalleryError",
    "IdentityExistsError",
    "IdentityNotFoundError",
    "ImageError",
    "ImageTooLargeError",
    "IndexCorruptError",
    "MissingDependencyError",
    "ModelError",
    "NoFaceError",
    "PackMismatchError",
]


class FaceprintError(Exception):
    """Root of every error faceprint raises on purpose."""


class ImageError(FaceprintError, ValueError):
    """An input image cannot be decoded or is not acceptable (names the file and the cause)."""


class ImageTooLargeError(ImageError):
    """The image has more pixels, or the file more bytes, than the configured limit."""


class NoFaceError(FaceprintError, ValueError):
    """The operation needs a face and none was detected."""


class AmbiguousFaceError(FaceprintError, ValueError):
    """Several faces were found and nothing says which one to use."""


class ModelError(FaceprintError):
    """A model pack or model file is unknown, missing, corrupt or does not fit."""


class MissingDependencyError(ModelError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class GalleryError(FaceprintError):
    """A gallery cannot be opened or changed as asked."""


class IdentityNotFoundError(GalleryError, KeyError):
    """No identity with this name or id exists in the gallery."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class IdentityExistsError(GalleryError):
    """An identity with this name exists already (and appending was not asked for)."""


class PackMismatchError(GalleryError):
    """Embeddings from one model pack cannot be compared with those of another."""


class IndexCorruptError(FaceprintError):
    """A vector index file is corrupt or does not match the gallery it claims to index."""


class EvaluationError(FaceprintError, ValueError):
    """A protocol file or evaluation data set is malformed."""
