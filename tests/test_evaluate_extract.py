"""The evaluation cache and the one-embedding-per-image extraction, with a weightless pack."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceprint.evaluate.extract as extract
from _evaluate_fakes import fake_pack, write_embeddings, write_square
from faceprint.evaluate.cache import (
    Detections,
    EmbeddingCache,
    detector_key,
    embedder_key,
    face_key,
)
from faceprint.evaluate.extract import ExtractionConfig, embed_images
from faceprint.packs import registry
from faceprint.types import Faces

RED, BLUE = (230, 40, 40), (40, 40, 230)


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(
        registry.DETECTOR_FACTORIES, "fake-squares", "_evaluate_fakes:create_detector"
    )
    monkeypatch.setitem(
        registry.EMBEDDER_FACTORIES, "fake-colour", "_evaluate_fakes:create_embedder"
    )
    monkeypatch.setitem(registry._REGISTRY, "fake", fake_pack)
    return "fake"


def _config(**kw: object) -> ExtractionConfig:
    return ExtractionConfig(pack="fake", workers=1, **kw)  # type: ignore[arg-type]


def test_cache_round_trip(tmp_path: Path) -> None:
    faces = Faces(np.array([[1, 2, 3, 4]]), np.array([0.5]), np.arange(10).reshape(1, 5, 2))
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_detections("det", {"sha1": Detections(faces, (10, 20))})
        cache.put_embeddings("emb", {"f1": np.arange(4, dtype=np.float32)})
        got = cache.get_detections("det", ["sha1", "sha2"])
        assert list(got) == ["sha1"] and got["sha1"].shape == (10, 20)
        np.testing.assert_array_equal(got["sha1"].faces.landmarks, faces.landmarks)
        assert cache.get_detections("other", ["sha1"]) == {}
        np.testing.assert_array_equal(cache.get_embeddings("emb", ["f1"])["f1"], np.arange(4))


def test_cache_keys_follow_what_changes_the_result(fake: str) -> None:
    pack = registry.get_pack(fake)
    assert detector_key(pack, "x", {"upsample": 1}) != detector_key(pack, "x", {"upsample": 2})
    assert embedder_key(pack, {"batch_size": 1}) == embedder_key(pack, {"batch_size": 64})
    lm = np.ones((5, 2))
    assert face_key("abc", lm) == face_key("abc", lm + 1e-4)  # rounded to 1/100 px
    assert face_key("abc", lm) != face_key("abc", lm + 0.5)


def test_two_processes_write_one_cache(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    EmbeddingCache(path).close()
    with mp.get_context("spawn").Pool(2) as pool:
        assert sorted(pool.map(write_embeddings, [(path, 0), (path, 1)])) == [0, 1]
    with EmbeddingCache(path) as cache:
        keys = [f"w{w}-{b}-{k}" for w in (0, 1) for b in range(20) for k in range(10)]
        assert len(cache.get_embeddings("emb-test", keys)) == 400


def test_face_choice_and_fallback(fake: str, tmp_path: Path) -> None:
    two = write_square(tmp_path / "two.png", RED, 60, x=0)  # large, far from the centre
    both = cv2.imread(str(two))
    both[30:75, 90:135] = BLUE[::-1]  # smaller, nearer the centre (x = 80)
    cv2.imwrite(str(two), both)
    img = write_square(tmp_path / "small.png", BLUE, 25)  # only found with upsample 2
    largest = embed_images([two], _config(face="largest"))
    center = embed_images([two], _config(face="center"))
    assert largest.face_counts[0] == 2
    assert largest.boxes[0][2] - largest.boxes[0][0] == 60
    assert center.boxes[0][2] - center.boxes[0][0] == 45
    assert not np.allclose(largest.embeddings[0], center.embeddings[0])
    plain = embed_images([img], _config())
    assert plain.sources == ("",) and plain.summary.no_face == 1
    assert not plain.has_face[0] and not plain.embeddings.any()
    rescued = embed_images([img], _config(fallbacks=("upsample2",)))
    assert rescued.sources == ("upsample2",) and rescued.summary.by_fallback == (("upsample2", 1),)
    assert np.linalg.norm(rescued.embeddings[0]) == pytest.approx(1.0)


def test_unreadable_file_is_reported_not_raised(fake: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = write_square(tmp_path / "good.png", RED, 60)
    r = embed_images([bad, good], _config())
    assert r.sources[0].startswith("error:") and r.sources[1] == "detector"
    assert r.summary.errors == 1 and r.summary.detected == 1


def test_second_run_comes_from_the_cache(
    fake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [write_square(tmp_path / f"{i}.png", RED if i % 2 else BLUE, 50 + i) for i in range(6)]
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        first = embed_images(files, _config(), cache=cache)

        def no_work(self: object, func: object, tasks: list) -> object:
            assert not tasks, f"recomputed {len(tasks)} task(s)"
            return iter(())

        monkeypatch.setattr(extract._Runner, "map", no_work)
        second = embed_images(files, _config(), cache=cache)
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    assert second.sources == first.sources


def test_subject_choice_skips_bystanders_and_runs_the_fallbacks(fake: str, tmp_path: Path) -> None:
    path = write_square(tmp_path / "bystander.png", RED, 40, x=0)  # found, far from the centre
    img = cv2.imread(str(path))
    img[45:84, 58:97] = BLUE[::-1]  # the centred subject, 39 px: found only with upsample 2
    cv2.imwrite(str(path), img)
    largest = embed_images([path], _config(face="largest", fallbacks=("upsample2",)))
    assert largest.sources == ("detector",) and largest.boxes[0][0] == 0
    subject = embed_images([path], _config(face="subject", fallbacks=("upsample2",)))
    assert subject.sources == ("upsample2",) and subject.boxes[0][0] == 58
    assert subject.summary.not_subject == 1 and subject.face_counts[0] == 1
    alone = embed_images([path], _config(face="subject"))
    assert alone.sources == ("",) and alone.summary.no_face == 1


def test_subject_face_overlap_rule() -> None:
    from faceprint.evaluate.fallback import subject_face

    boxes = np.array([[0, 0, 40, 40], [70, 80, 170, 190], [100, 100, 130, 130]], np.float32)
    faces = Faces(boxes, np.ones(3), np.zeros((3, 5, 2)))
    assert subject_face(faces, (250, 250)) == 1
    assert subject_face(faces[[0]], (250, 250)) is None
    assert subject_face(Faces.empty(), (250, 250)) is None


def test_fallbacks_are_checked_against_the_pack() -> None:
    from dataclasses import replace

    from faceprint.errors import ModelError
    from faceprint.evaluate.fallback import applicable_fallbacks, check_fallbacks
    from faceprint.evaluate.lfw import LFW_FALLBACKS

    onnx_like = replace(fake_pack(), detector="scrfd", landmarks="", detector_options={})
    assert applicable_fallbacks(onnx_like, LFW_FALLBACKS) == ()
    with pytest.raises(ModelError, match="needs a detector with an upsample option"):
        check_fallbacks(onnx_like, ("upsample2",))
    dlib_like = replace(fake_pack(), landmarks="dlib-68")
    assert applicable_fallbacks(dlib_like, LFW_FALLBACKS) == ("upsample2", "center-box")
