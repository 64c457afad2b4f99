"""Threshold calibration on labelled folders: synthetic embeddings, fake pack, real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _evaluate_fakes import fake_pack, write_square
from faceprint.cli import app
from faceprint.errors import EvaluationError
from faceprint.evaluate.calibrate import calibrate_embeddings, calibrate_folders
from faceprint.evaluate.extract import ExtractionConfig, ExtractionSummary, ImageEmbeddings
from faceprint.packs import DEFAULT_PACK, registry

runner = CliRunner()


def _images(emb: np.ndarray) -> ImageEmbeddings:
    n = len(emb)
    return ImageEmbeddings(
        tuple(f"{i}.jpg" for i in range(n)),
        emb.astype(np.float32),
        np.zeros((n, 4), np.float32),
        np.zeros((n, 5, 2), np.float32),
        ("detector",) * n,
        np.ones(n, np.int32),
        ExtractionSummary(n, n, 0, 0, (), 0, 0),
    )


def test_threshold_meets_the_target_far_with_enough_pairs() -> None:
    rng = np.random.default_rng(0)
    people = 200
    centres = rng.normal(size=(people, 64))
    names = [f"p{k}" for k in range(people) for _ in range(3)]
    idx = np.repeat(np.arange(people), 3)
    e = centres[idx] + rng.normal(size=(len(idx), 64)) * 0.7
    e = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    r = calibrate_embeddings(_images(e), names, 1e-3)
    assert r.impostor_pairs == 600 * 599 // 2 - people * 3
    assert r.genuine_pairs == people * 3
    assert r.far <= 1e-3 and r.supported and r.warning == ""
    scores = e @ e.T
    iu = np.triu_indices(len(e), 1)
    impostor = scores[iu][idx[iu[0]] != idx[iu[1]]]
    # recounted with another BLAS call: equal up to a score rounded across the threshold
    assert abs((impostor >= r.threshold).sum() - r.far * r.impostor_pairs) <= 1


def test_too_few_impostor_pairs_are_flagged() -> None:
    e = np.eye(4)[[0, 0, 1, 1, 2]]
    r = calibrate_embeddings(_images(e), ["a", "a", "b", "b", "c"], 1e-4)
    assert (r.genuine_pairs, r.impostor_pairs) == (2, 8)
    assert not r.supported and r.impostor_pairs_needed == 100_000
    assert "only 8 impostor pairs" in r.warning
    assert r.frr == 0.0  # the threshold sits just above the highest impostor score (0)


def test_no_genuine_pair_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="no genuine pairs"):
        calibrate_embeddings(_images(np.eye(3)), ["a", "b", "c"], 1e-2)


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.DETECTOR_FACTORIES, "fake-squares", "_evaluate_fakes:create_detector"
    )
    monkeypatch.setitem(
        registry.EMBEDDER_FACTORIES, "fake-colour", "_evaluate_fakes:create_embedder"
    )
    monkeypatch.setitem(registry._REGISTRY, "fake", fake_pack)


def test_folders_with_fake_pack(fake: None, tmp_path: Path) -> None:
    colours = {"red": (230, 40, 40), "green": (40, 230, 40), "blue": (40, 40, 230)}
    for name, colour in colours.items():
        for k in range(3):
            write_square(tmp_path / name / f"{k}.png", colour, 50 + 5 * k)
    (tmp_path / "blue" / "empty.png").write_bytes(b"")
    r = calibrate_folders(tmp_path, 0.1, ExtractionConfig(pack="fake", face="largest", workers=1))
    assert (r.identities, r.images, r.images_used) == (3, 10, 9)
    assert r.skipped[0][0].endswith("empty.png")
    assert (r.genuine_pairs, r.impostor_pairs) == (9, 27)
    assert r.frr == 0.0 and r.far <= 0.1


def test_one_person_is_an_error(tmp_path: Path) -> None:
    write_square(tmp_path / "solo" / "a.png", (200, 0, 0), 50)
    with pytest.raises(EvaluationError, match="at least two people"):
        calibrate_folders(tmp_path, 1e-3)


@pytest.mark.data
@pytest.mark.slow
def test_calibrate_cli_on_knn_train_and_save(photos: Path, tmp_path: Path) -> None:
    from faceprint.gallery import Gallery

    train = photos / "knn_examples" / "train"
    gallery = tmp_path / "g"
    Gallery.create(gallery, DEFAULT_PACK).close()
    args = ["calibrate", "--folders", str(train), "--target-far", "1e-4", "--workers", "2"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["identities"], data["images_used"]) == (5, 9)
    assert (data["genuine_pairs"], data["impostor_pairs"]) == (4, 32)
    assert not data["supported"] and "impostor pairs" in data["warning"]
    assert data["frr"] in (0.0, 0.25, 0.5, 0.75, 1.0)  # four genuine pairs
    refused = runner.invoke(app, [*args, "--save", "--gallery", str(gallery)])
    assert refused.exit_code == 2 and "not saved" in refused.output
    saved = runner.invoke(app, [*args, "--save", "--gallery", str(gallery), "--force"])
    assert saved.exit_code == 0, saved.output
    with Gallery.open(gallery) as g:
        assert g.settings.threshold == pytest.approx(data["threshold"])
        assert "faceprint calibrate" in g.settings.threshold_source
