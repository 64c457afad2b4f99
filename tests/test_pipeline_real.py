"""Real faces from ../shared/data through the default pack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint import FaceAnalyzer, NoFaceError
from faceprint.errors import AmbiguousFaceError, ImageError
from faceprint.pipeline import select_face

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def fa() -> FaceAnalyzer:
    return FaceAnalyzer()


def test_same_person(fa: FaceAnalyzer, photos: Path) -> None:
    result = fa.verify(photos / "obama.jpg", photos / "obama2.jpg")
    assert result.same, result


def test_different_people(fa: FaceAnalyzer, photos: Path) -> None:
    result = fa.verify(photos / "obama.jpg", photos / "biden.jpg")
    assert not result.same, result


def test_two_people_and_landmark_order(fa: FaceAnalyzer, photos: Path) -> None:
    faces = fa.analyze(photos / "two_people.jpg")
    assert len(faces) == 2
    assert faces.embeddings is not None and faces.embeddings.shape == (2, fa.pack.dim)
    np.testing.assert_allclose(np.linalg.norm(faces.embeddings, axis=1), 1.0, atol=1e-5)
    lm = faces.landmarks
    assert (lm[:, 0, 0] < lm[:, 1, 0]).all()  # image-left eye first
    assert (lm[:, 2, 1] > lm[:, 0, 1]).all() and (lm[:, 3, 1] > lm[:, 2, 1]).all()
    with pytest.raises(AmbiguousFaceError):
        select_face(faces, "only")


def test_negatives_have_no_face(fa: FaceAnalyzer, data_dir: Path) -> None:
    files = sorted((data_dir / "negatives").iterdir())
    assert len(files) >= 10
    found = {f.name: len(fa.detect(f)) for f in files}
    assert found == dict.fromkeys(found, 0), found


def test_lfw_size_images_work(fa: FaceAnalyzer, data_dir: Path) -> None:
    people = data_dir / "lfw" / "images_deepfunneled"
    files = sorted(people.glob("Aaron_Peirsol/*.jpg"))[:2]
    faces = fa.analyze_many(fa_images(files))
    assert all(len(f) >= 1 for f in faces)


def fa_images(files: list[Path]) -> list[np.ndarray]:
    from faceprint import load_image

    return [load_image(f) for f in files]


def test_batch_of_many_faces_is_one_call(
    fa: FaceAnalyzer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = fa.embedder._embed_batch

    def spy(crops: np.ndarray) -> np.ndarray:
        calls.append(len(crops))
        return original(crops)

    monkeypatch.setattr(fa.embedder, "_embed_batch", spy)
    faces = fa.analyze(data_dir / "photos" / "dlib_faces" / "bald_guys.jpg")
    assert len(faces) >= 20
    assert len(calls) == -(-len(faces) // fa.embedder.batch_size)


def test_no_face_and_bad_file(fa: FaceAnalyzer, data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NoFaceError, match="moon"):
        fa.embed_one(next((data_dir / "negatives").glob("moon*")))
    bad = tmp_path / "text.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageError, match=r"text\.jpg"):
        fa.verify(bad, bad)
