"""The :class:`Library`: a photo tree's faces, indexed, clustered, named and searchable.

The library lives in its own directory (``DIR/library.sqlite``, and the gallery of the people a
user names in ``DIR/people/`` unless an existing gallery is given); the photo tree it indexes is
only ever read. Thread-safe: one lock serialises database use, and a scan holds it only while it
commits, so reads and labelling go on during a long scan.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from faceprint.errors import (
    IdentityNotFoundError,
    InvalidArgumentError,
    NoFaceError,
    RecordNotFoundError,
    StorageError,
)
from faceprint.gallery import Gallery
from faceprint.gallery.store import utc_now
from faceprint.imageio import ImageInput
from faceprint.index import create_index
from faceprint.library import browse, labels, queries
from faceprint.library.clustering import DEFAULT_MIN_SIZE, DEFAULT_QUALITY_FLOOR, recluster
from faceprint.library.scan import COMMIT_EVERY, ScanOptions, scan_tree
from faceprint.library.sheets import contact_sheet, photo_tile, slideshow
from faceprint.library.store import DB_NAME, LibraryStore
from faceprint.library.types import (
    ClusterInfo,
    ClusterList,
    ClusterReport,
    FaceRecord,
    FoundPhoto,
    LibraryStatus,
    ScanReport,
)
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.pipeline import DEFAULT_MAX_SIDE, Augment, EmbeddingSpace, FaceAnalyzer

__all__ = ["GALLERY_DIR", "LIBRARY_AUGMENT", "Library"]

#: where a library keeps the gallery of the people its user names, unless given another
GALLERY_DIR = "people"
#: test-time augmentation of a new library's embeddings when its gallery is new: each face is
#: embedded with its mirror image. Chosen on LFW's peopleDevTrain people
#: (benchmarks/bench_cluster.py): it lifts BCubed F of the default clustering by about 0.01 at
#: the same pairwise precision, for one more embedder pass per face (docs/photo-library.md).
LIBRARY_AUGMENT: Augment = "flip"


class Library:
    """A photo library index. Open with :meth:`create` or :meth:`open`; close when done."""

    def __init__(self, directory: Path, store: LibraryStore, gallery: Gallery) -> None:
        self.directory = directory
        self._store = store
        self.gallery = gallery
        self._lock = threading.RLock()
        self._scanning = threading.Lock()  # one scan at a time per Library object
        settings = store.settings()
        self._pack = str(settings["pack"])
        root = settings.get("root")
        self._root: Path | None = None if root is None else Path(root)

    # --- opening and closing ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        directory: str | Path,
        *,
        pack: str | PackSpec | None = None,
        gallery: str | Path | None = None,
        root: str | Path | None = None,
        augment: Augment | None = None,
    ) -> Library:
        """A new library in ``directory`` (it must not hold one yet).

        Args:
            pack: model pack of the faces' embeddings (default: the given gallery's, else
                the default pack); it must match an existing gallery's.
            gallery: an existing (or new) gallery directory for the named people; default
                ``DIR/people``.
            root: the photo tree (may also be set by the first :meth:`scan`).
            augment: test-time augmentation of the embeddings (default: an existing gallery's,
                else :data:`LIBRARY_AUGMENT`); it must match an existing gallery's.
        """
        path = Path(directory).expanduser().absolute()
        if cls.exists(path):
            raise StorageError(f"{path}: a photo library exists here already", source=path)
        gdir = path / GALLERY_DIR if gallery is None else Path(gallery).expanduser().absolute()
        g = _open_gallery(gdir, pack, augment)
        pack_name = g.pack
        path.mkdir(parents=True, exist_ok=True)
        store = LibraryStore.open(path / DB_NAME, create=True)
        with store.transaction() as cur:
            LibraryStore.put_settings(
                cur,
                {"pack": pack_name, "gallery": _stored_path(gdir, path), "created_at": utc_now()},
            )
        lib = cls(path, store, g)
        if root is not None:
            lib._set_root(Path(root))
        return lib

    @classmethod
    def open(cls, directory: str | Path) -> Library:
        """The library in ``directory`` with its gallery."""
        path = Path(directory).expanduser().absolute()
        store = LibraryStore.open(path / DB_NAME, create=False)
        try:
            gdir = path / str(store.settings()["gallery"])  # relative: inside the library
            gallery = Gallery.open(gdir)
        except BaseException:
            store.close()
            raise
        try:  # an outside gallery may have been replaced since
            mine = EmbeddingSpace(str(store.settings()["pack"]), gallery.augment)
            gallery.space.check(mine, holder=f"the gallery {gdir}", source=gdir)
        except BaseException:
            gallery.close()
            store.close()
            raise
        return cls(path, store, gallery)

    @staticmethod
    def exists(directory: str | Path) -> bool:
        """Whether ``directory`` holds a photo library."""
        return (Path(directory) / DB_NAME).is_file()

    def close(self) -> None:
        """Close the database and the gallery."""
        with self._lock:
            self.gallery.close()
            self._store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.directory)!r}, root={str(self._root)!r}, pack={self._pack!r})"

    # --- properties ---------------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        """The photo tree this library indexes (``None`` before the first scan)."""
        return self._root

    @property
    def pack(self) -> str:
        """Model pack of the stored embeddings."""
        return self._pack

    @property
    def augment(self) -> Augment:
        """Test-time augmentation of the stored embeddings (the gallery's)."""
        return self.gallery.augment

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space of the stored faces (pack and augmentation) and its
        calibration."""
        return EmbeddingSpace(self._pack, self.augment)

    def _set_root(self, root: Path) -> Path:
        resolved = root.expanduser().resolve()
        if not resolved.is_dir():
            raise InvalidArgumentError(f"{root}: not a folder", source=root)
        if self._root is not None and resolved != self._root:
            raise InvalidArgumentError(
                f"{root}: this library indexes {self._root}; use another library directory "
                "for another photo tree",
                source=root,
            )
        libdir = self.directory.resolve()
        if libdir == resolved or resolved in libdir.parents:
            raise InvalidArgumentError(
                f"{self.directory}: the library directory must not be inside the photo tree "
                f"{resolved} (the photo tree is read only)"
            )
        if self._root is None:
            with self._lock, self._store.transaction() as cur:
                LibraryStore.put_settings(cur, {"root": str(resolved)})
            self._root = resolved
        return resolved

    def _require_root(self) -> Path:
        if self._root is None:
            raise InvalidArgumentError("this library has no photo tree yet; scan one first")
        return self._root

    # --- scanning -----------------------------------------------------------------------------
    def scan(
        self,
        root: str | Path | None = None,
        *,
        workers: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        commit_every: int = COMMIT_EVERY,
        progress: Any = None,
        cancel: threading.Event | None = None,
        ray: str | None = None,
    ) -> ScanReport:
        """Index new and changed photos of the tree, follow moves, drop deleted ones.

        Args:
            root: the photo tree (default: the one this library indexes; the first scan sets it).
            workers: engine worker processes (``None``: every core; 0: this process).
            max_side: detection on a copy downscaled to this longer side (pixels); boxes,
                landmarks and embedding crops stay in full resolution.
            commit_every: photos per transaction.
            progress: ``progress(done, total)`` as photos are decoded.
            cancel: set to stop early (committed work stays).
            ray: decode on Ray (``"auto"`` or a cluster's address; see
                :class:`faceprint.batch.Engine`); writes stay in this process.

        New faces that match a named person confidently (the gallery's threshold) are named
        automatically; the others wait for :meth:`cluster`.
        """
        if commit_every < 1:
            raise InvalidArgumentError(f"commit_every must be >= 1, got {commit_every}")
        base = self._set_root(Path(root)) if root is not None else self._require_root()
        options = ScanOptions(
            self._pack, workers, max_side, commit_every, progress, cancel, self.augment, ray
        )
        if not self._scanning.acquire(blocking=False):
            raise InvalidArgumentError("a scan of this library is running already")
        try:
            return scan_tree(self._store, self.gallery, base, options, self._lock)
        finally:
            self._scanning.release()

    # --- clustering ---------------------------------------------------------------------------
    def cluster(
        self,
        *,
        threshold: float | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
        quality_floor: float = DEFAULT_QUALITY_FLOOR,
        method: str = "default",
    ) -> ClusterReport:
        """Group the faces not yet named into clusters of one person each.

        Named and confirmed faces never move; "not this person" is respected; free faces that
        join a named person's faces are named automatically. Unnamed clusters get new ids.
        """
        if min_size < 1 or not 0.0 <= quality_floor <= 1.0:
            raise InvalidArgumentError("min_size must be >= 1 and quality_floor in [0, 1]")
        with self._lock:
            return recluster(
                self._store,
                threshold=threshold,
                min_size=min_size,
                quality_floor=quality_floor,
                method=method,
                space=self.space,
            )

    def clusters(
        self, *, limit: int | None = None, offset: int = 0, min_size: int = 1
    ) -> ClusterList:
        """Clusters (named people and unnamed groups) largest first, and unclustered faces."""
        with self._lock:
            return queries.cluster_list(self._store, limit=limit, offset=offset, min_size=min_size)

    def cluster_info(self, cluster_id: int) -> ClusterInfo:
        """One cluster and its faces (best quality first)."""
        with self._lock:
            return queries.cluster_info(self._store, cluster_id)

    def person_cluster(self, name: str) -> ClusterInfo:
        """The cluster of the named person."""
        with self._lock:
            row = self._store.query(
                "SELECT c.id FROM clusters c JOIN people pe ON pe.id = c.person_id "
                "WHERE pe.name = ?",
                (name,),
            )
            if not row:
                raise IdentityNotFoundError(f"no person named {name!r} in the library")
            return queries.cluster_info(self._store, int(row[0][0]))

    def sheet(self, cluster_id: int, *, limit: int = 200) -> bytes:
        """Contact sheet PNG of a cluster's faces (best quality first, captioned with face ids)."""
        info = self.cluster_info(cluster_id)
        title = f"cluster {info.id}: {info.name or 'unnamed'} ({info.size} faces)"
        return contact_sheet(
            [(self.face_thumbnail(f.id), f"#{f.id}") for f in info.faces[:limit]], title=title
        )

    def face(self, face_id: int) -> FaceRecord:
        """One face."""
        with self._lock:
            found = queries.face_records(self._store, "f.id = ?", (int(face_id),))
        if not found:
            raise RecordNotFoundError(f"no face {face_id} in the library")
        return found[0]

    def face_thumbnail(self, face_id: int) -> bytes | None:
        """The face's JPEG thumbnail (aligned crop), or ``None`` when none was stored."""
        with self._lock:
            row = self._store.query("SELECT thumbnail FROM faces WHERE id = ?", (int(face_id),))
        if not row:
            raise RecordNotFoundError(f"no face {face_id} in the library")
        return None if row[0][0] is None else bytes(row[0][0])

    # --- labelling ----------------------------------------------------------------------------
    def label(self, cluster_id: int, name: str, *, append: bool = False) -> ClusterInfo:
        """Name the cluster's faces ``name`` (creating the gallery identity, or with ``append``
        extending an existing person, with a few representative templates); returns the
        person's cluster.

        Raises:
            IdentityExistsError: ``name`` is a person already and ``append`` is false.
        """
        with self._lock:
            target = labels.label_cluster(
                self._store, self.gallery, cluster_id, name, append=append
            )
            return queries.cluster_info(self._store, target)

    def merge(self, into: int, other: int) -> ClusterInfo:
        """Merge cluster ``other`` into ``into`` (a named one keeps its name)."""
        with self._lock:
            target = labels.merge_clusters(self._store, self.gallery, into, other)
            return queries.cluster_info(self._store, target)

    # --- browsing a page at a time, and undoable corrections (see faceprint.library.browse) ----
    def people_page(
        self, *, query: str = "", limit: int = 48, offset: int = 0, hidden: bool = False
    ) -> tuple[int, list[browse.ClusterCard]]:
        """(clusters matching, one page of them, each with its best face), largest first."""
        with self._lock:
            return browse.people_page(
                self._store, query=query, limit=limit, offset=offset, hidden=hidden
            )

    def cluster_faces(
        self, cluster_id: int, *, limit: int = 60, offset: int = 0
    ) -> tuple[browse.ClusterCard, list[FaceRecord]]:
        """A cluster and one page of its faces, best quality first."""
        with self._lock:
            return browse.cluster_faces(self._store, cluster_id, limit=limit, offset=offset)

    def unclustered_page(self, *, limit: int = 60, offset: int = 0) -> tuple[int, list[FaceRecord]]:
        """(faces in no cluster and with no name, one page of them), best quality first."""
        with self._lock:
            return browse.unclustered_page(self._store, limit=limit, offset=offset)

    def hide(self, cluster_id: int, hidden: bool = True) -> browse.ClusterCard:
        """Hide a cluster from the people page (``hidden=False`` shows it again)."""
        with self._lock:
            return browse.set_hidden(self._store, cluster_id, hidden)

    def suggestions(self, cluster_id: int, *, k: int = 5) -> list[browse.Suggestion]:
        """Clusters that may be the same person as ``cluster_id``, nearest first."""
        with self._lock:
            return browse.suggestions(self._store, cluster_id, k=k)

    def split(self, face_ids: Sequence[int]) -> browse.ClusterCard:
        """Undo a merge: these faces leave for a new unnamed cluster (with their templates)."""
        with self._lock:
            cid = browse.split_faces(self._store, self.gallery, face_ids)
            return browse.cluster_faces(self._store, cid, limit=1)[0]

    def restore_face(self, face_id: int, cluster_id: int) -> FaceRecord:
        """Undo "not them": the face returns to ``cluster_id``."""
        with self._lock:
            browse.restore_face(self._store, face_id, cluster_id)
        return self.face(face_id)

    def label_face(self, face_id: int, name: str, *, append: bool = False) -> ClusterInfo:
        """Name one face that is in no cluster (as :meth:`label` names a cluster)."""
        with self._lock:
            cid = browse.new_cluster(self._store, [face_id])
            try:
                return self.label(cid, name, append=append)
            except BaseException:
                with self._store.transaction() as cur:  # the face is free again
                    cur.execute(
                        "UPDATE faces SET cluster_id = NULL, state = 'free' WHERE id = ?",
                        (int(face_id),),
                    )
                    cur.execute("DELETE FROM clusters WHERE id = ?", (cid,))
                raise

    def remove_face(self, face_id: int) -> FaceRecord:
        """ "Not this person": take the face out of its person or cluster; remembered, so no
        later clustering puts it back."""
        with self._lock:
            labels.reject_face(self._store, self.gallery, face_id)
        return self.face(face_id)

    def rename(self, old: str, new: str) -> ClusterInfo:
        """Rename a person (library and gallery)."""
        with self._lock:
            labels.rename_person(self._store, self.gallery, old, new)
        return self.person_cluster(labels.clean_name(new))

    def forget(self, name: str) -> int:
        """Remove a person and every trace of them (names, rejections, gallery identity);
        their faces become free. Returns the number of faces freed."""
        with self._lock:
            return labels.forget_person(self._store, self.gallery, name)

    # --- finding ------------------------------------------------------------------------------
    def find(
        self,
        name: str | Sequence[str],
        *,
        with_: Sequence[str] = (),
        without: Sequence[str] = (),
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[FoundPhoto]:
        """Every photo of ``name`` (and of each of ``with_``, none of ``without``), oldest first
        by capture time (then file mtime); dates are ISO (``YYYY[-MM[-DD]]``), both inclusive."""
        names = [name] if isinstance(name, str) else list(name)
        with self._lock:
            return queries.find_photos(self._store, [*names, *with_], without, date_from, date_to)

    def find_by_face(
        self,
        image: ImageInput,
        *,
        analyzer: FaceAnalyzer | None = None,
        threshold: float | None = None,
    ) -> list[FoundPhoto]:
        """Every photo of whoever is in ``image``: photos of the people its faces are identified
        as, and photos holding a face within ``threshold`` (default: the pack's) of one of them.

        Raises:
            NoFaceError: no face in ``image``.
        """
        fa = analyzer or FaceAnalyzer(self._pack, augment=self.augment)
        self.gallery.check_analyzer(fa)
        faces = fa.analyze(image)
        if len(faces) == 0 or faces.embeddings is None:
            raise NoFaceError("no face found in the example photo")
        thr = self.gallery.threshold if threshold is None else float(threshold)
        names = {f.name for f in self.gallery.identify(faces, threshold=thr) if f.name}
        with self._lock:
            ids = self._similar_photos(faces.embeddings, thr)
            known = {r[0] for r in self._store.query("SELECT name FROM people")}
            for name in names & known:
                ids |= {p.id for p in queries.find_photos(self._store, [name])}
            return queries.photos_by_id(self._store, sorted(ids))

    def _similar_photos(self, queries_: np.ndarray, threshold: float) -> set[int]:
        rows = self._store.query("SELECT id, photo_id, embedding FROM faces")
        if not rows:
            return set()
        vecs = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
        index = create_index("exact", vecs.shape[1])
        index.add(np.arange(len(rows), dtype=np.int64), vecs)
        found = index.search(queries_, len(rows), threshold=threshold)
        hits = found.ids[found.ids >= 0]
        return {int(rows[int(i)][1]) for i in hits}

    def photo_path(self, photo_id: int) -> Path:
        """The file of a photo (always inside the root)."""
        root = self._require_root()
        with self._lock:
            row = self._store.query("SELECT path FROM photos WHERE id = ?", (int(photo_id),))
        if not row:
            raise RecordNotFoundError(f"no photo {photo_id} in the library")
        path = (root / row[0][0]).resolve()
        if root not in path.parents:
            raise InvalidArgumentError(f"photo {photo_id} is not inside {root}")
        return path

    def write_slideshow(self, photos: Sequence[FoundPhoto], folder: str | Path) -> list[Path]:
        """A folder of numbered symlinks to ``photos`` in order (open it in any photo viewer)."""
        root = self._require_root()
        return slideshow([root / p.path for p in photos], Path(folder), root=root)

    def photos_sheet(self, photos: Sequence[FoundPhoto], *, title: str = "") -> bytes:
        """Contact sheet PNG of photos (small copies, captioned with their file names)."""
        root = self._require_root()
        tiles = [(photo_tile(root / p.path), Path(p.path).name) for p in photos]
        return contact_sheet(tiles, title=title, cell=160, columns=6)

    def person_sheet(self, name: str, *, limit: int = 200) -> bytes:
        """Contact sheet PNG of a named person's faces."""
        return self.sheet(self.person_cluster(name).id, limit=limit)

    # --- status -------------------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        """Counts of photos, faces, clusters and people."""
        count = self._store.scalar
        with self._lock:
            people = tuple(r[0] for r in self._store.query("SELECT name FROM people ORDER BY name"))
            return LibraryStatus(
                root=None if self._root is None else str(self._root),
                library=str(self.directory),
                gallery=str(self.gallery.directory),
                pack=self._pack,
                augment=self.augment,
                photos=int(count("SELECT COUNT(*) FROM photos")),
                faces=int(count("SELECT COUNT(*) FROM faces")),
                clusters=int(
                    count(
                        "SELECT COUNT(*) FROM clusters c WHERE EXISTS "
                        "(SELECT 1 FROM faces f WHERE f.cluster_id = c.id)"
                    )
                ),
                named=int(count("SELECT COUNT(*) FROM faces WHERE person_id IS NOT NULL")),
                people=people,
                unclustered=int(count("SELECT COUNT(*) FROM faces WHERE cluster_id IS NULL")),
                problems=int(count("SELECT COUNT(*) FROM problems")),
            )


def _stored_path(target: Path, base: Path) -> str:
    """``target`` relative to ``base`` when inside it (so the library can be moved), else
    absolute."""
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        return str(target)


def _open_gallery(
    directory: Path, pack: str | PackSpec | None, augment: Augment | None = None
) -> Gallery:
    """The gallery in ``directory`` (created when absent) after checking its pack and
    augmentation."""
    if not Gallery.exists(directory):
        return Gallery.create(
            directory,
            DEFAULT_PACK if pack is None else pack,
            augment=LIBRARY_AUGMENT if augment is None else augment,
        )
    gallery = Gallery.open(directory)
    try:
        wanted = EmbeddingSpace(
            gallery.pack if pack is None else get_pack(pack).name,
            gallery.augment if augment is None else augment,
        )
        gallery.space.check(wanted, holder=str(directory), source=directory)
    except BaseException:
        gallery.close()
        raise
    return gallery
