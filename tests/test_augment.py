"""Test-time augmentation: FaceAnalyzer(augment=...) and galleries that record it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from _gallery_fakes import ColourEmbedder, SquareDetector, person_image
from faceprint.align import DLIB_150
from faceprint.embed.base import Embedder, l2_normalize
from faceprint.errors import InvalidArgumentError, PackMismatchError
from faceprint.gallery import Gallery
from faceprint.gallery.store import DB_NAME
from faceprint.imageio import load_image
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import AUGMENTS, FaceAnalyzer


class HalvesEmbedder(Embedder):
    """Not mirror-invariant: a projection of the mean colours of the crop's left and right
    halves (so a crop and its mirror image embed differently)."""

    name = "halves"
    dim = 128
    crop = DLIB_150

    def __init__(self) -> None:
        super().__init__(batch_size=3)
        self._w = np.random.default_rng(3).normal(size=(self.dim, 6)).astype(np.float32)

    def _embed_batch(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        half = crops.shape[2] // 2
        left = crops[:, :, :half].reshape(len(crops), -1, 3).mean(1)
        right = crops[:, :, half:].reshape(len(crops), -1, 3).mean(1)
        x = np.concatenate([left, right], 1).astype(np.float32) / 255 - 0.5
        return x @ self._w.T  # type: ignore[no-any-return]


def analyzer(augment: str = "none") -> FaceAnalyzer:
    return FaceAnalyzer(
        "dlib",
        detector=SquareDetector(),
        embedder=HalvesEmbedder(),
        augment=augment,  # type: ignore[arg-type]
    )


def crops(n: int = 5) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(0).integers(0, 256, (n, 150, 150, 3), dtype=np.uint8)


def test_flip_averages_the_unit_embeddings_of_crop_and_mirror() -> None:
    c = crops()
    net = HalvesEmbedder()
    expected = l2_normalize(net.embed(c) + net.embed(np.ascontiguousarray(c[:, :, ::-1])))
    got = analyzer("flip").embed_crops(c)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    plain = analyzer().embed_crops(c)
    assert np.abs(plain - got).max() > 1e-2  # the augmentation changes the embedding


def test_flip_is_mirror_invariant_and_plain_is_not() -> None:
    c = crops(4)
    mirrored = np.ascontiguousarray(c[:, :, ::-1])
    flip = analyzer("flip")
    np.testing.assert_allclose(flip.embed_crops(c), flip.embed_crops(mirrored), atol=1e-6)
    plain = analyzer()
    assert (plain.embed_crops(c) * plain.embed_crops(mirrored)).sum(1).min() < 0.999


def test_flip_keeps_batches_aligned_across_images() -> None:
    """embed_many splits the augmented embeddings back to the right images."""
    fa = analyzer("flip")
    images = [person_image("red"), person_image("blue", 70), person_image("green", 50)]
    many = fa.embed_many([(img, fa.detect(img)) for img in images])
    for img, faces in zip(images, many, strict=True):
        np.testing.assert_allclose(faces.embeddings, fa.analyze(img).embeddings, atol=1e-6)


def test_empty_batch_with_flip() -> None:
    out = analyzer("flip").embed_crops(np.zeros((0, 150, 150, 3), np.uint8))
    assert out.shape == (0, 128)


@pytest.mark.parametrize("bad", ["mirror", "", "FLIP", None])
def test_unknown_augment_is_an_argument_error(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="augment must be one of none, flip"):
        analyzer(bad)  # type: ignore[arg-type]
    assert issubclass(InvalidArgumentError, ValueError)


def test_augments_listed() -> None:
    assert AUGMENTS[0] == "none" and "flip" in AUGMENTS


# --- galleries record the augmentation ------------------------------------------------------------


def colour_analyzer(augment: str) -> FaceAnalyzer:
    return FaceAnalyzer(
        "dlib",
        detector=SquareDetector(),
        embedder=ColourEmbedder(),
        augment=augment,  # type: ignore[arg-type]
    )


def test_gallery_refuses_an_analyzer_with_another_augment(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g", "dlib", augment="flip") as gal:
        assert gal.augment == "flip" and gal.settings.augment == "flip"
        with pytest.raises(PackMismatchError, match=r"augment='flip'.*--augment flip"):
            gal.enroll("red", [person_image("red")], colour_analyzer("none"))
        assert len(gal) == 0
        gal.enroll("red", [person_image("red")], colour_analyzer("flip"))
    with Gallery.open(tmp_path / "g") as gal:
        assert gal.augment == "flip"
        with pytest.raises(PackMismatchError, match="do not mix"):
            gal.enroll("blue", [person_image("blue")], colour_analyzer("none"))
        assert len(gal) == 1 and "red" in gal


def test_plain_gallery_refuses_flip_analyzer(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g", "dlib") as gal:
        assert gal.augment == "none"
        with pytest.raises(PackMismatchError, match="augment='none'"):
            gal.enroll("red", [person_image("red")], colour_analyzer("flip"))


def test_gallery_without_the_setting_reads_as_none(tmp_path: Path) -> None:
    """Galleries written before the setting existed hold plain embeddings."""
    Gallery.create(tmp_path / "g", "dlib").close()
    with sqlite3.connect(tmp_path / "g" / DB_NAME) as conn:
        assert conn.execute("DELETE FROM settings WHERE key = 'augment'").rowcount == 1
    conn.close()
    with Gallery.open(tmp_path / "g") as gal:
        assert gal.augment == "none"
        gal.enroll("red", [person_image("red")], colour_analyzer("none"))
        with pytest.raises(PackMismatchError):
            gal.enroll("blue", [person_image("blue")], colour_analyzer("flip"))


def test_gallery_create_refuses_an_unknown_augment(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="augment must be one of"):
        Gallery.create(tmp_path / "g", augment="jitter")  # type: ignore[arg-type]
    assert not (tmp_path / "g").exists()


# --- real faces -------------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_flip_on_a_real_face_is_mirror_invariant(photos: Path) -> None:
    """With flip, a photo and its mirror image give nearly the same embedding (the chips of
    the two are mirror images of each other up to landmark noise)."""
    rgb = load_image(photos / "obama.jpg")
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    plain = FaceAnalyzer("dlib")
    flip = FaceAnalyzer("dlib", augment="flip")
    assert flip.max_side == plain.max_side

    def cos(fa: FaceAnalyzer) -> float:
        a, b = fa.embed_one(rgb).embedding, fa.embed_one(mirrored).embedding
        return float(np.dot(a, b))  # type: ignore[arg-type]

    c_plain, c_flip = cos(plain), cos(flip)
    assert c_flip > 0.995 and c_flip > c_plain, (c_plain, c_flip)
    # the same person either way
    assert flip.verify(rgb, photos / "obama2.jpg").same


# --- faceprint evaluate lfw --augment --------------------------------------------------------------


def test_evaluate_lfw_refuses_an_unknown_augment(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from faceprint.cli import app

    result = CliRunner().invoke(
        app, ["evaluate", "lfw", "--data", str(tmp_path), "--augment", "jitter"]
    )
    assert result.exit_code == 2 and "--augment must be one of none, flip" in result.output


def test_evaluate_lfw_passes_augment_to_the_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import faceprint.cli.evaluate as cli_evaluate
    from faceprint.cli import app

    seen = []

    def fake_evaluate(data: object, config: object, **kwargs: object) -> None:
        seen.append(config)
        raise InvalidArgumentError("stop here")

    monkeypatch.setattr(cli_evaluate, "evaluate_lfw", fake_evaluate)
    result = CliRunner().invoke(
        app, ["evaluate", "lfw", "--data", str(tmp_path), "--augment", "flip", "--no-cache"]
    )
    assert result.exit_code != 0 and "stop here" in result.output
    assert [c.augment for c in seen] == ["flip"]  # type: ignore[attr-defined]


def test_exports_carry_the_augment_and_imports_check_it(tmp_path: Path) -> None:
    vec = np.eye(1, 128, dtype=np.float32)
    with Gallery.create(tmp_path / "flip", augment="flip") as gal:
        gal.add_embeddings(["ann"], vec)
        archive = gal.export_to(tmp_path / "flip.zip")
    with Gallery.create(tmp_path / "plain") as plain:
        with pytest.raises(PackMismatchError, match="augment"):
            plain.import_from(archive)
        assert len(plain) == 0
    with Gallery.create(tmp_path / "flip2", augment="flip") as other:
        assert other.import_from(archive) == 1


def test_enroll_augment_creates_a_gallery_that_records_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import faceprint.cli.gallery as cli_gallery
    from _gallery_fakes import make_folders
    from faceprint.batch import Engine
    from faceprint.cli import app

    made: list[str] = []

    def engine(pack: str, **kw: object) -> Engine:
        made.append(str(kw.get("augment")))
        fake = FaceAnalyzer(
            "dlib", detector=SquareDetector(), embedder=ColourEmbedder(), augment="flip"
        )
        return Engine.from_analyzer(fake)

    cli_gallery.make_engine, saved = engine, cli_gallery.make_engine  # type: ignore[assignment]
    try:
        root = make_folders(tmp_path / "people")
        args = ["enroll", "--gallery", str(tmp_path / "g"), "--folders", str(root), "--quiet"]
        result = CliRunner().invoke(app, [*args, "--augment", "flip", "--pack", "dlib"])
    finally:
        cli_gallery.make_engine = saved  # type: ignore[assignment]
    assert result.exit_code == 0, result.output
    assert made == ["flip"]
    with Gallery.open(tmp_path / "g") as gal:
        assert gal.augment == "flip" and len(gal) == 5


# --- thresholds calibrated per augmentation, and the photo library's default -------------------


def test_flip_has_its_own_calibrated_threshold(tmp_path: Path) -> None:
    from faceprint.cluster import cluster_faces, default_threshold
    from faceprint.packs import get_pack

    pack = get_pack("dlib")
    assert pack.threshold_for("none") == pack.threshold == pytest.approx(0.9049)
    assert pack.threshold_for("flip") == pytest.approx(0.9123)
    assert "--augment flip" in pack.threshold_source_for("flip")
    assert pack.threshold_source_for("none") == pack.threshold_source
    assert FaceAnalyzer("dlib", augment="flip").threshold == pytest.approx(0.9123)
    with Gallery.create(tmp_path / "f", "dlib", augment="flip") as flip:
        assert flip.threshold == pytest.approx(0.9123)
        flip.settings.set_threshold(0.95, source="mine")  # a saved threshold still wins
        assert flip.threshold == 0.95
    with Gallery.create(tmp_path / "n", "dlib") as plain:
        assert plain.threshold == pytest.approx(0.9049)
    assert default_threshold("dlib", "default", "none") == 0.937
    assert default_threshold("dlib", "default", "flip") == 0.9405
    x = l2_normalize(np.random.default_rng(0).normal(size=(20, 128)).astype(np.float32))
    assert cluster_faces(x, augment="flip").threshold == 0.9405
    assert cluster_faces(x).threshold == 0.937


def test_new_library_embeds_with_flip_and_keeps_an_existing_gallerys_choice(
    tmp_path: Path, photos: Path
) -> None:
    from faceprint.library import LIBRARY_AUGMENT, Library

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "obama.jpg").write_bytes((photos / "obama.jpg").read_bytes())
    assert LIBRARY_AUGMENT == "flip"
    with Library.create(tmp_path / "lib") as lib:
        assert lib.augment == "flip" and lib.gallery.augment == "flip"
        lib.scan(tree, workers=0)
        stored = np.frombuffer(lib._store.query("SELECT embedding FROM faces")[0][0], np.float32)
        assert lib.status().augment == "flip"
        with pytest.raises(PackMismatchError, match="augment='none'"):
            lib.find_by_face(photos / "obama2.jpg", analyzer=FaceAnalyzer(DEFAULT_PACK))
        assert [p.path for p in lib.find_by_face(photos / "obama2.jpg")] == ["obama.jpg"]
    flip = FaceAnalyzer(DEFAULT_PACK, augment="flip").embed_one(photos / "obama.jpg").embedding
    plain = FaceAnalyzer(DEFAULT_PACK).embed_one(photos / "obama.jpg").embedding
    assert float(stored @ flip) > 0.9999 > float(stored @ plain)

    Gallery.create(tmp_path / "people", "dlib").close()  # an existing plain gallery is kept
    with Library.create(tmp_path / "lib2", gallery=tmp_path / "people") as lib:
        assert lib.augment == "none"
    with pytest.raises(PackMismatchError, match="augment='none', not 'flip'"):
        Library.create(tmp_path / "lib3", gallery=tmp_path / "people", augment="flip")
    with Library.create(tmp_path / "lib4", augment="none") as lib:
        assert lib.gallery.augment == "none"


def test_library_scan_cli_augment_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from faceprint.cli import app

    (tmp_path / "tree").mkdir()
    runner = CliRunner()
    bad = runner.invoke(
        app, ["library", "scan", str(tmp_path / "tree"), "--library", str(tmp_path / "l"),
              "--augment", "rotate"],
    )  # fmt: skip
    assert bad.exit_code != 0 and "--augment must be one of none, flip" in bad.output
    assert not (tmp_path / "l").exists()
    ok = runner.invoke(
        app, ["library", "scan", str(tmp_path / "tree"), "--library", str(tmp_path / "l"),
              "--augment", "none", "--json"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    status = runner.invoke(app, ["library", "status", "--library", str(tmp_path / "l"), "--json"])
    assert '"augment": "none"' in status.stdout


def test_video_follows_the_gallerys_augment(tmp_path: Path) -> None:
    from faceprint.cli.video import _analyzer
    from faceprint.video import screentime

    with Gallery.create(tmp_path / "g", "dlib", augment="flip") as gallery:
        with pytest.raises(PackMismatchError, match="augment='flip'"):
            screentime(tmp_path / "never-opened.mp4", gallery, analyzer=FaceAnalyzer("dlib"))
        assert _analyzer(gallery, None, 2048).augment == "flip"
    assert _analyzer(None, None, 2048).augment == "none"


def test_models_show_lists_the_flip_threshold() -> None:
    import json

    from typer.testing import CliRunner

    from faceprint.cli import app

    shown = CliRunner().invoke(app, ["models", "show", "dlib"])
    assert shown.exit_code == 0, shown.output
    assert "threshold with --augment flip: 0.9123" in shown.output
    listed = CliRunner().invoke(app, ["models", "list", "--json"])
    dlib = next(e for e in json.loads(listed.stdout) if e["name"] == "dlib")
    assert dlib["augment_thresholds"] == {"flip": 0.9123}
