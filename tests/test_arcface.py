"""ArcFace-style ONNX recognizers: generated 512-d models (no data) and the MobileFaceNet fixture."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _tiny_onnx import landmark_model, multi_output, recognizer
from faceprint import FaceAnalyzer, get_pack
from faceprint.align import ARCFACE_112
from faceprint.embed.arcface_onnx import ArcFaceOnnxEmbedder, graph_normalisation
from faceprint.errors import ModelError
from faceprint.packs import PackSpec


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny512(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recognizer(tmp_path_factory.mktemp("rec") / "w600k_r50.onnx", dim=512)


def test_generated_512d_model(tiny512: Path, crops: np.ndarray) -> None:
    emb = ArcFaceOnnxEmbedder(str(tiny512), threads=1)
    assert emb.dim == 512 and emb.layout == "nchw" and emb.fixed_batch is None
    out = emb.embed(crops)
    assert out.shape == (5, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)
    assert np.abs(out[0] @ out[1]) < 0.999  # different inputs, different embeddings


def test_batch_size_does_not_change_results(tiny512: Path, crops: np.ndarray) -> None:
    big = ArcFaceOnnxEmbedder(str(tiny512), batch_size=32, threads=1).embed(crops)
    small = ArcFaceOnnxEmbedder(str(tiny512), batch_size=2, threads=1).embed(crops)
    np.testing.assert_allclose(small, big, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 4])
def test_fixed_batch_graph_is_fed_that_batch(
    tmp_path: Path, tiny512: Path, crops: np.ndarray, batch: int
) -> None:
    fixed = ArcFaceOnnxEmbedder(str(recognizer(tmp_path / "b.onnx", batch=batch)), threads=1)
    assert fixed.fixed_batch == batch and fixed.batch_size == batch
    ref = ArcFaceOnnxEmbedder(str(tiny512), threads=1).embed(crops)
    np.testing.assert_allclose(fixed.embed(crops), ref, atol=1e-5)


def test_nhwc_input_is_detected(tmp_path: Path, tiny512: Path, crops: np.ndarray) -> None:
    nhwc = ArcFaceOnnxEmbedder(str(recognizer(tmp_path / "nhwc.onnx", layout="nhwc")), threads=1)
    assert nhwc.layout == "nhwc"
    ref = ArcFaceOnnxEmbedder(str(tiny512), threads=1).embed(crops)
    np.testing.assert_allclose(nhwc.embed(crops), ref, atol=1e-5)


def test_undeclared_output_size_is_probed(tmp_path: Path) -> None:
    emb = ArcFaceOnnxEmbedder(str(recognizer(tmp_path / "d.onnx", dim=256, dynamic_dim=True)))
    assert emb.dim == 256


@pytest.mark.parametrize(
    ("inside", "declared", "expected"),
    [
        (False, None, (127.5, 127.5)),
        (True, None, (0.0, 1.0)),
        (True, (127.5, 128.0), (127.5, 128.0)),
    ],
)
def test_normalisation_rule(tmp_path: Path, inside: bool, declared, expected) -> None:
    path = recognizer(tmp_path / "n.onnx", normalise_inside=inside)
    if declared is None:
        assert graph_normalisation(path) == expected
        emb = ArcFaceOnnxEmbedder(str(path))
    else:
        emb = ArcFaceOnnxEmbedder(str(path), input_mean=declared[0], input_std=declared[1])
    assert (emb.mean, emb.std) == expected


def test_internal_normalisation_gives_the_same_embeddings(
    tmp_path: Path, tiny512: Path, crops: np.ndarray
) -> None:
    inside = ArcFaceOnnxEmbedder(str(recognizer(tmp_path / "in.onnx", normalise_inside=True)))
    outside = ArcFaceOnnxEmbedder(str(tiny512), input_mean=127.5, input_std=128.0)
    np.testing.assert_allclose(inside.embed(crops), outside.embed(crops), atol=1e-5)


def test_bgr_flips_channels(tiny512: Path, crops: np.ndarray) -> None:
    bgr = ArcFaceOnnxEmbedder(str(tiny512), color="bgr").embed(crops)
    rgb = ArcFaceOnnxEmbedder(str(tiny512)).embed(np.ascontiguousarray(crops[..., ::-1]))
    np.testing.assert_allclose(bgr, rgb, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"input_mean": 127.5}, "both"),
        ({"input_mean": 0.0, "input_std": 0.0}, "input_std"),
        ({"color": "hsv"}, "color"),
    ],
)
def test_bad_options(tiny512: Path, kwargs, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ArcFaceOnnxEmbedder(str(tiny512), **kwargs)


def test_wrong_graphs_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="one output"):
        ArcFaceOnnxEmbedder(str(multi_output(tmp_path / "det.onnx", 9)))
    with pytest.raises(ModelError, match="112x112x3"):
        ArcFaceOnnxEmbedder(str(landmark_model(tmp_path / "genderage.onnx", 96, 3)))


def _pack(detector: str, det_file: Path | str, rec_file: Path, dim: int, **emb: object) -> PackSpec:
    return PackSpec(
        name=f"test-{dim}",
        detector=detector,
        embedder="arcface-onnx",
        dim=dim,
        threshold=0.5,
        crop=ARCFACE_112,
        licence="test models",
        embedder_options=emb,
        files={"detector": Path(det_file), "embedder": rec_file},
    )


def test_unknown_backend_option_names_the_valid_ones(tiny512: Path) -> None:
    pack = _pack("yunet", "unused.onnx", tiny512, 512)
    with pytest.raises(ValueError, match="no option upsample; its options: input_mean"):
        pack.create_embedder(upsample=1)


# --- real photos ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yunet_512(models: Path, tiny512: Path) -> FaceAnalyzer:
    pack = _pack("yunet", models / "yunet/face_detection_yunet_2023mar.onnx", tiny512, 512)
    return FaceAnalyzer(pack, detector_options={"threads": 1}, embedder_options={"threads": 1})


@pytest.mark.data
def test_512d_pack_end_to_end(yunet_512: FaceAnalyzer, photos: Path) -> None:
    same = yunet_512.verify(photos / "obama.jpg", photos / "obama.jpg")
    assert same.same and same.similarity == pytest.approx(1.0, abs=1e-5)
    faces = yunet_512.analyze(photos / "two_people.jpg")
    assert faces.embeddings is not None and faces.embeddings.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(faces.embeddings, axis=1), 1, rtol=1e-5)
    other = yunet_512.verify(photos / "obama.jpg", photos / "biden.jpg")
    assert other.similarity < same.similarity


@pytest.mark.data
def test_mobilefacenet_pack_verifies_real_photos(home_pack: str, photos: Path) -> None:
    fa = FaceAnalyzer(home_pack, detector_options={"threads": 1}, embedder_options={"threads": 1})
    assert fa.embedder.dim == 128 and fa.embedder.batch_size == 1  # the file has a fixed batch
    assert (fa.embedder.mean, fa.embedder.std) == (127.5, 128.0)
    assert fa.verify(photos / "obama.jpg", photos / "obama2.jpg").same
    assert not fa.verify(photos / "obama.jpg", photos / "biden.jpg").same
    assert get_pack(home_pack).threshold == fa.threshold


@pytest.mark.data
def test_changed_file_is_refused_when_loading(
    home_pack: str, tmp_path: Path, tiny512: Path
) -> None:
    target = tmp_path / "home" / "packs" / home_pack / "mobilefacenet.onnx"
    target.unlink()
    target.write_bytes(tiny512.read_bytes())
    with pytest.raises(ModelError, match=r"mobilefacenet\.onnx has sha256"):
        FaceAnalyzer(home_pack)


@pytest.mark.data
def test_512d_gallery_identify_and_search(
    models: Path, tiny512: Path, photos: Path, tmp_path: Path
) -> None:
    from faceprint.gallery import Gallery

    folder = tmp_path / "pack"
    folder.mkdir()
    os.symlink(models / "yunet/face_detection_yunet_2023mar.onnx", folder / "yunet.onnx")
    os.symlink(tiny512, folder / "tiny512.onnx")
    (folder / "pack.toml").write_text(
        'licence = "test"\nthreshold = 0.9\n[detector]\nfile = "yunet.onnx"\n'
        '[recognizer]\nfile = "tiny512.onnx"\n'
    )
    fa = FaceAnalyzer(str(folder), detector_options={"threads": 1})
    with Gallery.create(tmp_path / "gallery", pack=str(folder)) as gallery:
        gallery.enroll("obama", [photos / "obama.jpg"], fa)
        gallery.enroll("biden", [photos / "biden.jpg"], fa)
        assert gallery.dim == 512 and gallery.threshold == 0.9  # found again by the pack's name
        who = gallery.identify(fa.analyze(photos / "obama.jpg"))
        assert who[0].name == "obama" and who[0].similarity == pytest.approx(1.0, abs=1e-4)
        (matches,) = gallery.search(fa.analyze(photos / "biden.jpg"), top_k=2)
        assert [m.name for m in matches] == ["biden", "obama"]
        assert matches[0].similarity > matches[1].similarity
