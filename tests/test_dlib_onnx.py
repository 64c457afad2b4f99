"""The dlib ResNet converted to ONNX gives dlib's descriptors; its cache survives damage."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from faceprint.align import DLIB_150, align_faces
from faceprint.embed import dlib_convert
from faceprint.embed.dlib_convert import cached_onnx_model, convert_dlib_resnet
from faceprint.embed.dlib_onnx import DlibOnnxEmbedder
from faceprint.embed.dlib_resnet import DlibResnetEmbedder
from faceprint.errors import ModelError
from faceprint.imageio import load_image
from faceprint.packs import dlib_model_path, get_pack

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def dat_path() -> Path:
    return dlib_model_path(dlib_convert.DAT_NAME)


@pytest.fixture(scope="module")
def reference(dat_path: Path) -> DlibResnetEmbedder:
    return DlibResnetEmbedder(str(dat_path))


@pytest.fixture(scope="module")
def onnx_embedder(dat_path: Path) -> DlibOnnxEmbedder:
    return DlibOnnxEmbedder(dat_path, threads=1)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path))
    return tmp_path


def synthetic_chips() -> npt.NDArray[np.uint8]:
    """Noise, gradients, flat grey, a dark and a bright blob: inputs of very different kinds."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:150, 0:150].astype(np.float32)
    blob = np.exp(-((xx - 75) ** 2 + (yy - 70) ** 2) / 900.0)[..., None]
    chips = [
        rng.integers(0, 256, (150, 150, 3)),
        np.stack([xx * 1.7, yy * 1.7, (xx + yy) * 0.85], -1),
        np.full((150, 150, 3), 128),
        40 + 200 * blob * np.array([1.0, 0.8, 0.6]),
        255 - 180 * blob * np.array([0.5, 0.7, 1.0]),
    ]
    return np.stack([np.clip(c, 0, 255).astype(np.uint8) for c in chips])


def cosines(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (a * b).sum(axis=1)  # rows are unit vectors


def dlib_int(value: int) -> bytes:
    """dlib's integer encoding: control byte (sign bit 0x80, byte count) + little-endian bytes."""
    body = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def dlib_real(mantissa: int, exponent: int) -> bytes:
    """dlib's float_details encoding of ``mantissa * 2**exponent``."""
    return dlib_int(mantissa) + dlib_int(exponent)


def test_reader_decodes_dlib_primitives() -> None:
    values = [0.5, -3.25, 0.0, 6.0]
    v1 = [dlib_real(1, -1), dlib_real(-13, -2), dlib_real(0, 0), dlib_real(3, 1)]
    data = (
        dlib_int(-300)
        + dlib_int(7)
        + b"\x01\x05relu_"
        + b"10"
        + dlib_real(61389, -9)  # 119.900390625
        + dlib_int(1) + b"".join(dlib_int(d) for d in (1, 4, 1, 1)) + b"".join(v1)
        + dlib_int(2) + b"".join(dlib_int(d) for d in (1, 1, 2, 2))
        + np.asarray(values, "<f4").tobytes()
    )  # fmt: skip
    r = dlib_convert._Reader(data, "test")
    assert (r.integer(), r.integer(), r.string()) == (-300, 7, "relu_")
    assert (r.boolean(), r.boolean(), r.real()) == (True, False, 119.900390625)
    np.testing.assert_array_equal(r.tensor().ravel(), values)
    np.testing.assert_array_equal(r.tensor(), np.reshape(values, (1, 1, 2, 2)))
    assert r.pos == len(data)
    with pytest.raises(ModelError, match="ends early"):
        r.integer()


def test_onnx_descriptors_match_dlib(
    reference: DlibResnetEmbedder, onnx_embedder: DlibOnnxEmbedder
) -> None:
    chips = synthetic_chips()
    cos = cosines(onnx_embedder.embed(chips), reference.embed(chips))
    assert cos.min() >= MIN_COSINE, cos


def test_raw_output_is_dlibs_unnormalised_descriptor(
    reference: DlibResnetEmbedder, onnx_embedder: DlibOnnxEmbedder
) -> None:
    chips = synthetic_chips()[:2]
    np.testing.assert_allclose(
        onnx_embedder._embed_batch(chips), reference._embed_batch(chips), atol=2e-5
    )


def test_batching_does_not_change_results(dat_path: Path) -> None:
    chips = synthetic_chips()
    whole = DlibOnnxEmbedder(dat_path, batch_size=32, threads=1).embed(chips)
    split = DlibOnnxEmbedder(dat_path, batch_size=2, threads=1).embed(chips)
    np.testing.assert_allclose(whole, split, atol=1e-6)


def test_cache_is_reused(home: Path, dat_path: Path) -> None:
    first = cached_onnx_model(dat_path)
    stamp = first.stat().st_mtime_ns
    assert first.parent == home / "models"
    assert cached_onnx_model(dat_path) == first
    assert first.stat().st_mtime_ns == stamp
    meta = json.loads(first.with_suffix(".json").read_text())
    assert meta["onnx_sha256"] == dlib_convert.sha256_file(first)


def _truncate(onnx: Path) -> None:
    onnx.write_bytes(onnx.read_bytes()[:1000])


def _wrong_checksum(onnx: Path) -> None:
    meta_path = onnx.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["onnx_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))


def _garbled_sidecar(onnx: Path) -> None:
    onnx.with_suffix(".json").write_text("{not json")


def _missing_sidecar(onnx: Path) -> None:
    onnx.with_suffix(".json").unlink()


@pytest.mark.parametrize("damage", [_truncate, _wrong_checksum, _garbled_sidecar, _missing_sidecar])
def test_damaged_cache_is_rebuilt(
    home: Path, dat_path: Path, damage: Callable[[Path], None]
) -> None:
    onnx = cached_onnx_model(dat_path)
    good = onnx.read_bytes()
    damage(onnx)
    assert cached_onnx_model(dat_path) == onnx
    assert onnx.read_bytes() == good


def test_unloadable_cache_with_matching_checksum_is_rebuilt(home: Path, dat_path: Path) -> None:
    onnx = cached_onnx_model(dat_path)
    onnx.write_bytes(b"not an onnx model")
    meta_path = onnx.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["onnx_sha256"] = dlib_convert.sha256_file(onnx)
    meta_path.write_text(json.dumps(meta))
    emb = DlibOnnxEmbedder(dat_path, threads=1)
    assert emb.embed(synthetic_chips()[:1]).shape == (1, 128)
    assert onnx.stat().st_size > 1_000_000


def test_concurrent_conversions_leave_one_valid_cache(home: Path, dat_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: cached_onnx_model(dat_path, rebuild=True), range(3)))
    assert len(set(paths)) == 1
    assert sorted(p.name for p in (home / "models").iterdir()) == sorted(
        [paths[0].name, paths[0].with_suffix(".json").name]
    )
    assert cached_onnx_model(dat_path) == paths[0]
    assert paths[0].stat().st_mtime_ns == cached_onnx_model(dat_path).stat().st_mtime_ns


def test_cache_key_follows_the_dat_contents(home: Path, dat_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.dat"
    shutil.copyfile(dat_path, copy)
    assert cached_onnx_model(copy) == cached_onnx_model(dat_path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda data: data[: len(data) // 2], "ends early"),
        (lambda data: b"\x01\x01" + bytes(64), "loss_metric_2"),
        (lambda data: data + b"\x00", "trailing bytes"),
    ],
)
def test_broken_dat_is_a_model_error(
    dat_path: Path, tmp_path: Path, make: Callable[[bytes], bytes], message: str
) -> None:
    bad = tmp_path / "bad.dat"
    bad.write_bytes(make(dat_path.read_bytes()))
    with pytest.raises(ModelError, match=message):
        convert_dlib_resnet(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"threads": 0}, "threads"), ({"batch_size": 0}, "batch_size")],
)
def test_invalid_options(dat_path: Path, kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DlibOnnxEmbedder(dat_path, **{"threads": 1, **kwargs})


@pytest.mark.parametrize(
    ("crops", "match"),
    [
        (np.zeros((1, 150, 150, 3), np.float32), "uint8"),
        (np.zeros((1, 112, 112, 3), np.uint8), "shape"),
        (np.zeros((150, 150, 3), np.uint8), "shape"),
    ],
)
def test_invalid_crops(
    onnx_embedder: DlibOnnxEmbedder, crops: npt.NDArray[np.uint8], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        onnx_embedder.embed(crops)


def test_registered_as_embedder_backend() -> None:
    pack = dataclasses.replace(get_pack("dlib"), embedder="dlib-onnx")
    emb = pack.create_embedder(threads=1, batch_size=8)
    assert isinstance(emb, DlibOnnxEmbedder)
    assert (emb.name, emb.dim, emb.crop, emb.batch_size) == ("dlib-onnx", 128, DLIB_150, 8)


def _lfw_sample(data_dir: Path, people: int) -> list[Path]:
    root = data_dir / "lfw" / "images_deepfunneled"
    firsts = (min(p.glob("*.jpg")) for p in sorted(root.iterdir()) if p.is_dir())
    return list(itertools.islice(firsts, people))


@pytest.mark.data
@pytest.mark.slow
def test_lfw_every_face_matches_dlib(
    data_dir: Path, reference: DlibResnetEmbedder, onnx_embedder: DlibOnnxEmbedder
) -> None:
    """First image of each of the first 500 people (sorted): every detected face agrees."""
    detector = get_pack("dlib").create_detector()
    files = _lfw_sample(data_dir, 500)
    crops = []
    for f in files:
        image = load_image(f)
        crops.append(align_faces(image, detector.detect(image).landmarks, DLIB_150))
    chips = np.concatenate(crops)
    cos = cosines(onnx_embedder.embed(chips), reference.embed(chips))
    assert len(files) == 500 and len(chips) >= 480
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COSINE, f"chip {worst}: cosine {cos[worst]:.6f}"
