"""Optional dependencies: one place that imports them and names the pip extra when one is missing.

``pip install faceprint`` installs the library and CLI for images; the rest comes with extras::

    server  fastapi, uvicorn, python-multipart, httpx   faceprint serve, the web app
    client  httpx, pydantic                             faceprint.client.Client
    video   av, matplotlib                              faceprint video ...
    faiss   faiss-cpu, threadpoolctl                    index backends other than ``exact``
    milvus  pymilvus, milvus-lite                       the ``milvus`` index backend
    plots   matplotlib                                  ROC / DET plots of evaluations
    heif    pillow-heif                                 HEIC / HEIF / AVIF photos
    ray     ray                                         the Ray batch engine

A module of an optional stack is imported only where it is used, through :func:`require`, so
``import faceprint`` and the image commands never need them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from faceprint.errors import MissingDependencyError

__all__ = ["EXTRAS", "missing", "require"]

#: importable module → the extra that installs it
EXTRAS: dict[str, str] = {
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "multipart": "server",
    "python_multipart": "server",
    "httpx": "client",
    "pydantic": "client",
    "av": "video",
    "faiss": "faiss",
    "threadpoolctl": "faiss",
    "pymilvus": "milvus",
    "milvus_lite": "milvus",
    "matplotlib": "plots",
    "pillow_heif": "heif",
    "ray": "ray",
}


def missing(module: str, *, extra: str | None = None, feature: str = "") -> MissingDependencyError:
    """The one-line error for a missing optional ``module``, naming its pip extra.

    Args:
        module: the importable name (``"av"``, ``"faiss"``, ``"fastapi.responses"``).
        extra: the pip extra that installs it (default: looked up in :data:`EXTRAS`).
        feature: what needs it, for the message (``"faceprint video"``).
    """
    top = module.partition(".")[0]
    name = extra or EXTRAS.get(top, top)
    what = f"{feature} needs" if feature else "this needs"
    return MissingDependencyError(
        f'{what} the optional dependency {top!r}: pip install "faceprint[{name}]"'
    )


def require(module: str, *, extra: str | None = None, feature: str = "") -> ModuleType:
    """``module`` imported, or a one-line :class:`MissingDependencyError` naming the extra
    (arguments as for :func:`missing`)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module, extra=extra, feature=feature) from exc
