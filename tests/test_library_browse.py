"""Browsing a library a page at a time, and the corrections that can be undone (synthetic faces
inserted as rows, as in test_library.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faceprint.errors import IdentityExistsError, InvalidArgumentError
from faceprint.library import Library
from test_library import _synthetic_library


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library, _ = _synthetic_library(tmp_path)  # ann 4 faces, bob 3, cy 2
    library.cluster(threshold=0.7)
    yield library
    library.close()


def test_people_page_one_face_each_largest_first_and_searchable(lib: Library) -> None:
    total, cards = lib.people_page(limit=2)
    assert total == 3 and [c.size for c in cards] == [4, 3]
    assert all(c.cover is not None for c in cards)
    assert [c.size for c in lib.people_page(limit=2, offset=2)[1]] == [2]
    lib.label(cards[1].id, "Bob_100%")
    total, found = lib.people_page(query="b_100%")  # LIKE wildcards are literal
    assert total == 1 and found[0].name == "Bob_100%"
    assert lib.people_page(query="nobody") == (0, [])
    with pytest.raises(InvalidArgumentError):
        lib.people_page(limit=0)


def test_cluster_faces_and_unclustered_pages(lib: Library) -> None:
    card, faces = lib.cluster_faces(lib.people_page()[1][0].id, limit=3)
    assert card.size == 4 and len(faces) == 3
    assert lib.unclustered_page() == (0, [])
    victim = faces[0]
    lib.remove_face(victim.id)
    total, free = lib.unclustered_page()
    assert total == 1 and free[0].id == victim.id


def test_hide_and_show_a_cluster(lib: Library) -> None:
    first = lib.people_page()[1][0]
    assert lib.hide(first.id).hidden
    assert first.id not in [c.id for c in lib.people_page()[1]]
    assert [c.id for c in lib.people_page(hidden=True)[1]] == [first.id]
    lib.cluster(threshold=0.7)  # a re-clustering keeps the group hidden (under a new id)
    assert lib.people_page()[0] == 2 and lib.people_page(hidden=True)[0] == 1
    again = lib.people_page(hidden=True)[1][0]
    lib.hide(again.id, hidden=False)
    assert lib.people_page()[0] == 3


def test_merge_is_undone_by_split(lib: Library) -> None:
    ann, bob, _ = lib.people_page()[1]
    lib.label(ann.id, "Ann")
    templates = lib.gallery.template_count
    moved = [f.id for f in lib.cluster_faces(bob.id)[1]]
    merged = lib.merge(lib.person_cluster("Ann").id, bob.id)
    assert merged.size == 7 and lib.gallery.template_count > templates
    back = lib.split(moved)
    assert back.size == 3 and back.name is None
    assert lib.person_cluster("Ann").size == 4
    assert lib.gallery.template_count == templates  # the merge's templates left with them


def test_not_them_is_undone_by_restore(lib: Library) -> None:
    ann = lib.people_page()[1][0]
    lib.label(ann.id, "Ann")
    face = lib.cluster_faces(ann.id)[1][0]
    lib.remove_face(face.id)
    assert lib.person_cluster("Ann").size == 3
    restored = lib.restore_face(face.id, ann.id)
    assert restored.name == "Ann" and lib.person_cluster("Ann").size == 4
    lib.cluster(threshold=0.7)  # the rejection is gone: it stays with Ann
    assert lib.face(face.id).name == "Ann"


def test_suggestions_rank_the_nearest_cluster_first(lib: Library) -> None:
    ann, bob, cy = lib.people_page()[1]
    found = lib.suggestions(ann.id, k=2)
    assert len(found) == 2 and {s.card.id for s in found} <= {bob.id, cy.id}
    assert found[0].similarity >= found[1].similarity
    lib.label(ann.id, "Ann")
    lib.label(bob.id, "Bob")
    assert bob.id not in [s.card.id for s in lib.suggestions(lib.person_cluster("Ann").id)]


def test_an_unclustered_face_can_be_named(lib: Library) -> None:
    ann = lib.people_page()[1][0]
    face = lib.cluster_faces(ann.id)[1][0]
    lib.remove_face(face.id)
    named = lib.label_face(face.id, "Solo")
    assert named.name == "Solo" and named.size == 1
    lib.label(ann.id, "Ann")
    other = lib.cluster_faces(lib.person_cluster("Ann").id)[1][0]
    lib.remove_face(other.id)
    with pytest.raises(IdentityExistsError):
        lib.label_face(other.id, "Solo")  # a taken name needs append
    assert lib.face(other.id).cluster is None  # and the face stays free
    assert lib.label_face(other.id, "Solo", append=True).size == 2
