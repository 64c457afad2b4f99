"""`faceprint evaluate lfw` and `faceprint calibrate` argument handling and errors (no models)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from faceprint.cli import app

runner = CliRunner()


def test_commands_are_registered() -> None:
    assert "evaluate" in runner.invoke(app, ["--help"]).output
    assert "calibrate" in runner.invoke(app, ["--help"]).output
    result = runner.invoke(app, ["evaluate", "lfw", "--help"])
    assert result.exit_code == 0 and "--all-pairs" in result.output


def test_malformed_pairs_file_is_one_line_error(tmp_path: Path) -> None:
    root = tmp_path / "lfw"
    (root / "images_deepfunneled" / "A").mkdir(parents=True)
    (root / "pairs.txt").write_text("10 300\nA 1 2\n")
    result = runner.invoke(app, ["evaluate", "lfw", "--data", str(root)])
    assert result.exit_code == 2
    assert "header says 10 set(s)" in result.output
    assert "Traceback" not in result.output


def test_missing_images_are_named(tmp_path: Path) -> None:
    root = tmp_path / "lfw"
    (root / "images_deepfunneled" / "A").mkdir(parents=True)
    (root / "pairs.txt").write_text("1\nA 1 2\nA 1 B 1\n")
    result = runner.invoke(app, ["evaluate", "lfw", "--data", str(root)])
    assert result.exit_code == 2 and "A/A_0001.jpg" in result.output


def test_unknown_fallback_is_rejected(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "lfw", "--data", str(tmp_path), "--fallback", "x"])
    assert result.exit_code == 2 and "unknown fallback 'x'" in result.output


def test_calibrate_save_needs_gallery(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", "--folders", str(tmp_path), "--save"])
    assert result.exit_code == 2 and "--save needs --gallery" in result.output


def test_calibrate_needs_two_people(tmp_path: Path) -> None:
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "a.jpg").write_bytes(b"x")
    result = runner.invoke(app, ["calibrate", "--folders", str(tmp_path)])
    assert result.exit_code == 2 and "at least two people" in result.output
