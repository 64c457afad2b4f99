"""`faceprint detect / embed / verify` through Typer's runner (and one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("detect", "embed", "verify"):
        assert command in result.output


def test_unknown_pack_is_one_line_error(tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    img.write_bytes(b"")
    result = runner.invoke(app, ["detect", "--pack", "nope", str(img)])
    assert result.exit_code == 2
    assert "unknown model pack 'nope'" in result.output
    assert "Traceback" not in result.output


def test_bad_face_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "a.jpg", "b.jpg", "--face", "biggest"])
    assert result.exit_code == 2 and "--face" in result.output


@pytest.mark.data
class TestReal:
    def test_verify_exit_codes(self, photos: Path, tmp_path: Path) -> None:
        same = runner.invoke(app, ["verify", str(photos / "obama.jpg"), str(photos / "obama2.jpg")])
        assert same.exit_code == 0, same.output
        assert "same person" in same.output
        diff = runner.invoke(
            app, ["verify", str(photos / "obama.jpg"), str(photos / "biden.jpg"), "--json"]
        )
        assert diff.exit_code == 1, diff.output
        data = json.loads(diff.output)
        assert data["same"] is False and data["threshold"] > 0 and data["licence"]
        forced = runner.invoke(
            app,
            ["verify", str(photos / "obama.jpg"), str(photos / "biden.jpg"), "--threshold", "0.1"],
        )
        assert forced.exit_code == 0

    def test_verify_text_file_as_jpg_is_exit_2_one_line(self, photos: Path, tmp_path: Path) -> None:
        fake = tmp_path / "notes.jpg"
        fake.write_text("not an image")
        proc = subprocess.run(
            [sys.executable, "-m", "faceprint", "verify", str(fake), str(photos / "obama.jpg")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "notes.jpg" in lines[0], proc.stderr

    def test_detect_json_with_landmarks_and_draw(self, data_dir: Path, tmp_path: Path) -> None:
        img = data_dir / "photos" / "dlib_faces" / "bald_guys.jpg"
        out_png = tmp_path / "drawn.png"
        result = runner.invoke(app, ["detect", "--json", "--draw", str(out_png), str(img)])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        faces = data[0]["faces"]
        assert len(faces) >= 20
        assert all(len(f["landmarks"]) == 5 and len(f["box"]) == 4 for f in faces)
        assert out_png.stat().st_size > 10_000

    def test_batch_with_bad_file_continues(self, photos: Path, tmp_path: Path) -> None:
        bad = tmp_path / "broken.jpg"
        bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
        out = tmp_path / "e.npz"
        files = [str(photos / "obama.jpg"), str(bad), str(photos / "two_people.jpg")]
        result = runner.invoke(app, ["embed", *files, "--out", str(out), "--quiet"])
        assert result.exit_code == 2
        assert "broken.jpg" in result.output
        with np.load(out) as data:
            assert data["embeddings"].shape == (3, 128)
            assert list(data["files"]) == [files[0], files[2], files[2]]
            assert data["boxes"].shape == (3, 4) and str(data["pack"]) == "dlib"
