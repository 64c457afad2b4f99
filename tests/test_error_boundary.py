"""One error boundary: bad inputs to the public API raise only faceprint's errors.

Each case feeds something broken (corrupt image bytes, a garbage ONNX or dlib model, a broken
index file, a corrupt cache or gallery database, an unwritable draw target, a bad argument) to
a public function and checks that the error is the expected :class:`FaceprintError` subclass,
that it names the input it concerns (``err.source``) and, where a library failed underneath,
that the library's exception is chained as ``__cause__``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceprint._onnx import OnnxModel
from faceprint._onnx_graph import graph_normalisation, inspect_onnx
from faceprint.align import DLIB_150, align_faces
from faceprint.compare import verify_embeddings
from faceprint.detect.dlib_detectors import DlibCnnDetector, DlibHogDetector
from faceprint.detect.retinaface import RetinaFaceDetector
from faceprint.detect.scrfd import ScrfdDetector
from faceprint.detect.yunet import YuNetDetector
from faceprint.draw import save_image
from faceprint.embed.dlib_onnx import DlibOnnxEmbedder
from faceprint.embed.dlib_resnet import DlibResnetEmbedder
from faceprint.errors import (
    FaceprintError,
    GalleryError,
    ImageError,
    IndexCorruptError,
    InvalidArgumentError,
    ModelError,
    StorageError,
    map_exceptions,
)
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.gallery import Gallery
from faceprint.imageio import load_image
from faceprint.index import create_index
from faceprint.index._faiss import read_faiss, write_faiss
from faceprint.packs.manifest import load_pack_path
from faceprint.types import Faces

DIM = 8
GARBAGE = b"\x08\x01garbage, not a model\x00" * 64


@dataclass(frozen=True)
class Case:
    """``call(tmp_path)`` must raise ``error``; ``source(tmp_path)`` is the input it names."""

    call: Callable[[Path], Any]
    error: type[FaceprintError]
    source: Callable[[Path], object] | None = None
    chained: type[BaseException] | None = None


def _file(name: str, data: bytes = GARBAGE) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return make


def _at(name: str) -> Callable[[Path], Path]:
    return lambda tmp: tmp / name


def _index(tmp: Path, backend: str = "exact") -> Any:
    index = create_index(backend, DIM)
    vecs = np.eye(DIM, dtype=np.float32)
    index.add(np.arange(1, DIM + 1), vecs)
    return index


def _gallery(tmp: Path) -> Gallery:
    return Gallery.create(tmp / "g", "dlib")


def _truncated_gallery(tmp: Path) -> Path:
    with Gallery.create(tmp / "g", "dlib") as gal:
        gal.add_embeddings(["a", "b"], np.eye(2, 128, dtype=np.float32))
    db = tmp / "g" / "gallery.sqlite"
    db.write_bytes(db.read_bytes()[:100] + b"\x00" * 50)
    return db


def _hnsw_bytes(tmp: Path) -> Path:
    index = _index(tmp, "hnsw")
    index.save(tmp / "idx")
    return tmp / "idx" / "graph.faiss"


def _write_into_missing_folder(tmp: Path) -> None:
    write_faiss(_index(tmp, "hnsw")._graph, tmp / "missing" / "graph.faiss")


def _save_under_a_file(tmp: Path) -> None:
    (tmp / "afile").write_bytes(b"x")
    _index(tmp).save(tmp / "afile" / "idx")


def _cache_then_corrupt(tmp: Path) -> None:
    path = tmp / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_embeddings("k", {"f": np.ones(4, np.float32)})
        cache._db.execute("DROP TABLE embeddings")  # another process broke it meanwhile
        cache.get_embeddings("k", ["f"])


CASES: dict[str, Case] = {
    # --- images -----------------------------------------------------------------------------
    "corrupt-image-file": Case(
        lambda t: load_image(_file("bad.jpg", b"\xff\xd8\xff\xe0" + GARBAGE)(t)),
        ImageError,
        _at("bad.jpg"),
    ),
    "truncated-png": Case(
        lambda t: load_image(_file("bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)(t)),
        ImageError,
        _at("bad.png"),
    ),
    "missing-image": Case(lambda t: load_image(t / "none.jpg"), ImageError, _at("none.jpg")),
    "empty-image-to-align": Case(
        lambda t: align_faces(
            np.zeros((0, 0, 3), np.uint8), np.random.default_rng(0).random((1, 5, 2)), DLIB_150
        ),
        ImageError,
        None,
        Exception,
    ),
    # --- models -----------------------------------------------------------------------------
    "garbage-onnx": Case(
        lambda t: OnnxModel(_file("m.onnx")(t)), ModelError, _at("m.onnx"), Exception
    ),
    "garbage-onnx-inspected": Case(
        lambda t: inspect_onnx(_file("m.onnx")(t)), ModelError, _at("m.onnx")
    ),
    "garbage-onnx-graph": Case(
        lambda t: graph_normalisation(_file("m.onnx")(t)), ModelError, _at("m.onnx"), Exception
    ),
    "garbage-onnx-detector": Case(
        lambda t: ScrfdDetector(str(_file("d.onnx")(t))), ModelError, _at("d.onnx")
    ),
    "missing-onnx": Case(lambda t: OnnxModel(t / "none.onnx"), ModelError, _at("none.onnx")),
    "garbage-onnx-pack-folder": Case(
        lambda t: load_pack_path(_file("pack/m.onnx")(t).parent), ModelError, _at("pack/m.onnx")
    ),
    "garbage-dlib-landmarks": Case(
        lambda t: DlibHogDetector(str(_file("l.dat")(t))), ModelError, _at("l.dat"), RuntimeError
    ),
    "garbage-dlib-cnn": Case(
        lambda t: DlibCnnDetector(_real_landmarks(), str(_file("c.dat")(t))),
        ModelError,
        _at("c.dat"),
        RuntimeError,
    ),
    "garbage-dlib-resnet": Case(
        lambda t: DlibResnetEmbedder(str(_file("r.dat")(t))), ModelError, _at("r.dat"), RuntimeError
    ),
    "garbage-dlib-for-onnx": Case(
        lambda t: DlibOnnxEmbedder(_file("r.dat")(t)), ModelError, _at("r.dat")
    ),
    # --- vector indexes ---------------------------------------------------------------------
    "garbage-faiss-file": Case(
        lambda t: read_faiss(_file("x.faiss")(t)), IndexCorruptError, _at("x.faiss"), RuntimeError
    ),
    "truncated-faiss-file": Case(
        lambda t: read_faiss(_file("y.faiss", _hnsw_bytes(t).read_bytes()[:200])(t)),
        IndexCorruptError,
        _at("y.faiss"),
        RuntimeError,
    ),
    "faiss-write-into-missing-folder": Case(
        _write_into_missing_folder, StorageError, _at("missing/graph.faiss"), RuntimeError
    ),
    "index-save-under-a-file": Case(_save_under_a_file, StorageError, _at("afile/idx"), OSError),
    # --- SQLite files -----------------------------------------------------------------------
    "garbage-cache": Case(
        lambda t: EmbeddingCache(_file("c.sqlite")(t)), StorageError, _at("c.sqlite")
    ),
    "cache-broken-while-open": Case(
        _cache_then_corrupt, StorageError, _at("cache.sqlite"), sqlite3.Error
    ),
    "garbage-gallery": Case(
        lambda t: Gallery.open(_file("g/gallery.sqlite")(t).parent),
        GalleryError,
        _at("g/gallery.sqlite"),
    ),
    "truncated-gallery": Case(
        lambda t: Gallery.open(_truncated_gallery(t).parent),
        GalleryError,
        _at("g/gallery.sqlite"),
    ),
    # --- draw targets ------------------------------------------------------------------------
    "draw-into-missing-folder": Case(
        lambda t: save_image(t / "no" / "such" / "out.png", np.zeros((4, 4, 3), np.uint8)),
        ImageError,
        _at("no/such/out.png"),
    ),
    "draw-onto-a-folder": Case(
        lambda t: save_image(_mkdir(t / "out.png"), np.zeros((4, 4, 3), np.uint8)),
        ImageError,
        _at("out.png"),
    ),
    "draw-unknown-format": Case(
        lambda t: save_image(t / "out.xyz", np.zeros((4, 4, 3), np.uint8)), InvalidArgumentError
    ),
    # --- arguments ----------------------------------------------------------------------------
    "search-k-zero": Case(lambda t: _index(t).search(np.ones(DIM), 0), InvalidArgumentError),
    "search-k-not-int": Case(lambda t: _index(t).search(np.ones(DIM), "3"), InvalidArgumentError),
    "search-threshold-nan": Case(
        lambda t: _index(t).search(np.ones(DIM), 1, threshold=float("nan")), InvalidArgumentError
    ),
    "search-wrong-dim": Case(lambda t: _index(t).search(np.ones(3), 1), InvalidArgumentError),
    "search-not-numbers": Case(lambda t: _index(t).search([["a"] * DIM], 1), InvalidArgumentError),
    "unknown-index-backend": Case(lambda t: create_index("nope", DIM), InvalidArgumentError),
    "identify-top-k-zero": Case(
        lambda t: _gallery(t).identify(np.ones(128), top_k=0), InvalidArgumentError
    ),
    "identify-bad-aggregate": Case(
        lambda t: _gallery(t).identify(np.ones(128), aggregate="median"), InvalidArgumentError
    ),
    "threshold-out-of-range": Case(
        lambda t: _gallery(t).settings.set_threshold(1.5, source="x"), InvalidArgumentError
    ),
    "names-do-not-match-rows": Case(
        lambda t: _gallery(t).add_embeddings(["a"], np.ones((2, 128))), InvalidArgumentError
    ),
    "faces-bad-shape": Case(
        lambda t: Faces(np.zeros((2, 3)), np.zeros(2), np.zeros((2, 5, 2))), InvalidArgumentError
    ),
    "onnx-threads-zero": Case(
        lambda t: OnnxModel(_file("m.onnx")(t), threads=0), InvalidArgumentError
    ),
    "verify-mismatched-sizes": Case(
        lambda t: verify_embeddings(np.ones(4), np.ones(5), threshold=0.5), InvalidArgumentError
    ),
    "onnx-detector-bad-options": Case(
        lambda t: ScrfdDetector(str(t / "d.onnx"), score_threshold=1.5), InvalidArgumentError
    ),
    "onnx-detector-bad-nms": Case(
        lambda t: ScrfdDetector(str(t / "d.onnx"), nms_threshold=0.0), InvalidArgumentError
    ),
    "detector-bad-image": Case(lambda t: _hog().detect(np.zeros((4, 4), np.float32)), ImageError),
}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _real_landmarks() -> str:
    from faceprint.packs import get_pack

    return str(get_pack("dlib").file("landmarks"))


def _hog() -> DlibHogDetector:
    return DlibHogDetector(_real_landmarks())


@pytest.mark.parametrize("name", list(CASES))
def test_only_faceprint_errors_come_out(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    with pytest.raises(FaceprintError) as info:
        case.call(tmp_path)
    err = info.value
    assert isinstance(err, case.error), f"{type(err).__name__}: {err}"
    if case.source is not None:
        assert err.source == str(case.source(tmp_path)), str(err)
    if case.chained is not None:
        assert isinstance(err.__cause__, case.chained), repr(err.__cause__)
        assert not isinstance(err.__cause__, FaceprintError)
    assert str(err) and "\n" not in str(err)


def test_argument_errors_are_value_errors_and_faceprint_errors() -> None:
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(InvalidArgumentError, FaceprintError)


def test_map_exceptions_translates_chains_and_passes_ours_through() -> None:
    mapping: dict[type[BaseException], type[FaceprintError]] = {OSError: StorageError}
    with (
        pytest.raises(StorageError, match=r"^f\.db: cannot write \(disk full\)$") as info,
        map_exceptions(mapping, source="f.db", what="write"),
    ):
        raise OSError("disk full")
    assert info.value.source == "f.db" and isinstance(info.value.__cause__, OSError)
    with pytest.raises(ModelError) as ours, map_exceptions(mapping, source="m.onnx"):
        raise ModelError("broken")
    assert ours.value.source == "m.onnx" and ours.value.__cause__ is None
    with pytest.raises(KeyError), map_exceptions(mapping):  # not mapped: a bug, left as it is
        raise KeyError("x")


@pytest.mark.data
@pytest.mark.parametrize(
    ("cls", "rel"),
    [
        (ScrfdDetector, "scrfd/scrfd_500m_bnkps.onnx"),
        (RetinaFaceDetector, "retinaface/retinaface_mbnet0.25.onnx"),
        (YuNetDetector, "yunet/face_detection_yunet_2023mar.onnx"),
    ],
)
@pytest.mark.parametrize(
    "image",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8)],
    ids=["gray", "float", "empty"],
)
def test_onnx_detectors_refuse_what_is_not_an_rgb_image(
    data_dir: Path, cls: type, rel: str, image: np.ndarray
) -> None:
    path = data_dir / "models" / rel
    if not path.is_file():
        pytest.skip(f"model fixture {path} not present")
    with pytest.raises(ImageError, match=r"\(H, W, 3\) uint8 RGB"):
        cls(str(path), threads=1).detect(image)
