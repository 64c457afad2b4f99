"""After a person is deleted, no file faceprint keeps holds their embedding or thumbnail bytes:
the gallery database and its WAL, the index files of every backend, exports made afterwards,
and the evaluation cache (where a replaced embedding must not linger).

Each test first checks that the secret bytes *are* in the files before the deletion, so that it
can fail.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from faceprint.evaluate.cache import EmbeddingCache
from faceprint.gallery import Gallery

DIM = 128
#: index backends with small training sizes, so the trained (quantised) files are written too
BACKENDS = {
    "exact": {},
    "exact-f16": {},
    "exact-int8": {"min_train": 64},
    "hnsw": {},
    "binary": {"min_train": 64, "train_size": 256},
    "pq": {"min_train": 64, "train_size": 256},
    "ivfpq": {"min_train": 256, "train_size": 256, "nlist": 4},
}


def files_blob(*roots: Path) -> bytes:
    return b"".join(
        p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()
    )


def secrets_of(vec: np.ndarray, thumb: bytes) -> list[bytes]:
    """The raw forms an embedding or thumbnail can take in a file: float32, float16, JPEG."""
    return [vec.astype("<f4").tobytes(), vec.astype("<f2").tobytes(), thumb]


def _people(n: int = 300) -> tuple[list[str], np.ndarray, list[bytes]]:
    rng = np.random.default_rng(11)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    names = [f"person{i:04d}" for i in range(n)]
    thumbs = [b"\xff\xd8" + rng.bytes(1500) for _ in range(n)]
    return names, vecs, thumbs


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_removed_person_leaves_no_bytes_in_gallery_or_index(backend: str, tmp_path: Path) -> None:
    names, vecs, thumbs = _people()
    gdir = tmp_path / "g"
    victim = 123
    with Gallery.create(gdir, "dlib", index=backend, index_params=BACKENDS[backend]) as g:
        tids = g.add_embeddings(names, vecs, thumbnails=thumbs)
        g.save_index()
        stored = dict(zip(*g._store.embeddings(DIM)))[int(tids[victim])]  # as normalised here
        secrets = secrets_of(stored, thumbs[victim])
        before = files_blob(gdir)
        assert secrets[0] in before and secrets[2] in before, "the check could not fail"
        g.remove(names[victim])
    after = files_blob(gdir)
    leaked = [i for i, s in enumerate(secrets) if s in after]
    assert not leaked, f"{backend}: secret form(s) {leaked} still on disk"
    assert thumbs[victim + 1] in after  # the others are still there
    with Gallery.open(gdir) as g:
        assert names[victim] not in g and g.template_count == len(names) - 1
        assert g.identify(vecs[victim], threshold=0.0)[0].name != names[victim]


def test_export_after_removal_holds_no_trace_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    names, vecs, thumbs = _people(50)
    gdir = tmp_path / "g"
    with Gallery.create(gdir, "dlib") as g:
        tids = g.add_embeddings(names, vecs, thumbnails=thumbs)
        secrets = secrets_of(dict(zip(*g._store.embeddings(DIM)))[int(tids[7])], thumbs[7])
        early = g.export_to(tmp_path / "before.zip")
        with zipfile.ZipFile(early) as zf:
            assert secrets[0] in zf.read("embeddings.npy") and thumbs[7] in early.read_bytes()
        g.remove(names[7])
        late = g.export_to(tmp_path / "after.zip")
    with zipfile.ZipFile(late) as zf:
        content = b"".join(zf.read(n) for n in zf.namelist())
    assert not any(s in content for s in secrets)
    assert names[7].encode() not in content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.zip", "before.zip", "g"]


def test_replaced_cache_embedding_is_gone_from_the_cache_files(tmp_path: Path) -> None:
    """The evaluation cache overwrites an entry in place (secure_delete): the old vector's bytes
    do not stay in the database or its WAL once the cache is closed."""
    rng = np.random.default_rng(5)
    old, new = rng.normal(size=(2, 512)).astype(np.float32)
    path = tmp_path / "cache" / "evaluate.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_embeddings("emb-key", {"face-1": old})
        cache.put_embeddings("emb-key", {"face-2": new * 2})
        assert old.tobytes() in files_blob(path.parent)
        cache.put_embeddings("emb-key", {"face-1": new})
    blob = files_blob(path.parent)
    assert old.tobytes() not in blob and new.tobytes() in blob
