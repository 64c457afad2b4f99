from __future__ import annotations

import numpy as np
import pytest

from faceprint.align import ARCFACE_112, DLIB_150, CropSpec, align_faces, similarity_transform
from faceprint.compare import cosine_similarity, similarity_matrix, verify_embeddings


def test_similarity_transform_recovers_known_transform() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_similarity_transform_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="identical"):
        similarity_transform(np.ones((5, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize("crop", [ARCFACE_112, DLIB_150])
def test_align_puts_landmarks_on_template(crop: CropSpec) -> None:
    # an image with bright dots at landmark positions of a scaled, rotated, shifted template
    tpl = crop.template_array()
    angle, scale = 0.2, 2.0
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = tpl @ rot.T + [80, 60]
    img = np.zeros((400, 400, 3), np.uint8)
    for x, y in pts:
        img[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = 255
    crops = align_faces(img, pts[None], crop)
    assert crops.shape == (1, crop.size, crop.size, 3)
    for x, y in tpl:
        assert crops[0, round(y), round(x)].max() > 200


def test_cosine_shapes() -> None:
    a = np.array([1.0, 0.0])
    b = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    assert cosine_similarity(a, a) == pytest.approx(1.0)
    np.testing.assert_allclose(cosine_similarity(a, b), [1, 0, -1], atol=1e-6)
    np.testing.assert_allclose(cosine_similarity(b, a), [1, 0, -1], atol=1e-6)
    assert similarity_matrix(b, b).shape == (3, 3)
    with pytest.raises(ValueError, match="sizes differ"):
        similarity_matrix(np.ones((2, 3)), np.ones((2, 4)))


def test_verify_embeddings() -> None:
    v = verify_embeddings([1, 0], [1, 1], threshold=0.7, pack="p")
    assert v.similarity == pytest.approx(2**-0.5, abs=1e-6)
    assert v.same and v.pack == "p"
    assert not verify_embeddings([1, 0], [0, 1], threshold=0.5).same
    with pytest.raises(ValueError):
        verify_embeddings(np.ones((2, 2)), [1, 0], threshold=0.5)
