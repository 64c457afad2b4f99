"""The embedding space as one value: its calibration (verification and clustering thresholds,
LFW score statistics) read from the pack's record, its one compatibility check on every store,
and migrated galleries that carry thumbnails like an enrolment."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _evaluate_fakes import fake_pack, write_square
from _gallery_fakes import ColourEmbedder, SquareDetector, person_image
from faceprint.cli import app
from faceprint.cluster import cluster_faces, default_threshold
from faceprint.errors import GalleryError, InvalidArgumentError, ModelError, PackMismatchError
from faceprint.gallery import Gallery
from faceprint.imageio import THUMBNAIL_SIZE, load_image
from faceprint.packs import get_pack, list_packs, registry
from faceprint.pipeline import EmbeddingSpace, FaceAnalyzer

runner = CliRunner()

#: the values of the tables keyed by pack name that the space replaces: cluster/core.py's
#: DEFAULT_THRESHOLDS[(pack, augment)] and packs/scores.py's LFW_SCORES[pack] (genuine mean,
#: genuine std, impostor mean, impostor std), as they were before the move
OLD_CLUSTER_THRESHOLDS = {
    ("dlib", "none"): 0.937,
    ("dlib", "flip"): 0.9405,
    ("dlib-reference", "none"): 0.937,
    ("dlib-reference", "flip"): 0.9405,
    ("dlib-blazeface", "none"): 0.937,
    ("dlib-blazeface", "flip"): 0.9405,
    ("yunet-mobilefacenet", "none"): 0.50,
    ("scrfd-mobilefacenet", "none"): 0.50,
}
OLD_LFW_SCORES = {
    "dlib": (0.953, 0.017, 0.836, 0.034),
    "dlib-reference": (0.953, 0.017, 0.836, 0.034),
    "dlib-blazeface": (0.953, 0.017, 0.836, 0.034),
}
BUILT_IN = (
    "dlib",
    "dlib-reference",
    "dlib-blazeface",
    "yunet-mobilefacenet",
    "scrfd-mobilefacenet",
)


# --- the calibration ------------------------------------------------------------------------------


@pytest.mark.parametrize("pack", BUILT_IN)
@pytest.mark.parametrize("augment", ["none", "flip"])
def test_each_space_reports_the_values_of_the_old_tables(pack: str, augment: str) -> None:
    space = EmbeddingSpace(pack, augment)  # type: ignore[arg-type]
    spec = get_pack(pack)
    verification = spec.threshold_for(augment)
    assert space.threshold == verification
    assert space.threshold_source == spec.threshold_source_for(augment)
    # the default clustering method: the old table, else the verification threshold
    assert space.cluster_threshold == OLD_CLUSTER_THRESHOLDS.get((pack, augment), verification)
    assert default_threshold(pack, "default", augment) == space.cluster_threshold
    assert default_threshold(space) == space.cluster_threshold
    for method in ("chinese-whispers", "components", "agglomerative", "hdbscan"):
        assert default_threshold(space, method) == verification
    scores = space.scores
    if pack in OLD_LFW_SCORES:
        assert scores is not None
        got = (scores.genuine_mean, scores.genuine_std, scores.impostor_mean, scores.impostor_std)
        assert got == OLD_LFW_SCORES[pack]
    else:
        assert scores is None


def test_every_built_in_pack_is_covered() -> None:
    assert set(BUILT_IN) <= set(list_packs())


def test_the_calibration_is_shown_with_the_pack() -> None:
    summary = get_pack("dlib-blazeface").summary()
    assert summary["cluster_thresholds"] == {"none": 0.937, "flip": 0.9405}
    assert summary["scores"]["impostor_mean"] == 0.836
    shown = runner.invoke(app, ["models", "show", "dlib-blazeface"])
    assert "clustering threshold with --augment flip: 0.9405" in shown.output


def test_an_unknown_pack_has_no_calibration_but_still_compares() -> None:
    space = EmbeddingSpace("no-such-pack")
    space.check(EmbeddingSpace("no-such-pack"))  # the check needs no pack record
    with pytest.raises(ModelError, match="unknown model pack 'no-such-pack'"):
        _ = space.threshold
    with pytest.raises(InvalidArgumentError, match="augment must be one of none, flip"):
        EmbeddingSpace("dlib", "jitter")  # type: ignore[arg-type]


def test_cluster_faces_takes_the_space_or_its_parts_not_both() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    flip = EmbeddingSpace("dlib", "flip")
    by_space = cluster_faces(x, space=flip)
    by_parts = cluster_faces(x, pack="dlib", augment="flip")
    assert by_space.threshold == by_parts.threshold == 0.9405
    assert np.array_equal(by_space.labels, by_parts.labels)
    assert cluster_faces(x, space=flip, pack="dlib", augment="flip").threshold == 0.9405
    with pytest.raises(InvalidArgumentError, match="give one or the other"):
        cluster_faces(x, space=flip, augment="none")


# --- one compatibility check ------------------------------------------------------------------


def test_the_check_says_what_differs_in_one_line() -> None:
    space = EmbeddingSpace("dlib", "flip")
    with pytest.raises(PackMismatchError) as pack_err:
        space.check(EmbeddingSpace("dlib-blazeface", "flip"), holder="G", source="/x")
    text = str(pack_err.value)
    assert text.startswith("G holds embeddings of pack 'dlib', not of pack 'dlib-blazeface'")
    assert "--pack dlib" in text and "\n" not in text and pack_err.value.source == "/x"
    with pytest.raises(PackMismatchError) as aug_err:
        space.check(EmbeddingSpace("dlib"))
    text = str(aug_err.value)
    assert "augment='flip', not 'none'" in text and "--augment flip" in text
    assert "\n" not in text


def test_a_library_refuses_its_gallery_replaced_by_one_of_another_pack(tmp_path: Path) -> None:
    from faceprint.library import Library

    Gallery.create(tmp_path / "people", "dlib").close()
    Library.create(tmp_path / "lib", gallery=tmp_path / "people").close()
    shutil.rmtree(tmp_path / "people")
    Gallery.create(tmp_path / "people", "dlib-reference").close()
    with pytest.raises(PackMismatchError, match="holds embeddings of pack 'dlib-reference'"):
        Library.open(tmp_path / "lib")


def test_a_cast_enrols_with_the_analyzers_augmentation(tmp_path: Path) -> None:
    from faceprint.video.screentime import cast_gallery

    flip = FaceAnalyzer(
        "dlib", detector=SquareDetector(), embedder=ColourEmbedder(), augment="flip"
    )
    with cast_gallery({"red": person_image("red")}, flip) as gallery:
        assert gallery.space == flip.space and "red" in gallery


def _archive_with(path: Path, source: Path, **header: object) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "gallery.json":
                doc = json.loads(data)
                doc.update(header)
                data = json.dumps(doc).encode()
            zout.writestr(item, data)
    return path


def test_an_archive_of_another_space_or_an_unknown_augment_is_refused(tmp_path: Path) -> None:
    vec = np.eye(1, 128, dtype=np.float32)
    with Gallery.create(tmp_path / "src", "dlib") as gal:
        gal.add_embeddings(["ann"], vec)
        archive = gal.export_to(tmp_path / "a.zip")
    other = _archive_with(tmp_path / "other.zip", archive, pack="dlib-blazeface")
    unknown = _archive_with(tmp_path / "unknown.zip", archive, augment="jitter")
    with Gallery.create(tmp_path / "dst", "dlib") as gal:
        with pytest.raises(PackMismatchError, match="not of pack 'dlib-blazeface'") as err:
            gal.import_from(other)
        assert err.value.source == str(other)
        with pytest.raises(GalleryError, match="augment 'jitter' is not one of none, flip"):
            gal.import_from(unknown)
        assert len(gal) == 0
        assert gal.import_from(archive) == 1


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.DETECTOR_FACTORIES, "fake-squares", "_evaluate_fakes:create_detector"
    )
    monkeypatch.setitem(
        registry.EMBEDDER_FACTORIES, "fake-colour", "_evaluate_fakes:create_embedder"
    )
    monkeypatch.setitem(registry._REGISTRY, "fake", fake_pack)


def test_calibrate_saves_only_into_a_gallery_of_its_space(fake: None, tmp_path: Path) -> None:
    colours = {"red": (230, 40, 40), "green": (40, 230, 40), "blue": (40, 40, 230)}
    for name, colour in colours.items():
        for k in range(3):
            write_square(tmp_path / "people" / name / f"{k}.png", colour, 50 + 5 * k)
    Gallery.create(tmp_path / "flip", "fake", augment="flip").close()
    Gallery.create(tmp_path / "plain", "fake").close()
    args = ["calibrate", "--folders", str(tmp_path / "people"), "--pack", "fake"]
    args += ["--target-far", "0.1", "--workers", "1", "--save", "--force", "--gallery"]
    refused = runner.invoke(app, [*args, str(tmp_path / "flip")])
    assert refused.exit_code != 0 and "augment='flip', not 'none'" in refused.output
    with Gallery.open(tmp_path / "flip") as g:
        assert g.settings.threshold is None
    saved = runner.invoke(app, [*args, str(tmp_path / "plain")])
    assert saved.exit_code == 0, saved.output
    with Gallery.open(tmp_path / "plain") as g:
        assert g.settings.threshold is not None


# --- migrated galleries carry thumbnails ----------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_migrated_templates_get_the_thumbnails_an_enrolment_makes(
    photos: Path, tmp_path: Path
) -> None:
    from faceprint.gallery.migrate import migrate_gallery

    sources = {"Obama": photos / "obama.jpg", "Biden": photos / "biden.jpg"}
    with Gallery.create(tmp_path / "old", "dlib") as old:
        hog = FaceAnalyzer("dlib")
        for name, path in sources.items():
            old.enroll(name, [path], hog)
    report = migrate_gallery(tmp_path / "old", tmp_path / "new", "dlib-blazeface")
    assert (report.templates, report.migrated) == (2, 2)
    with Gallery.create(tmp_path / "fresh", "dlib-blazeface") as fresh:
        blaze = FaceAnalyzer("dlib-blazeface")
        for name, path in sources.items():
            fresh.enroll(name, [path], blaze)
        want = {n: fresh.templates(n)[0] for n in sources}
        want_thumbs = {n: fresh.thumbnail(t.id) for n, t in want.items()}
    with Gallery.open(tmp_path / "new") as new:
        for name in sources:
            (tpl,) = new.templates(name)
            thumb = new.thumbnail(tpl.id)
            assert tpl.has_thumbnail and thumb is not None and thumb == want_thumbs[name]
            assert load_image(thumb).shape == (THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
            assert tpl.box == pytest.approx(want[name].box)
