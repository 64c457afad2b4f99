"""SCRFD, RetinaFace and YuNet from ONNX files: decoding, geometry and real-photo behaviour.

The real-model tests use the fixtures in ``$FACEPRINT_DATA/models`` and skip when absent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from _tiny_onnx import multi_output, recognizer
from faceprint import load_image
from faceprint.detect._onnx_common import letterbox, nms_faces, resolve_input_size
from faceprint.detect.base import Detector
from faceprint.detect.retinaface import RetinaFaceDetector, priors
from faceprint.detect.scrfd import ScrfdDetector, anchor_centres, distance2bbox, distance2kps
from faceprint.detect.yunet import YuNetDetector
from faceprint.errors import ModelError

MODELS = {
    "scrfd-500m": (ScrfdDetector, "scrfd/scrfd_500m_bnkps.onnx"),
    "scrfd-2.5g": (ScrfdDetector, "scrfd/scrfd_2.5g_bnkps.onnx"),
    "retinaface": (RetinaFaceDetector, "retinaface/retinaface_mbnet0.25.onnx"),
    "yunet-2023mar": (YuNetDetector, "yunet/face_detection_yunet_2023mar.onnx"),
    "yunet-n-dynamic": (YuNetDetector, "yunet/yunet_n_dynamic.onnx"),
}
NEGATIVES = ["chelsea.png", "coffee.png", "horse.png", "text.png"]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


# --- decoding and geometry, no model files -------------------------------------------------


def test_distance_decoding() -> None:
    centres = np.array([[16.0, 8.0]], np.float32)
    box = distance2bbox(centres, np.array([[2.0, 3.0, 4.0, 5.0]], np.float32))
    np.testing.assert_allclose(box, [[14, 5, 20, 13]])
    kps = distance2kps(centres, np.arange(10, dtype=np.float32)[None])
    np.testing.assert_allclose(kps[0, 0], [16, 9])
    np.testing.assert_allclose(kps[0, 4], [24, 17])


def test_anchor_centres_are_row_major_with_adjacent_anchors() -> None:
    c = anchor_centres(2, 3, 8, 2)
    assert c.shape == (12, 2)
    np.testing.assert_array_equal(c[:4], [[0, 0], [0, 0], [8, 0], [8, 0]])
    np.testing.assert_array_equal(c[6], [0, 8])


def test_retinaface_priors_count_and_first_cells() -> None:
    p = priors(661, 1126)
    # ceil(661/s) * ceil(1126/s) cells, two priors each, for s = 8, 16, 32
    assert len(p) == 2 * (83 * 141 + 42 * 71 + 21 * 36)
    np.testing.assert_allclose(p[:2], [[4, 4, 16, 16], [4, 4, 32, 32]])


@pytest.mark.parametrize(
    ("shape", "size", "upscale", "fill", "scale", "canvas"),
    [
        ((480, 640), (640, 640), False, True, (1.0, 1.0), (640, 640)),
        ((480, 640), (640, 640), False, False, (1.0, 1.0), (480, 640)),
        ((960, 1280), (640, 640), False, True, (0.5, 0.5), (640, 640)),
        ((300, 200), (640, 640), True, True, (427 / 200, 640 / 300), (640, 640)),
        ((300, 200), (640, 640), False, True, (1.0, 1.0), (640, 640)),
        ((300, 200), (640, 640), False, False, (1.0, 1.0), (320, 224)),
        ((100, 70), None, False, False, (1.0, 1.0), (128, 96)),
    ],
)
def test_letterbox(shape, size, upscale, fill, scale, canvas) -> None:
    image = np.full((*shape, 3), 200, np.uint8)
    lb = letterbox(image, size, upscale=upscale, fill=fill)
    assert lb.canvas.shape == (*canvas, 3)
    np.testing.assert_allclose(lb.scale, scale)
    inside_h, inside_w = round(shape[0] * scale[1]), round(shape[1] * scale[0])
    assert (lb.canvas[:inside_h, :inside_w] == 200).all()
    assert lb.canvas[inside_h:].sum() == 0 and lb.canvas[:, inside_w:].sum() == 0


def test_nms_keeps_the_best_and_maps_back() -> None:
    boxes = np.array([[10, 10, 50, 50], [12, 12, 52, 52], [100, 100, 140, 140]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    lms = np.zeros((3, 5, 2), np.float32) + 20
    faces = nms_faces(boxes, scores, lms, iou_threshold=0.4, scale=(2.0, 0.5))
    np.testing.assert_allclose(faces.scores, [0.9, 0.7])
    np.testing.assert_allclose(faces.boxes[0], [6, 24, 26, 104])
    np.testing.assert_allclose(faces.landmarks[0, 0], [10, 40])
    assert len(nms_faces(boxes, scores, lms, iou_threshold=0.4, scale=(1, 1), max_faces=1)) == 1


@pytest.mark.parametrize(
    ("requested", "graph", "expected"),
    [
        ((640, 640), (None, None), (640, 640)),
        (None, (None, None), None),
        (None, (640, 640), (640, 640)),
        ((320, 320), (640, 640), ValueError),
        ((650, 640), (None, None), ValueError),
    ],
)
def test_resolve_input_size(requested, graph, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="input"):
            resolve_input_size(requested, graph, stride=32, model="m.onnx")
    else:
        assert resolve_input_size(requested, graph, stride=32, model="m.onnx") == expected


# --- errors from wrong files -----------------------------------------------------------------


@pytest.mark.parametrize("cls", [ScrfdDetector, RetinaFaceDetector, YuNetDetector])
def test_corrupt_file_is_a_model_error_naming_it(tmp_path: Path, cls: type[Detector]) -> None:
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(b"\x08\x07not a model")
    with pytest.raises(ModelError, match=r"truncated\.onnx"):
        cls(str(bad))  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", [ScrfdDetector, RetinaFaceDetector, YuNetDetector])
def test_a_recognizer_is_not_a_detector(tmp_path: Path, cls: type[Detector]) -> None:
    path = recognizer(tmp_path / "w600k.onnx", dim=512)
    with pytest.raises(ModelError, match="does not look like"):
        cls(str(path))  # type: ignore[call-arg]


def test_scrfd_without_keypoints_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="without keypoints"):
        ScrfdDetector(str(multi_output(tmp_path / "scrfd_500m.onnx", 6)))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        YuNetDetector(str(tmp_path / "nope.onnx"))


# --- real models ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(MODELS))
def detector(request: pytest.FixtureRequest, data_dir: Path) -> Detector:
    cls, rel = MODELS[request.param]
    path = data_dir / "models" / rel
    if not path.is_file():
        pytest.skip(f"model fixture {path} not present")
    return cls(str(path), threads=1)  # type: ignore[call-arg]


@pytest.mark.data
def test_one_face_with_landmarks_in_faceprint_order(detector: Detector, photos: Path) -> None:
    faces = detector.detect(load_image(photos / "obama.jpg"))
    assert len(faces) == 1
    le, re_, nose, ml, mr = faces.landmarks[0]
    assert le[0] < re_[0] and ml[0] < mr[0], faces.landmarks[0]
    assert max(le[1], re_[1]) < nose[1] < min(ml[1], mr[1]), faces.landmarks[0]
    x1, y1, x2, y2 = faces.boxes[0]
    assert x1 < le[0] and re_[0] < x2 and y1 < le[1] and mr[1] < y2


@pytest.mark.data
def test_two_people(detector: Detector, photos: Path) -> None:
    faces = detector.detect(load_image(photos / "two_people.jpg"))
    assert len(faces) == 2
    assert np.all(np.diff(faces.scores) <= 0)  # best first


@pytest.mark.data
@pytest.mark.parametrize("name", NEGATIVES)
def test_no_face_in_negatives(detector: Detector, data_dir: Path, name: str) -> None:
    assert len(detector.detect(load_image(data_dir / "negatives" / name))) == 0


@pytest.mark.data
@pytest.mark.parametrize(
    ("xml", "file"), [("training.xml", "2008_001009.jpg"), ("testing.xml", "2008_002470.jpg")]
)
def test_boxes_match_dlib_annotations_on_non_square_images(
    detector: Detector, data_dir: Path, xml: str, file: str
) -> None:
    folder = data_dir / "photos" / "dlib_faces"
    node = next(i for i in ET.parse(folder / xml).getroot().iter("image") if i.get("file") == file)
    xywh = np.array(
        [[float(b.get(k, 0)) for k in ("left", "top", "width", "height")] for b in node.iter("box")]
    )
    truth = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
    image = load_image(folder / file)
    assert image.shape[0] != image.shape[1]
    faces = detector.detect(image)
    assert _iou(truth, faces.boxes).max(axis=1).min() > 0.5


@pytest.mark.data
def test_boxes_follow_the_face_when_the_image_is_padded(detector: Detector, photos: Path) -> None:
    image = load_image(photos / "obama-480p.jpg")
    h, w = image.shape[:2]
    padded = np.zeros((h + 200, w + 300, 3), np.uint8)
    padded[150 : 150 + h, 40 : 40 + w] = image
    a, b = detector.detect(image), detector.detect(padded)
    assert len(a) == len(b) == 1
    shift = np.array([40, 150, 40, 150], np.float32)
    size = a.boxes[0, 2] - a.boxes[0, 0]
    np.testing.assert_allclose(b.boxes[0] - shift, a.boxes[0], atol=0.08 * size)


@pytest.mark.data
def test_yunet_matches_opencv_face_detector_yn(data_dir: Path, photos: Path) -> None:
    path = data_dir / "models" / "yunet" / "yunet_n_dynamic.onnx"
    if not path.is_file():
        pytest.skip("YuNet fixture not present")
    ours = YuNetDetector(str(path), input_size=None, score_threshold=0.9, threads=1)
    image = load_image(photos / "two_people.jpg")
    lb = letterbox(image, None)
    ref = cv2.FaceDetectorYN.create(str(path), "", (lb.canvas.shape[1], lb.canvas.shape[0]))
    _, rows = ref.detect(np.ascontiguousarray(lb.canvas[:, :, ::-1]))
    rows = rows[np.argsort(-rows[:, -1])]
    faces = ours.detect(image)
    xywh = np.c_[faces.boxes[:, :2], faces.boxes[:, 2:] - faces.boxes[:, :2]]
    mine = np.c_[xywh, faces.landmarks.reshape(-1, 10), faces.scores]
    np.testing.assert_allclose(mine, rows, atol=0.05)


@pytest.mark.data
def test_fixed_input_yunet_rejects_another_size(data_dir: Path) -> None:
    path = data_dir / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    if not path.is_file():
        pytest.skip("YuNet fixture not present")
    with pytest.raises(ValueError, match="fixed 640x640"):
        YuNetDetector(str(path), input_size=(320, 320))


@pytest.mark.data
@pytest.mark.parametrize("cls_name", ["scrfd-500m", "retinaface", "yunet-n-dynamic"])
def test_native_resolution_finds_the_same_faces(
    data_dir: Path, photos: Path, cls_name: str
) -> None:
    cls, rel = MODELS[cls_name]
    path = data_dir / "models" / rel
    if not path.is_file():
        pytest.skip(f"{path} not present")
    image = load_image(photos / "two_people.jpg")
    native = cls(str(path), input_size=None, threads=1).detect(image)  # type: ignore[call-arg]
    boxed = cls(str(path), threads=1).detect(image)  # type: ignore[call-arg]
    assert len(native) == len(boxed) == 2
    assert _iou(native.boxes, boxed.boxes).max(axis=1).min() > 0.8


@pytest.mark.data
def test_close_up_is_found_without_upscaling(data_dir: Path) -> None:
    """A 250×250 LFW crop: enlarged to 640×640 its face outgrows SCRFD-500M's anchors."""
    path = data_dir / "models" / "scrfd" / "scrfd_500m_bnkps.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    image = load_image(data_dir / "lfw/images_deepfunneled/Morgan_Freeman/Morgan_Freeman_0002.jpg")
    assert len(ScrfdDetector(str(path), threads=1).detect(image)) == 1
    assert len(ScrfdDetector(str(path), upscale=True, threads=1).detect(image)) == 0
