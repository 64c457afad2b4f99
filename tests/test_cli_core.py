"""`faceprint detect / embed / verify` through Typer's runner (and one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.packs import DEFAULT_PACK

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
            assert data["boxes"].shape == (3, 4) and str(data["pack"]) == DEFAULT_PACK


# --- defects found by a new user's probe (issue 12: 3, 5, 7, 10, 12) --------------------------


@pytest.mark.data
class TestCommandDefects:
    def test_draw_to_a_path_that_is_not_utf8(self, photos: Path, tmp_path: Path) -> None:
        target = os.fsencode(tmp_path) + b"/out\xff.png"
        proc = subprocess.run(
            [sys.executable, "-m", "faceprint", "detect", str(photos / "obama.jpg"), "--draw",
             target, "--workers", "0"],
            capture_output=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert os.path.getsize(target) > 1000

    @pytest.mark.parametrize("name", ["drawing", "drawing.xyz"])
    def test_draw_without_a_known_extension_is_refused_before_work(
        self, photos: Path, tmp_path: Path, name: str
    ) -> None:
        result = runner.invoke(
            app, ["detect", str(photos / "obama.jpg"), "--draw", str(tmp_path / name)]
        )
        assert result.exit_code == 2
        assert "image format" in result.output and "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []

    def test_draw_folder_that_is_a_file_and_repeated_stems(
        self, photos: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        existing = tmp_path / "taken.png"
        existing.write_bytes(b"x")
        images = [str(photos / "obama.jpg"), str(data_dir / "photos" / "face_recognition"
                  / "test_images" / "obama.jpg")]  # fmt: skip
        result = runner.invoke(app, ["detect", *images, "--draw", str(existing)])
        assert result.exit_code == 2 and "must be a folder" in result.output
        assert existing.read_bytes() == b"x"
        folder = tmp_path / "drawn"
        result = runner.invoke(app, ["detect", *images, "--draw", str(folder), "--workers", "0"])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in folder.iterdir()) == ["obama-2.png", "obama.png"]

    def test_upsample_is_bounded(self, photos: Path) -> None:
        result = runner.invoke(app, ["detect", str(photos / "obama.jpg"), "--upsample", "20"])
        assert result.exit_code == 2 and "upsample" in result.output

    @pytest.mark.parametrize("value", ["-5", "nan", "inf", "1.5"])
    def test_threshold_is_range_checked(self, photos: Path, value: str) -> None:
        result = runner.invoke(
            app,
            ["verify", str(photos / "obama.jpg"), str(photos / "biden.jpg"),
             f"--threshold={value}", "--json"],
        )  # fmt: skip
        assert result.exit_code == 2
        assert "same" not in result.output and "NaN" not in result.output

    def test_verify_json_reports_errors_as_json(self, photos: Path, tmp_path: Path) -> None:
        fake = tmp_path / "fake.jpg"
        fake.write_text("text")
        proc = subprocess.run(
            [sys.executable, "-m", "faceprint", "verify", str(fake), str(photos / "obama.jpg"),
             "--json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 2
        assert "fake.jpg" in json.loads(proc.stdout)["error"]["message"]

    def test_embed_out_is_written_exactly_there(self, photos: Path, tmp_path: Path) -> None:
        out = tmp_path / "vectors"
        result = runner.invoke(
            app, ["embed", str(photos / "obama.jpg"), "--out", str(out), "--workers", "0"]
        )
        assert result.exit_code == 0, result.output
        assert out.is_file() and not (tmp_path / "vectors.npz").exists()
        with np.load(out) as data:
            assert data["embeddings"].shape == (1, 128) and str(data["augment"]) == "none"

    def test_embed_out_in_a_missing_folder_is_one_line(self, photos: Path, tmp_path: Path) -> None:
        out = tmp_path / "missing" / "e.npz"
        result = runner.invoke(app, ["embed", str(photos / "obama.jpg"), "--out", str(out)])
        assert result.exit_code == 2
        assert "does not exist" in result.output and "Errno" not in result.output

    def test_embed_writes_nothing_when_every_input_fails(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.jpg"
        bad.write_text("nope")
        out = tmp_path / "e.npz"
        result = runner.invoke(app, ["embed", str(bad), "--out", str(out), "--workers", "0"])
        assert result.exit_code == 2
        assert "nothing written" in result.output and not out.exists()
