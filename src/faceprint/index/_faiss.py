"""The boundary between the index backends and FAISS's file functions.

FAISS reports every failure as a ``RuntimeError`` carrying a C++ location; these helpers turn a
failed write into :class:`~faceprint.errors.StorageError` and a failed read into
:class:`~faceprint.errors.IndexCorruptError` (which makes the gallery rebuild the index), both
naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss

from faceprint.errors import IndexCorruptError, StorageError, map_exceptions

__all__ = ["read_faiss", "write_faiss"]


def write_faiss(index: Any, path: Path) -> None:
    """``faiss.write_index`` to ``path``."""
    with map_exceptions({RuntimeError: StorageError}, source=path, what="write the FAISS index"):
        faiss.write_index(index, str(path))


def read_faiss(path: Path) -> Any:
    """``faiss.read_index`` of ``path``, downcast to its concrete class (and owned)."""
    with map_exceptions(
        {RuntimeError: IndexCorruptError}, source=path, what="read the FAISS index"
    ):
        return faiss.read_index(str(path))
