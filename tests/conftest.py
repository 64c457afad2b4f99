"""Shared fixtures: the real-data folder (FACEPRINT_DATA, default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data folder; tests using it skip with a reason when it is absent."""
    root = _data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"real data not found at {root} (set FACEPRINT_DATA)")
    return root


@pytest.fixture(scope="session")
def photos(data_dir: Path) -> Path:
    return data_dir / "photos" / "face_recognition"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep FACEPRINT_HOME of tests out of the user's home (shared across the session)."""
    if "FACEPRINT_HOME" not in os.environ:
        home = tmp_path_factory.getbasetemp() / "faceprint-home"
        monkeypatch.setenv("FACEPRINT_HOME", str(home))
