"""The one exception tree of faceprint.

Every error faceprint raises on purpose derives from :class:`FaceprintError`; errors of the
libraries underneath (PIL, OpenCV, onnxruntime, FAISS, sqlite3) are translated at the boundary
where faceprint calls them and re-raised ``from`` the original::

    FaceprintError
    ├── ImageError (ValueError)          an input image cannot be read or is not acceptable
    │   └── ImageTooLargeError           pixel count or file size over the configured limit
    ├── VideoError (ValueError)          an input video cannot be read or is not acceptable
    ├── NoFaceError (ValueError)         an operation needs a face and the image has none
    ├── AmbiguousFaceError (ValueError)  several faces and no rule says which one to use
    ├── ModelError                       a model pack or model file is unknown, missing or broken
    │   └── MissingDependencyError (ImportError)  an optional extra is not installed
    ├── GalleryError                     a gallery cannot be opened or changed as asked
    │   ├── IdentityNotFoundError (KeyError)
    │   ├── IdentityExistsError
    │   └── PackMismatchError            embeddings of another model pack
    ├── IndexCorruptError                a vector index file is corrupt or inconsistent
    ├── EvaluationError (ValueError)     a protocol file or data set is malformed
    ├── InvalidArgumentError (ValueError) a caller's argument is out of range or malformed
    ├── ServiceError                     the HTTP service refused or failed (client side)
    └── StorageError                     a database or file faceprint writes cannot be used

Errors about one input carry it in ``err.source`` (a path or a name; ``""`` when unknown), so a
batch run can report which file failed and a server can tell a client's mistake (the
``ValueError`` branches: 4xx) from a fault (5xx). Third-party exceptions are translated with
:func:`map_exceptions`, one small context manager used at every call into PIL, OpenCV,
onnxruntime, dlib, FAISS and SQLite::

    with map_exceptions({cv2.error: ImageError}, source=path):
        cv2.imwrite(...)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

__all__ = [
    "CODES",
    "AmbiguousFaceError",
    "EvaluationError",
    "FaceprintError",
    "GalleryError",
    "IdentityExistsError",
    "IdentityNotFoundError",
    "ImageError",
    "ImageTooLargeError",
    "IndexCorruptError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelError",
    "NoFaceError",
    "PackMismatchError",
    "RecordNotFoundError",
    "ServiceError",
    "StorageError",
    "VideoError",
    "map_exceptions",
]


class FaceprintError(Exception):
    """Root of every error faceprint raises on purpose.

    Attributes:
        source: the input the error concerns (a file path, a name), or ``""``.
        code / http_status: the error code of the HTTP API's error envelope and its status
            (declared once here, per class: the server answers with them and the client
            raises the class back, see :data:`CODES`).
        also: further codes the HTTP layer sends for this kind of error (the client raises
            this class for them).
    """

    source: str = ""
    code: str = "internal_error"
    http_status: ClassVar[int] = 500
    also: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: object, source: object = "") -> None:
        super().__init__(*args)
        if source:
            self.source = str(source)

    def __reduce__(self) -> tuple[object, ...]:  # keep ``source`` across process boundaries
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[FaceprintError], args: tuple[object, ...], state: dict[str, object]
) -> FaceprintError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ImageError(FaceprintError, ValueError):
    """An input image cannot be decoded or is not acceptable (names the file and the cause)."""

    code = "invalid_image"
    http_status = 400
    also: ClassVar[tuple[str, ...]] = ("unsupported_media_type", "empty_file")


class ImageTooLargeError(ImageError):
    """The image has more pixels, or the file more bytes, than the configured limit."""

    code = "image_too_large"
    http_status = 413
    also: ClassVar[tuple[str, ...]] = ("file_too_large",)


class VideoError(FaceprintError, ValueError):
    """An input video cannot be opened or decoded, has no video stream or no frame, or its
    resolution is out of range (names the file and the cause)."""

    code = "invalid_video"
    http_status = 400
    also: ClassVar[tuple[str, ...]] = ("video_too_long",)


class NoFaceError(FaceprintError, ValueError):
    """The operation needs a face and none was detected."""

    code = "no_face"
    http_status = 422


class AmbiguousFaceError(FaceprintError, ValueError):
    """Several faces were found and nothing says which one to use."""

    code = "ambiguous_face"
    http_status = 422


class ModelError(FaceprintError):
    """A model pack or model file is unknown, missing, corrupt or does not fit."""

    code = "model_unavailable"
    http_status = 503


class MissingDependencyError(ModelError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class GalleryError(FaceprintError):
    """A gallery cannot be opened or changed as asked."""

    code = "gallery_error"
    http_status = 400
    also: ClassVar[tuple[str, ...]] = ("invalid_archive", "archive_too_large")


class IdentityNotFoundError(GalleryError, KeyError):
    """No identity with this name or id exists in the gallery."""

    code = "not_found"
    http_status = 404

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class IdentityExistsError(GalleryError):
    """An identity with this name exists already (and appending was not asked for)."""

    code = "conflict"
    http_status = 409


class PackMismatchError(GalleryError):
    """Embeddings from one model pack cannot be compared with those of another."""

    code = "pack_mismatch"
    http_status = 400


class IndexCorruptError(FaceprintError):
    """A vector index file is corrupt or does not match the gallery it claims to index."""

    code = "index_unavailable"
    http_status = 503


class EvaluationError(FaceprintError, ValueError):
    """A protocol file or evaluation data set is malformed."""

    code = "invalid_dataset"
    http_status = 400


class InvalidArgumentError(FaceprintError, ValueError):
    """A caller's argument is out of range or malformed (a client's mistake, not a fault)."""

    code = "invalid_argument"
    http_status = 400
    also: ClassVar[tuple[str, ...]] = (
        "invalid_request",
        "bad_request",
        "missing_file",
        "too_many_files",
    )


class RecordNotFoundError(InvalidArgumentError, LookupError):
    """An id the caller gave names nothing (a library's face, cluster or photo): the HTTP
    service answers 404."""

    code = "not_found"
    http_status = 404


class ServiceError(FaceprintError):
    """The HTTP service refused or failed a request for a reason with no closer faceprint error
    (no or bad key, role, rate limit, Host or Origin refused, timeouts, 5xx, unreachable)."""

    code = "unavailable"
    http_status = 503
    also: ClassVar[tuple[str, ...]] = ("unauthorized", "forbidden", "rate_limited", "payload_too_large", "bad_host",
            "bad_origin", "request_timeout", "too_many_jobs", "method_not_allowed", "http_error", "internal_error")  # fmt: skip


class StorageError(FaceprintError):
    """A database or file that faceprint reads or writes cannot be used (disk full, corrupt,
    locked, permission denied)."""

    code = "storage_unavailable"
    http_status = 503


def _codes() -> dict[str, type[FaceprintError]]:
    out: dict[str, type[FaceprintError]] = {}
    stack: list[type[FaceprintError]] = FaceprintError.__subclasses__()  # the root is abstract
    while stack:
        cls = stack.pop(0)
        for code in (cls.code, *cls.also):
            out.setdefault(code, cls)  # the most general class declaring a code wins
        stack.extend(cls.__subclasses__())
    return out


@contextmanager
def map_exceptions(
    mapping: Mapping[type[BaseException], type[FaceprintError]],
    *,
    source: object = "",
    what: str = "",
) -> Iterator[None]:
    """Translate third-party exceptions raised inside the block into faceprint's tree.

    Args:
        mapping: third-party exception class → faceprint error class; the first entry the
            exception is an instance of wins, so list subclasses before their bases.
        source: the input concerned (becomes ``err.source`` and prefixes the message).
        what: what was being done ("decode", "write the index"), put in the message.

    faceprint's own errors pass through unchanged (gaining ``source`` if they had none); the
    original exception is chained as ``__cause__``.
    """
    try:
        yield
    except FaceprintError as exc:
        if source and not exc.source:
            exc.source = str(source)
        raise
    except Exception as exc:
        for theirs, ours in mapping.items():
            if isinstance(exc, theirs):
                raise ours(_message(exc, source, what), source=source) from exc
        raise


def _message(exc: BaseException, source: object, what: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:  # "no space left on device", not "[Errno 28]"
        detail = exc.strerror.lower()
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"{source}: " if source else ""
    doing = f"cannot {what} ({detail})" if what else detail
    return f"{where}{doing}"


#: every error code the HTTP API can send → the faceprint error class it stands for (derived
#: from the classes' ``code`` and ``also``: the server's status table and the client's
#: exception table both come from here)
CODES: dict[str, type[FaceprintError]] = _codes()
