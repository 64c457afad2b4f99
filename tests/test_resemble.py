"""Family resemblance: calibration against impostor scores, the margin, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.cluster.resemble import CAVEAT, MIN_REFERENCE, resemble, resemble_embeddings
from faceprint.errors import InvalidArgumentError


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A child, a 'hub' relative close to every face, a plain relative, 300 unrelated faces."""
    rng = np.random.default_rng(seed)
    dim = 64
    mean_face = rng.normal(size=dim) / 8

    def face(spread: float = 1.0, n: int | None = None) -> np.ndarray:
        shape = (dim,) if n is None else (n, dim)
        return _unit(mean_face + spread * rng.normal(size=shape) / 8)

    ref = face(n=300)
    hub = face(0.3)  # near the mean face: similar to everyone
    plain = face()
    child = _unit(0.35 * plain + face())
    return child, hub, plain, ref


def test_reference_calibration_corrects_a_hub_face() -> None:
    child, hub, plain, ref = _world()
    # raw similarity favours the hub (it is close to every face) ...
    assert float(child @ hub) > float(child @ plain)
    r = resemble_embeddings(child, {"hub": hub, "plain": plain}, reference=ref, pack="dlib")
    by = {s.name: s for s in r.relatives}
    # ... but against each one's own impostors the plain relative stands out
    assert r.relatives[0].name == "plain"
    assert by["plain"].z > by["hub"].z
    assert by["plain"].percentile > 95
    assert by["hub"].reference_faces > MIN_REFERENCE
    assert r.calibration == "reference"
    assert r.verdict == "plain" and r.decided


def test_undecided_below_the_margin() -> None:
    child, _, plain, ref = _world()
    twin = _unit(plain + 0.01 * np.random.default_rng(3).normal(size=plain.shape))
    r = resemble_embeddings(child, {"a": plain, "b": twin}, reference=ref, pack="dlib")
    assert r.verdict is None and not r.decided
    assert 0 <= r.lead < r.margin
    assert r.to_dict()["caveat"] == CAVEAT


def test_one_relative_must_beat_unrelated_faces() -> None:
    child, _, plain, ref = _world()
    assert resemble_embeddings(child, {"p": plain}, reference=ref, pack="dlib").decided
    # a child and a relative drawn like the reference faces: nothing to tell
    r = resemble_embeddings(ref[0], {"s": ref[1]}, reference=ref[2:], pack="dlib")
    assert r.relatives[0].z < 1.0 and not r.decided


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relatives": {}}, "at least one relative"),
        ({"margin": -1.0}, "margin"),
        ({"reference": np.ones((5, 3), np.float32)}, "reference must be"),
        ({"relatives": {"x": np.ones(64, np.float32)}}, "L2-normalised"),
        ({"pack": "yunet-mobilefacenet"}, "no impostor statistics"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    child, hub, _, _ = _world()
    args = {"child": child, "relatives": {"hub": hub}, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        resemble_embeddings(**args)


def test_too_few_reference_faces() -> None:
    child, hub, _, ref = _world()
    with pytest.raises(InvalidArgumentError, match="reference faces"):
        resemble_embeddings(child, {"hub": hub}, reference=ref[:5], pack="dlib")


# --- real photos ---------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_real_photos_pick_the_same_person(photos: Path) -> None:
    from faceprint.pipeline import FaceAnalyzer

    fa = FaceAnalyzer("dlib")
    r = resemble(
        fa, photos / "obama.jpg", {"obama2": photos / "obama2.jpg", "biden": photos / "biden.jpg"}
    )
    assert r.verdict == "obama2"
    assert r.relatives[0].z > 2 and r.relatives[1].z < 1
    assert r.calibration == "pack" and r.pack == "dlib"


@pytest.mark.data
@pytest.mark.slow
def test_cli_with_a_reference_folder(photos: Path, data_dir: Path, tmp_path: Path) -> None:
    # 40 LFW faces of 40 different people as the unrelated reference set
    people = sorted((data_dir / "lfw" / "images_deepfunneled").iterdir())[:40]
    ref = tmp_path / "ref"
    ref.mkdir()
    for p in people:
        first = sorted(p.glob("*.jpg"))[0]
        (ref / first.name).symlink_to(first)
    runner = CliRunner()
    args = ["resemble", str(photos / "obama.jpg"), "--to", str(photos / "obama2.jpg")]
    args += ["--to", str(photos / "biden.jpg"), "--reference", str(ref), "--workers", "0", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["verdict"] == "obama2" and out["calibration"] == "reference"
    assert out["relatives"][0]["reference_faces"] >= MIN_REFERENCE
    # a missing photo: one line, exit 2
    bad = runner.invoke(
        app, ["resemble", str(tmp_path / "nope.jpg"), "--to", str(photos / "biden.jpg")]
    )
    assert bad.exit_code == 2
    assert "nope.jpg" in bad.stderr
