"""The batch engine: one outcome per image, order, workers, bounded input, cancel, pools."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.batch import AnalyzerPool, Engine, ImageResult, analyze_iter
from faceprint.errors import FaceprintError, ImageError, InvalidArgumentError
from faceprint.pipeline import FaceAnalyzer

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[Path]:
    """Real photos with bad files among them: text named .jpg, a missing file, a folder."""
    base = tmp_path_factory.mktemp("mixed")
    photos = data_dir / "photos" / "face_recognition"
    text = base / "notes.jpg"
    text.write_text("not an image")
    folder = base / "folder.jpg"
    folder.mkdir()
    return [
        photos / "obama.jpg",
        text,
        photos / "two_people.jpg",
        base / "missing.jpg",
        photos / "biden.jpg",
        folder,
        photos / "obama2.jpg",
    ]


@pytest.fixture(scope="module")
def in_process(mixed: list[Path]) -> list[ImageResult]:
    return list(analyze_iter(mixed, workers=0, thumbnails=True, hash=True))


def test_one_outcome_per_image_in_order(mixed: list[Path], in_process: list[ImageResult]) -> None:
    assert [r.index for r in in_process] == list(range(len(mixed)))
    assert [r.source for r in in_process] == [str(p) for p in mixed]
    assert [r.ok for r in in_process] == [True, False, True, False, True, False, True]
    for r in in_process:
        if r.ok:
            assert r.faces is not None and r.faces.embeddings is not None
            assert r.shape is not None and len(r.thumbnails) == len(r.faces)
            assert r.sha256 is not None and len(r.sha256) == 64
            assert r.thumbnails[0][:2] == b"\xff\xd8"  # JPEG
        else:
            assert isinstance(r.error, ImageError)
            assert r.error.source == r.source
            assert r.faces is None
    assert len(in_process[2].faces) == 2  # type: ignore[arg-type]


def test_workers_give_the_same_faces(mixed: list[Path], in_process: list[ImageResult]) -> None:
    with Engine(workers=2) as engine:
        parallel = list(engine.analyze_iter(mixed, chunk=2))
        again = list(engine.analyze_iter(mixed[::-1], chunk=3, ordered=False))
    assert [r.ok for r in parallel] == [r.ok for r in in_process]
    for a, b in zip(parallel, in_process, strict=True):
        if a.ok:
            np.testing.assert_allclose(a.faces.boxes, b.faces.boxes)  # type: ignore[union-attr]
            np.testing.assert_allclose(a.faces.embeddings, b.faces.embeddings, atol=1e-4)  # type: ignore[union-attr, arg-type]
            assert isinstance(a.error, type(None))
    assert sorted(r.index for r in again) == list(range(len(mixed)))
    assert {r.source for r in again if r.ok} == {r.source for r in in_process if r.ok}


def test_errors_cross_process_boundaries_with_their_source(mixed: list[Path]) -> None:
    with Engine(workers=1) as engine:
        bad = [r for r in engine.analyze_iter(mixed[1:4]) if not r.ok]
    assert [type(r.error) for r in bad] == [ImageError, ImageError]
    assert [r.error.source for r in bad] == [str(mixed[1]), str(mixed[3])]  # type: ignore[union-attr]


def test_input_is_consumed_lazily_and_cancel_stops(data_dir: Path) -> None:
    photo = data_dir / "photos" / "face_recognition" / "obama_small.jpg"
    pulled = 0

    def endless() -> Iterator[Path]:
        nonlocal pulled
        while True:
            pulled += 1
            yield photo

    cancel = threading.Event()
    seen = []
    with Engine(workers=1) as engine:
        for r in engine.analyze_iter(endless(), chunk=2, cancel=cancel):
            seen.append(r)
            if len(seen) == 5:
                cancel.set()
    assert 5 <= len(seen) <= 5 + 2 * 2  # what was in flight may still arrive
    assert pulled <= len(seen) + 2 * 2 * 1 + 2  # a window of chunks, never the whole input


def test_progress_and_detection_only(mixed: list[Path]) -> None:
    calls: list[tuple[int, int | None]] = []
    results = list(
        analyze_iter(mixed[:3], workers=0, embed=False, progress=lambda d, t: calls.append((d, t)))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert results[0].faces is not None and results[0].faces.embeddings is None


def test_large_images_are_detected_downscaled(data_dir: Path, tmp_path: Path) -> None:
    src = Image.open(data_dir / "photos" / "face_recognition" / "obama.jpg").convert("RGB")
    big = tmp_path / "big.png"
    src.resize((src.width * 3, src.height * 3)).save(big)
    small = FaceAnalyzer(max_side=None).detect(np.asarray(src))
    large = FaceAnalyzer(max_side=max(src.size)).detect(big)
    assert len(small) == len(large) == 1
    np.testing.assert_allclose(large.boxes / 3, small.boxes, atol=6)
    np.testing.assert_allclose(large.landmarks / 3, small.landmarks, atol=6)


def test_bad_arguments_are_client_errors() -> None:
    with pytest.raises(InvalidArgumentError):
        Engine(workers=-1)
    with pytest.raises(ValueError):
        list(analyze_iter([], workers=0, chunk=0))
    with pytest.raises(InvalidArgumentError):
        FaceAnalyzer(max_side=10)
    with pytest.raises(InvalidArgumentError):
        FaceAnalyzer(augment="jitter")  # type: ignore[arg-type]


def test_analyzer_pool_is_thread_safe(photos: Path) -> None:
    files = [photos / "obama.jpg", photos / "biden.jpg", photos / "two_people.jpg"] * 3
    pool = AnalyzerPool(size=2)
    expected = {f: pool.analyze(f) for f in set(files)}
    got: dict[int, object] = {}

    def work(i: int) -> None:
        got[i] = pool.analyze(files[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, f in enumerate(files):
        np.testing.assert_allclose(got[i].embeddings, expected[f].embeddings, atol=1e-5)  # type: ignore[attr-defined]
    pool.close()
    with pytest.raises(FaceprintError):
        pool.analyze(files[0])
