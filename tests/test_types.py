from __future__ import annotations

import numpy as np
import pytest

from faceprint.types import Face, Faces, Verification


def make_faces(n: int, dim: int | None = None) -> Faces:
    boxes = np.array([[i * 10, 0, i * 10 + 5 + i, 5 + i] for i in range(n)], np.float32)
    emb = None if dim is None else np.eye(n, dim, dtype=np.float32)
    return Faces(boxes, np.linspace(0, 1, n), np.zeros((n, 5, 2)), emb)


@pytest.mark.parametrize(
    ("boxes", "scores", "landmarks", "emb", "message"),
    [
        (
            np.zeros((2, 3)),
            np.zeros(2),
            np.zeros((2, 5, 2)),
            None,
            r"boxes must have shape \(N, 4\)",
        ),
        (np.zeros((2, 4)), np.zeros(3), np.zeros((2, 5, 2)), None, r"scores must have shape \(2\)"),
        (
            np.zeros((2, 4)),
            np.zeros(2),
            np.zeros((2, 4, 2)),
            None,
            r"landmarks .* \(2, 5, 2\), got \(2, 4, 2\)",
        ),
        (
            np.zeros((2, 4)),
            np.zeros(2),
            np.zeros((2, 5, 2)),
            np.zeros((3, 8)),
            r"embeddings .* \(2, N\)",
        ),
    ],
)
def test_faces_validates_shapes(boxes, scores, landmarks, emb, message) -> None:
    with pytest.raises(ValueError, match=message):
        Faces(boxes, scores, landmarks, emb)


def test_faces_indexing_and_masks() -> None:
    faces = make_faces(4, dim=8)
    assert len(faces) == 4
    one = faces[2]
    assert isinstance(one, Face)
    assert one.embedding is not None and one.embedding[2] == 1.0
    sub = faces[faces.scores > 0.5]
    assert isinstance(sub, Faces) and len(sub) == 2
    assert sub.embeddings is not None and sub.embeddings.shape == (2, 8)
    assert [f.score for f in faces[[3, 0]]] == [1.0, 0.0]


def test_largest_and_sorting() -> None:
    faces = make_faces(3)
    assert faces.largest().box.tolist() == faces.boxes[2].tolist()
    assert faces.sorted_by_area().areas.tolist() == sorted(faces.areas.tolist(), reverse=True)
    with pytest.raises(IndexError):
        Faces.empty().largest()


def test_with_embeddings_does_not_mutate() -> None:
    faces = make_faces(2)
    emb = faces.with_embeddings(np.ones((2, 4)))
    assert faces.embeddings is None
    assert emb.embeddings is not None and emb.embeddings.dtype == np.float32


def test_from_list_round_trip_and_to_dict() -> None:
    faces = make_faces(3, dim=4)
    again = Faces.from_list(list(faces))
    np.testing.assert_array_equal(again.boxes, faces.boxes)
    d = faces[0].to_dict()
    assert set(d) == {"box", "score", "landmarks", "embedding"}
    assert len(d["landmarks"]) == 5
    assert Faces.from_list([]).boxes.shape == (0, 4)
    assert Faces.empty(128).embeddings.shape == (0, 128)  # type: ignore[union-attr]


def test_verification_to_dict() -> None:
    v = Verification(0.9, 0.8, True, "dlib")
    assert v.to_dict() == {"similarity": 0.9, "threshold": 0.8, "same": True, "pack": "dlib"}
