"""A gallery's saved settings: model pack, augmentation, embedding size, threshold, index backend.

Values live in the ``settings`` table of ``gallery.sqlite`` (JSON per key) and are read fresh on
every access, so a threshold saved by one process is seen by the others.
"""

from __future__ import annotations

import math
from typing import Any

from faceprint.errors import InvalidArgumentError
from faceprint.gallery.store import GalleryStore, utc_now

__all__ = ["GallerySettings"]


class GallerySettings:
    """Read and change the settings of one gallery (``gallery.settings``)."""

    def __init__(self, store: GalleryStore) -> None:
        self._store = store

    def _get(self, key: str, default: Any = None) -> Any:
        return self._store.settings().get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """Every saved setting (JSON-ready)."""
        return self._store.settings()

    @property
    def uuid(self) -> str:
        """Random id given to the gallery at creation (part of the index checksum)."""
        return str(self._get("uuid", ""))

    @property
    def pack(self) -> str:
        """Name of the model pack whose embeddings the gallery holds."""
        return str(self._get("pack"))

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self._get("dim"))

    @property
    def augment(self) -> str:
        """Test-time augmentation the gallery's embeddings were made with (``FaceAnalyzer``'s
        ``augment``); ``"none"`` for galleries saved before the setting existed."""
        return str(self._get("augment", "none"))

    @property
    def threshold(self) -> float | None:
        """The saved threshold override, or ``None`` (then the pack's threshold applies)."""
        value = self._get("threshold")
        return None if value is None else float(value)

    @property
    def threshold_source(self) -> str:
        """How the saved threshold was obtained ("" when none is saved)."""
        return str(self._get("threshold_source", ""))

    def set_threshold(self, value: float | None, *, source: str) -> None:
        """Save a cosine threshold for this gallery (``None`` clears it).

        Args:
            value: cosine similarity in [-1, 1], or ``None`` to fall back to the pack's.
            source: how it was obtained, e.g. ``"LFW View 1, FAR 1e-3"``; shown with it.
        """
        if value is not None and not (math.isfinite(value) and -1.0 <= value <= 1.0):
            raise InvalidArgumentError(f"a cosine threshold must be in [-1, 1], got {value}")
        values: dict[str, Any] = {
            "threshold": None if value is None else float(value),
            "threshold_source": "" if value is None else source,
            "threshold_set_at": utc_now(),
        }
        with self._store.transaction() as cur:
            self._store.put_settings(cur, values)

    @property
    def index_backend(self) -> str:
        """Name of the vector index backend (see ``faceprint.index``)."""
        return str(self._get("index_backend", "exact"))

    @property
    def index_params(self) -> dict[str, Any]:
        """Keyword parameters of the index backend."""
        return dict(self._get("index_params", {}) or {})

    def _set_index(self, backend: str, params: dict[str, Any]) -> None:
        with self._store.transaction() as cur:
            self._store.put_settings(cur, {"index_backend": backend, "index_params": params})
