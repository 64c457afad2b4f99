"""LFW protocol files, layout detection and pair scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import EvaluationError
from faceprint.evaluate.extract import ExtractionSummary, ImageEmbeddings
from faceprint.evaluate.lfw import find_lfw, lfw_identities, read_pairs, score_protocol

VIEW2_LIKE = "2\t2\nA\t1\t2\nB\t1\t3\nA\t1\tB\t2\nC\t1\tA\t2\n" + (
    "D\t1\t2\nE\t1\t2\nD\t1\tE\t1\nF\t1\tD\t2\n"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


def test_view2_format_parses_folds_and_labels(tmp_path: Path) -> None:
    p = read_pairs(_write(tmp_path, VIEW2_LIKE))
    assert (p.folds, p.per_fold, len(p.pairs)) == (2, 2, 8)
    assert [x.same for x in p.pairs] == [True, True, False, False] * 2
    assert [x.fold for x in p.pairs] == [0] * 4 + [1] * 4
    assert p.pairs[0].a == "A/A_0001.jpg" and p.pairs[0].b == "A/A_0002.jpg"
    assert p.pairs[2].b == "B/B_0002.jpg"


def test_view1_format_has_one_set(tmp_path: Path) -> None:
    p = read_pairs(_write(tmp_path, "1\nA 1 2\nA 1 B 1\n"))
    assert (p.folds, p.per_fold) == (1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("ten 300\n", "header"),
        ("1\nA 1 2\n", "header says 1 set"),
        ("1\nA 1\nA 1 B 1\n", ":2: a matched pair needs"),
        ("1\nA 1 2\nA 1 B\n", ":3: a mismatched pair needs"),
        ("1\nA x 2\nA 1 B 1\n", "not an integer"),
        ("1\nA 0 2\nA 1 B 1\n", ">= 1"),
        ("1\nA 1 2\nA 1 A 2\n", "same person twice"),
        ("1\n../A 1 2\nA 1 B 1\n", "bad person name"),
    ],
)
def test_malformed_pairs_file_raises_evaluation_error(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        read_pairs(_write(tmp_path, text))


def test_missing_pairs_file_is_evaluation_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="cannot read"):
        read_pairs(tmp_path / "nope.txt")


def _fake_lfw(tmp_path: Path) -> Path:
    root = tmp_path / "lfw"
    for name, n in (("A", 2), ("B", 1)):
        (root / "images_deepfunneled" / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / "images_deepfunneled" / name / f"{name}_{i:04d}.jpg").write_bytes(b"x")
    (root / "pairs.txt").write_text("1\nA 1 2\nA 1 B 1\n")
    return root


def test_find_lfw_from_root_or_image_folder(tmp_path: Path) -> None:
    root = _fake_lfw(tmp_path)
    assert find_lfw(root).images == root / "images_deepfunneled"
    assert find_lfw(root / "images_deepfunneled").root == root
    with pytest.raises(EvaluationError, match="not an LFW folder"):
        find_lfw(tmp_path)
    files, labels = lfw_identities(root / "images_deepfunneled")
    assert files == ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"]
    assert labels.tolist() == [0, 0, 1]


def test_every_pair_is_scored_and_missing_faces_count_as_different(tmp_path: Path) -> None:
    root = _fake_lfw(tmp_path)
    images = root / "images_deepfunneled"
    proto = read_pairs(root / "pairs.txt")
    files = tuple(str(images / f) for f in proto.files)  # A1, A2, B1
    emb = np.array([[1, 0], [1, 0], [0, 0]], np.float32)  # B1 has no face
    summary = ExtractionSummary(3, 2, 0, 0, (), 1, 0)
    sources = ("detector", "detector", "")
    ie = ImageEmbeddings(
        files, emb, np.zeros((3, 4)), np.zeros((3, 5, 2)), sources, np.zeros(3, np.int32), summary
    )
    r = score_protocol(proto, ie, images, fars=(0.5,), threshold=0.5)
    assert r.scores.tolist() == [1.0, -1.0]
    assert r.no_face_pairs == 1
    assert r.fixed_accuracy == 1.0
    assert r.kfold is None  # one set: no k-fold


@pytest.mark.data
@pytest.mark.slow
def test_twenty_view1_pairs_real(data_dir: Path, tmp_path: Path) -> None:
    """20 View 1 pairs through the CLI: every pair scored, well above chance."""
    from typer.testing import CliRunner

    from faceprint.cli import app

    lfw = data_dir / "lfw"
    lines = (lfw / "pairsDevTest.txt").read_text().splitlines()
    small = tmp_path / "pairs20.txt"
    small.write_text("\n".join(["10", *lines[1:11], *lines[501:511]]) + "\n")
    args = ["evaluate", "lfw", "--data", str(lfw), "--pairs", str(small), "--workers", "1"]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    import json

    report = json.loads(first.stdout)
    assert report["test"]["pairs"] == 20
    assert report["test"]["extraction"]["no_face"] == 0
    assert report["test"]["auc"] > 0.95
    second = runner.invoke(app, [*args, "--threshold", "0.9"])
    assert second.exit_code == 0 and "accuracy at fixed threshold 0.9000" in second.output
