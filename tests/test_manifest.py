"""Packs from files: TOML manifests, insightface-style folders, $FACEPRINT_HOME/packs, the CLI."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _tiny_onnx import landmark_model, multi_output, recognizer
from faceprint import FaceAnalyzer, get_pack, list_packs
from faceprint.cli import app
from faceprint.errors import ModelError
from faceprint.packs import sha256_file
from faceprint.packs.manifest import (
    UNCALIBRATED_THRESHOLDS,
    file_status,
    load_folder,
    load_manifest,
    load_pack_path,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated stand-ins: an SCRFD-like detector (9 outputs), a 512-d recognizer, and the two
    attribute models of a buffalo_l folder."""
    d = tmp_path_factory.mktemp("onnx")
    return {
        "det": multi_output(d / "det_10g.onnx", 9),
        "rec": recognizer(d / "w600k_r50.onnx", dim=512),
        "landmarks": landmark_model(d / "2d106det.onnx"),
        "genderage": landmark_model(d / "genderage.onnx", 96, 3),
    }


def _manifest(folder: Path, files: dict[str, Path], body: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("det", "rec"):
        shutil.copy(files[key], folder / files[key].name)
    text = (
        body
        if body is not None
        else f"""
description = "generated test pack"
licence = "test only"
threshold = 0.42
threshold_source = "made up for a test"

[detector]
file = "det_10g.onnx"
sha256 = "{sha256_file(files["det"])}"
options = {{ score_threshold = 0.6 }}

[recognizer]
file = "w600k_r50.onnx"
sha256 = "{sha256_file(files["rec"])}"
embedding_size = 512
input_mean = 127.5
input_std = 127.5
"""
    )
    path = folder / "pack.toml"
    path.write_text(text)
    return path


def test_good_manifest(tmp_path: Path, onnx_files: dict[str, Path]) -> None:
    path = _manifest(tmp_path / "p", onnx_files)
    pack = load_manifest(path)
    assert (pack.name, pack.detector, pack.embedder, pack.dim) == (
        str(path.resolve()),
        "scrfd",
        "arcface-onnx",
        512,
    )
    assert (pack.threshold, pack.licence, pack.metric) == (0.42, "test only", "cosine")
    assert pack.files["embedder"] == tmp_path / "p" / "w600k_r50.onnx"
    assert pack.detector_options == {"score_threshold": 0.6}
    assert pack.embedder_options == {"color": "rgb", "input_mean": 127.5, "input_std": 127.5}
    # the path works wherever a pack name does, and the models load
    for spec in (str(path), str(tmp_path / "p")):
        fa = FaceAnalyzer(spec)
        assert fa.pack.name == str(Path(spec).resolve()) and fa.embedder.dim == 512
        assert get_pack(fa.pack.name).files == pack.files  # the name finds the pack again
        assert fa.detector.score_threshold == 0.6  # type: ignore[attr-defined]


def test_missing_file_is_named(tmp_path: Path, onnx_files: dict[str, Path]) -> None:
    path = _manifest(tmp_path / "p", onnx_files)
    (tmp_path / "p" / "w600k_r50.onnx").unlink()
    with pytest.raises(ModelError, match=r"embedder file not found: .*w600k_r50\.onnx"):
        load_manifest(path)
    with pytest.raises(ModelError, match=r"w600k_r50\.onnx"):
        FaceAnalyzer(str(path))


def test_wrong_sha256_is_named(tmp_path: Path, onnx_files: dict[str, Path]) -> None:
    path = _manifest(tmp_path / "p", onnx_files)
    multi_output(tmp_path / "p" / "det_10g.onnx", 15)  # another SCRFD: same role, other bytes
    with pytest.raises(ModelError, match=r"det_10g\.onnx does not match its sha256"):
        load_manifest(path)
    pack = load_pack_path(path)  # parsing alone does not hash
    assert file_status(pack, checksums=True) == {"detector": "sha256 mismatch", "embedder": "ok"}
    with pytest.raises(ModelError, match=r"det_10g\.onnx has sha256"):
        FaceAnalyzer(pack)


BASE = 'licence = "x"\n[detector]\nfile = "det_10g.onnx"\n[recognizer]\nfile = "w600k_r50.onnx"\n'


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (BASE + "[segmenter]\nfile = 'seg.onnx'\n", "unknown role .*'segmenter'"),
        (BASE.replace('licence = "x"\n', ""), "'licence' is required"),
        ("colour = 1\n" + BASE, "unknown key 'colour'"),
        (BASE + "embedding_sise = 512\n", "unknown key 'embedding_sise'"),
        ('metric = "euclidean"\n' + BASE, "metric must be 'cosine'"),
        ("threshold = 1.5\n" + BASE, r"lies in \[-1, 1\]"),
        ('threshold = "high"\n' + BASE, "'threshold' must be int or float"),
        ('licence = "x"\n[recognizer]\nfile = "w600k_r50.onnx"\n', r"a \[detector\] table"),
        (BASE + "input_mean = 127.5\n", "both input_mean and input_std"),
        (BASE + 'color = "hsv"\n', "color must be"),
        (
            BASE.replace("[detector]\n", '[detector]\nbackend = "mtcnn"\n'),
            "unknown detector backend",
        ),
        ("licence = \n", "not valid TOML"),
    ],
)
def test_bad_manifests(tmp_path: Path, onnx_files: dict[str, Path], body: str, error: str) -> None:
    path = _manifest(tmp_path / "p", onnx_files, body)
    with pytest.raises(ModelError, match=error):
        load_manifest(path, verify=False)


def test_minimal_manifest_reads_the_graphs(tmp_path: Path, onnx_files: dict[str, Path]) -> None:
    pack = load_manifest(_manifest(tmp_path / "p", onnx_files, BASE))
    assert (pack.detector, pack.dim, pack.description) == (
        "scrfd",
        512,
        f"pack from {tmp_path / 'p' / 'pack.toml'}",
    )
    assert pack.threshold == UNCALIBRATED_THRESHOLDS[512]
    assert pack.threshold_source.startswith("UNCALIBRATED")
    assert pack.embedder_options == {"color": "rgb"}  # normalisation from the graph at load


def test_insightface_folder(
    tmp_path: Path, onnx_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "models" / "buffalo_l"
    folder.mkdir(parents=True)
    for f in onnx_files.values():
        shutil.copy(f, folder / f.name)
    with caplog.at_level(logging.INFO, logger="faceprint.packs.manifest"):
        pack = get_pack(str(folder))
    assert (pack.name, pack.detector, pack.embedder, pack.dim) == (
        str(folder.resolve()),
        "scrfd",
        "arcface-onnx",
        512,
    )
    assert pack.files == {
        "detector": folder / "det_10g.onnx",
        "embedder": folder / "w600k_r50.onnx",
    }
    assert pack.sha256["embedder"] == sha256_file(onnx_files["rec"])
    assert "UNCALIBRATED" in pack.threshold_source and "non-commercial" in pack.licence
    skipped = " ".join(r.getMessage() for r in caplog.records if "skipping" in r.getMessage())
    assert "2d106det.onnx" in skipped and "genderage.onnx" in skipped
    assert FaceAnalyzer(pack).embedder.dim == 512


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (["rec", "landmarks"], "no detector .onnx file"),
        (["det", "rec", "rec2"], r"several recognizers .*w600k_r50\.onnx"),
    ],
)
def test_ambiguous_or_incomplete_folders(
    tmp_path: Path, onnx_files: dict[str, Path], files: list[str], error: str
) -> None:
    for key in files:
        src = onnx_files["rec"] if key == "rec2" else onnx_files[key]
        shutil.copy(src, tmp_path / ("glintr100.onnx" if key == "rec2" else src.name))
    with pytest.raises(ModelError, match=error):
        load_folder(tmp_path)


def test_home_packs_are_listed_and_found(
    tmp_path: Path, onnx_files: dict[str, Path], monkeypatch
) -> None:
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path))
    _manifest(tmp_path / "packs" / "mine", onnx_files)
    plain = tmp_path / "packs" / "loose"
    plain.mkdir()
    for key in ("det", "rec"):
        shutil.copy(onnx_files[key], plain / onnx_files[key].name)
    (tmp_path / "packs" / "empty").mkdir()
    names = list_packs()
    assert {"mine", "loose", "dlib", "yunet-mobilefacenet"} <= set(names) and "empty" not in names
    assert get_pack("mine").name == "mine"  # named by its folder
    assert get_pack("loose").threshold_source.startswith("UNCALIBRATED")
    with pytest.raises(ModelError, match=r"known packs: .*loose.*mine"):
        get_pack("nothere")


def test_models_list_marks_missing_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path))
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.output)}
    yunet = entries["yunet-mobilefacenet"]
    assert yunet["file_status"] == {"detector": "missing", "embedder": "missing"}
    assert yunet["sha256"]["embedder"].startswith("f055d9c9")
    assert yunet["licence"] and yunet["threshold"] == get_pack("yunet-mobilefacenet").threshold
    plain = runner.invoke(app, ["models", "list"])
    assert plain.exit_code == 0 and "[missing]" in plain.output and "licence:" in plain.output
    shown = runner.invoke(app, ["models", "show", "yunet-mobilefacenet"])
    assert shown.exit_code == 1 and "[missing]" in shown.output


def test_models_show_path_and_broken_pack(
    tmp_path: Path, onnx_files: dict[str, Path], monkeypatch
) -> None:
    path = _manifest(tmp_path / "p", onnx_files)
    result = runner.invoke(app, ["models", "show", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["file_status"] == {"detector": "ok", "embedder": "ok"} and info["dim"] == 512
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))
    _manifest(tmp_path / "home" / "packs" / "broken", onnx_files, "licence = 3\n")
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "broken  BROKEN:" in listed.output
    missing = runner.invoke(app, ["models", "show", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "unknown model pack" in missing.output


@pytest.mark.data
def test_cli_pack_path_on_detect_embed_verify(tmp_path: Path, data_dir: Path, photos: Path) -> None:
    models = data_dir / "models"
    det, rec = (
        models / "yunet" / "yunet_n_dynamic.onnx",
        models / "mobilefacenet" / "mobilefacenet.onnx",
    )
    if not (det.is_file() and rec.is_file()):
        pytest.skip("model fixtures not present")
    folder = tmp_path / "pack"
    folder.mkdir()
    os.symlink(det, folder / det.name)
    os.symlink(rec, folder / rec.name)
    (folder / "pack.toml").write_text(
        f'licence = "fixtures"\nthreshold = 0.4\n[detector]\nfile = "{det.name}"\n'
        f'[recognizer]\nfile = "{rec.name}"\ninput_mean = 127.5\ninput_std = 128.0\n'
        f'sha256 = "{sha256_file(rec)}"\n'
    )
    detect = runner.invoke(
        app, ["detect", "--pack", str(folder), "--json", str(photos / "two_people.jpg")]
    )
    assert detect.exit_code == 0, detect.output
    assert len(json.loads(detect.output)[0]["faces"]) == 2
    out = tmp_path / "e.npz"
    embed = runner.invoke(
        app, ["embed", "--pack", str(folder), "--out", str(out), str(photos / "obama.jpg")]
    )
    assert embed.exit_code == 0, embed.output
    assert np.load(out)["embeddings"].shape == (1, 128)
    same = runner.invoke(
        app,
        ["verify", "--pack", str(folder), str(photos / "obama.jpg"), str(photos / "obama2.jpg")],
    )
    assert same.exit_code == 0 and "licence: fixtures" in same.output, same.output
    other = runner.invoke(
        app, ["verify", "--pack", str(folder), str(photos / "obama.jpg"), str(photos / "biden.jpg")]
    )
    assert other.exit_code == 1 and "different people" in other.output
