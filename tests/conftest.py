"""Shared fixtures: the real-data folder (FACEPRINT_DATA, default ../shared/data)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: test modules that must pass on the core install (``pip install faceprint``, no extras): their
#: tests are marked ``core`` and ``.ci/run`` runs ``pytest -m core`` in a second environment
CORE_MODULES = frozenset(
    {
        "test_align_compare.py",
        "test_cli_core.py",
        "test_evaluate_metrics.py",
        "test_gallery.py",
        "test_evaluate_lfw.py",
        "test_library.py",
        "test_import_cycles.py",
        "test_storage.py",
        "test_manifest.py",
        "test_imageio.py",
        "test_optional.py",
        "test_cli_conventions.py",
        "test_json_boundary.py",
        "test_packs.py",
        "test_types.py",
    }
)

if importlib.util.find_spec("fastapi") is None:  # the core install: skip the extras' modules
    collect_ignore = [
        p.name for p in Path(__file__).parent.glob("test_*.py") if p.name not in CORE_MODULES
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in CORE_MODULES:
            item.add_marker(pytest.mark.core)


#: the hostile-input modules' shared gallery fixtures
pytest_plugins = ["hostile.fixtures"]


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


@pytest.fixture(scope="session")
def models(data_dir: Path) -> Path:
    """The shared ONNX model fixtures (YuNet, MobileFaceNet); skips when they are absent."""
    root = data_dir / "models"
    for rel in ("yunet/face_detection_yunet_2023mar.onnx", "mobilefacenet/mobilefacenet.onnx"):
        if not (root / rel).is_file():
            pytest.skip(f"model fixture {rel} not present")
    return root


@pytest.fixture
def home_pack(models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The built-in yunet-mobilefacenet pack with the fixtures linked into a fresh home."""
    folder = tmp_path / "home" / "packs" / "yunet-mobilefacenet"
    folder.mkdir(parents=True)
    os.symlink(
        models / "yunet/face_detection_yunet_2023mar.onnx",
        folder / "face_detection_yunet_2023mar.onnx",
    )
    os.symlink(models / "mobilefacenet/mobilefacenet.onnx", folder / "mobilefacenet.onnx")
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))
    return "yunet-mobilefacenet"
