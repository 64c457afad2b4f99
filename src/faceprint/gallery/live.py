"""The derived, in-memory side of a gallery, kept in step with its SQLite store.

:class:`LiveIndex` holds the vector index of the templates, the template → identity map, the
identity names and (lazily) the per-identity mean vectors. It is loaded from ``DIR/index`` when
that file's manifest matches the store, else rebuilt from SQLite; changes this process commits
are mirrored into it at once (:meth:`LiveIndex.added`, :meth:`LiveIndex.removed`), and changes
other processes commit are found by ``PRAGMA data_version`` and applied as an id diff
(:meth:`LiveIndex.sync`). Not thread-safe by itself: the :class:`~faceprint.gallery.Gallery`
serialises the calls.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceprint.errors import FaceprintError, IndexCorruptError, InvalidArgumentError
from faceprint.gallery.scoring import (
    IdentityScores,
    TemplateMap,
    mean_vectors,
    reduce_max,
    score_means,
)
from faceprint.gallery.settings import GallerySettings
from faceprint.gallery.store import GalleryStore
from faceprint.gallery.types import Match
from faceprint.index.base import (
    IndexManifest,
    VectorIndex,
    backend_class,
    create_index,
    state_checksum,
)

__all__ = ["INDEX_NAME", "Aggregate", "LiveIndex"]

logger = logging.getLogger(__name__)

#: how an identity's score is made from its templates' similarities
Aggregate = Literal["max", "mean"]
INDEX_NAME = "index"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


class LiveIndex:
    """Vector index + template map + identity names of one gallery, in memory."""

    def __init__(self, directory: Path, store: GalleryStore, settings: GallerySettings) -> None:
        self.path = directory / INDEX_NAME
        self._store = store
        self._settings = settings
        self.dim = settings.dim
        self.pack = settings.pack
        self.index: VectorIndex = create_index(
            settings.index_backend, self.dim, **settings.index_params
        )
        self.tmap = TemplateMap(np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.names: dict[int, str] = {}
        self._max_templates = 0
        self._means: tuple[IntArray, FloatArray] | None = None
        self.dirty = False
        self._data_version = -1

    # --- loading and saving -----------------------------------------------------------------
    def manifest(self) -> IndexManifest:
        """What an index built from the store as it is now must record."""
        state = self._store.state()
        return IndexManifest(
            backend=self._settings.index_backend,
            dim=self.dim,
            count=state.size,
            checksum=state_checksum(*state, fingerprint=self._settings.uuid),
            pack=self.pack,
            params=self._settings.index_params,
        )

    def load(self) -> None:
        """Load the saved index when it matches the store, else rebuild (and save) it."""
        self._data_version = self._store.data_version()
        self._reload_maps()
        try:
            backend = backend_class(self._settings.index_backend)
            self.index = backend.load(self.path, expect=self.manifest())
        except IndexCorruptError as exc:
            logger.info("%s: rebuilding the index from SQLite (%s)", self.path, exc)
            self.rebuild()
            self._save_derived()
            return
        self._sync_index()

    def rebuild(self) -> None:
        """A new index of the configured backend with every template of the store."""
        self._replace(self._build(self._settings.index_backend, self._settings.index_params))

    def _build(self, backend: str, params: dict[str, Any]) -> VectorIndex:
        index = create_index(backend, self.dim, **params)
        ids, vecs = self._store.embeddings(self.dim)
        if len(ids):
            index.add(ids, vecs)
        return index

    def _replace(self, index: VectorIndex) -> None:
        self.index.close()
        self.index = index
        self._means = None

    def save(self) -> None:
        """Write the index with its manifest; an empty index is not written (and an old file
        is deleted: rebuilding nothing costs nothing)."""
        self._write(self.index)
        self.dirty = False

    def _write(self, index: VectorIndex) -> None:
        if len(index):
            index.save(self.path, fingerprint=self._settings.uuid, pack=self.pack)
        elif self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()

    def _save_derived(self) -> None:
        """Save the index when possible: it is derived, so a failure (a full disk) is logged
        and the next open rebuilds it again; SQLite, the source of truth, is not affected."""
        try:
            self.save()
        except FaceprintError as exc:
            logger.warning("%s: index not saved, it will be rebuilt next time (%s)", self.path, exc)

    def switch(self, backend: str, params: dict[str, Any]) -> None:
        """Use another backend from now on: built and saved first, then recorded in the settings
        (a failure on the way, a full disk say, leaves the gallery on its old backend)."""
        index = self._build(backend, params)
        try:
            self._write(index)
        except BaseException:
            index.close()
            raise
        self._settings._set_index(backend, params)
        self._replace(index)
        self.dirty = False

    def close(self) -> None:
        if self.dirty:
            self._save_derived()
        self.index.close()

    # --- keeping in step with the store --------------------------------------------------------
    def _reload_maps(self) -> None:
        ids, idents = self._store.template_map()
        self._set_map(TemplateMap(ids, idents))
        self.names = self._store.identity_names()

    def _set_map(self, tmap: TemplateMap) -> None:
        self.tmap = tmap
        self._max_templates = tmap.max_per_identity()
        self._means = None

    def refresh(self) -> None:
        """Re-read the maps and diff the index against the store, whatever has changed."""
        self._data_version = self._store.data_version()
        self._reload_maps()
        self._sync_index()

    def sync(self) -> None:
        """Pick up changes other processes committed since the last look."""
        version = self._store.data_version()
        if version == self._data_version:
            return
        self._data_version = version
        self._reload_maps()
        self._sync_index()

    def _sync_index(self) -> None:
        have = np.sort(np.asarray(self.index.ids(), dtype=np.int64))
        want = self.tmap.template_ids
        gone = np.setdiff1d(have, want, assume_unique=True)
        new = np.setdiff1d(want, have, assume_unique=True)
        if len(gone):
            self.index.remove(gone)
        if len(new):
            ids, vecs = self._store.embeddings(self.dim, after=int(new[0]) - 1)
            keep = np.isin(ids, new)
            self.index.add(ids[keep], vecs[keep])
        if len(gone) or len(new):
            self.dirty = True
            logger.info("%s: index synced (+%d, -%d)", self.path, len(new), len(gone))

    def added(self, ids: IntArray, identity_ids: IntArray, vecs: FloatArray) -> None:
        """Mirror templates just committed by this process."""
        self.index.add(ids, vecs)
        tids = np.concatenate([self.tmap.template_ids, ids])
        tidents = np.concatenate([self.tmap.identity_ids, identity_ids])
        order = np.argsort(tids, kind="stable")
        self._set_map(TemplateMap(tids[order], tidents[order]))
        self.dirty = True

    def removed(self, template_ids: IntArray) -> None:
        """Mirror templates just deleted by this process."""
        if len(template_ids):
            self.index.remove(template_ids)
        keep = ~np.isin(self.tmap.template_ids, template_ids)
        self._set_map(TemplateMap(self.tmap.template_ids[keep], self.tmap.identity_ids[keep]))
        self.dirty = True

    # --- scoring -----------------------------------------------------------------------------
    def score(self, vecs: FloatArray, top_k: int, aggregate: Aggregate) -> IdentityScores:
        """Top ``top_k`` identities of each unit query row."""
        if top_k < 1:
            raise InvalidArgumentError(f"top_k must be >= 1, got {top_k}")
        self.sync()
        if aggregate == "max":
            return self._score_max(vecs, top_k)
        if aggregate == "mean":
            idents, means = self._mean_vectors()
            return score_means(vecs, idents, means, top_k)
        raise InvalidArgumentError(f"aggregate must be 'max' or 'mean', got {aggregate!r}")

    def _score_max(self, vecs: FloatArray, top_k: int) -> IdentityScores:
        n = len(self.tmap.template_ids)
        if n == 0 or len(vecs) == 0:
            empty = np.zeros((len(vecs), 0))
            return reduce_max(empty.astype(np.float32), empty.astype(np.int64), self.tmap, top_k)
        found = self.index.search(vecs, max(1, min(n, top_k * self._max_templates)))
        return reduce_max(found.scores, found.ids, self.tmap, top_k)

    def _mean_vectors(self) -> tuple[IntArray, FloatArray]:
        if self._means is None:
            ids, vecs = self._store.embeddings(self.dim)
            idents = self.tmap.identities_of(ids)
            keep = idents >= 0
            self._means = mean_vectors(vecs[keep], idents[keep])
        return self._means

    def matches(self, scores: IdentityScores, *, thumbnails: bool) -> list[tuple[Match, ...]]:
        """One tuple of :class:`Match` per query row (thumbnails read in one query)."""
        tids = scores.template_ids
        if tids.size and (tids < 0).any():
            tids = np.where(tids >= 0, tids, self.tmap.first_templates(scores.identity_ids))
        thumbs = self._store.thumbnails(tids[tids >= 0].ravel()) if thumbnails else {}
        out = []
        for idents, sims, row_tids in zip(scores.identity_ids, scores.similarities, tids):
            row = [
                Match(int(i), self.names.get(int(i), ""), float(s), int(t), thumbs.get(int(t)))
                for i, s, t in zip(idents, sims, row_tids)
                if i >= 0
            ]
            out.append(tuple(row))
        return out
