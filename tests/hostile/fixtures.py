"""Fixtures shared by the hostile-input test modules (registered in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceprint.gallery import Gallery
from hostile.checks import copy_gallery
from hostile.corpus import unit_rows


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed gallery with three identities and a saved index, copied by each test."""
    folder = tmp_path_factory.mktemp("prepared") / "gallery"
    with Gallery.create(folder, "dlib") as g:
        g.add_embeddings(["alice", "bob", "carol"], unit_rows(3, seed=5))
    return folder


@pytest.fixture
def hostile_gallery(hostile_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of :func:`hostile_template` for one test to attack."""
    return copy_gallery(hostile_template, tmp_path / "gallery")
