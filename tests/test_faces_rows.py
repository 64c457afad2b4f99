"""``Faces.concat`` and the optional per-row ``track_id`` / ``source_index``."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import InvalidArgumentError
from faceprint.types import Face, Faces


def faces(n: int, *, dim: int | None = 4, offset: float = 0.0, **ids) -> Faces:
    boxes = np.tile(np.array([0, 0, 10, 10], np.float32), (n, 1)) + offset + np.arange(n)[:, None]
    emb = None if dim is None else np.eye(n, dim, dtype=np.float32)
    return Faces(boxes, np.linspace(0.5, 1, n), np.zeros((n, 5, 2)), emb, **ids)


def test_ids_default_to_none_and_are_validated_int64() -> None:
    f = faces(3)
    assert f.track_id is None and f.source_index is None
    g = faces(3, track_id=[7, 8, 9], source_index=np.array([0, 0, 1], np.int32))
    assert g.track_id.dtype == np.int64 and g.track_id.tolist() == [7, 8, 9]
    assert g.source_index.dtype == np.int64 and g.source_index.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({"track_id": [1, 2]}, r"track_id must have shape \(3,\), got \(2,\)"),
        ({"track_id": [1.5, 2, 3]}, "track_id must hold integers"),
        ({"source_index": [[0, 1, 2]]}, r"source_index must have shape \(3,\)"),
        ({"source_index": [0, -1, 2]}, "source_index must be >= 0"),
    ],
)
def test_bad_ids_are_invalid_arguments(ids: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        faces(3, **ids)


def test_indexing_masks_and_with_embeddings_carry_the_ids() -> None:
    f = faces(4, track_id=[10, 11, 12, 13], source_index=[0, 1, 1, 2])
    one = f[2]
    assert isinstance(one, Face) and one.track_id == 12 and one.source_index == 1
    assert one.to_dict()["track_id"] == 12 and one.to_dict()["source_index"] == 1
    masked = f[np.array([True, False, True, False])]
    assert masked.track_id.tolist() == [10, 12] and masked.source_index.tolist() == [0, 1]
    assert f[1:3].track_id.tolist() == [11, 12]
    assert f.sorted_by_area().track_id.tolist() == [10, 11, 12, 13]  # equal areas: stable
    swapped = f.with_embeddings(np.ones((4, 8), np.float32))
    assert swapped.track_id.tolist() == [10, 11, 12, 13] and swapped.embeddings.shape == (4, 8)
    assert Faces.from_list(list(f)).source_index.tolist() == [0, 1, 1, 2]
    assert "track_id" not in faces(1)[0].to_dict()


def test_with_ids_broadcasts_a_scalar_and_keeps_the_other() -> None:
    f = faces(3, track_id=[1, 2, 3]).with_ids(source_index=5)
    assert f.source_index.tolist() == [5, 5, 5] and f.track_id.tolist() == [1, 2, 3]
    with pytest.raises(InvalidArgumentError, match="source_index must be >= 0"):
        f.with_ids(source_index=-2)


def test_concat_joins_rows_in_order_and_skips_empty_parts() -> None:
    a = faces(2, source_index=0, track_id=[1, 2])
    b = faces(3, offset=100, source_index=1, track_id=[3, 4, 5])
    joined = Faces.concat([a, Faces.empty(), b])
    assert len(joined) == 5
    np.testing.assert_array_equal(joined.boxes, np.concatenate([a.boxes, b.boxes]))
    np.testing.assert_array_equal(joined.embeddings, np.concatenate([a.embeddings, b.embeddings]))
    assert joined.source_index.tolist() == [0, 0, 1, 1, 1]
    assert joined.track_id.tolist() == [1, 2, 3, 4, 5]
    assert len(Faces.concat([])) == 0 and len(Faces.concat([Faces.empty()])) == 0
    plain = Faces.concat([faces(1, dim=None), faces(2, dim=None)])
    assert plain.embeddings is None and plain.track_id is None


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (lambda: [faces(1), faces(1, dim=None)], "every face has embeddings or none"),
        (lambda: [faces(1, dim=4), faces(1, dim=8)], r"embeddings of sizes \[4, 8\]"),
        (lambda: [faces(1, track_id=1), faces(1)], "every face has track_id or none"),
        (lambda: [faces(1), faces(1, source_index=0)], "every face has source_index or none"),
    ],
)
def test_concat_refuses_parts_that_disagree(parts, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Faces.concat(parts())
