"""Video on the shared Hamilton clip: screen time with a cast, the timeline files, the video
index and search, clips, and no cast name where the hand labels say that person is absent."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.errors import PackMismatchError
from faceprint.gallery import Gallery
from faceprint.pipeline import FaceAnalyzer
from faceprint.video import Segment, VideoOptions, screentime

pytestmark = [pytest.mark.data, pytest.mark.slow]

LABELS = Path(__file__).parent / "data" / "video_labels"
CAST = {
    "Lin-Manuel Miranda": "lin-manuel-miranda.png",
    "Alex Lacamoire": "alex-lacamoire.png",
    "Barack Obama": "obama.jpg",
}


@pytest.fixture(scope="module")
def clip(data_dir: Path) -> Path:
    return data_dir / "video" / "short_hamilton_clip.mp4"


def _cast_args(photos: Path) -> list[str]:
    return [a for name, file in CAST.items() for a in ("--cast", f"{name}={photos / file}")]


@pytest.fixture(scope="module")
def run(clip: Path, photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("st")
    args = [
        "video",
        "screentime",
        str(clip),
        *_cast_args(photos),
        "--every",
        "6",
        "--out",
        str(out),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_done_means_screen_time_table(run: tuple[dict, Path]) -> None:
    data, _out = run
    people = data["people"]
    assert people[0]["name"] == "Lin-Manuel Miranda"
    assert people[0]["seconds"] == pytest.approx(5.0, abs=0.8)  # labels: 0.67 + 4.30 s
    unknown = [p for p in people if p["name"].startswith("unknown_")]
    assert unknown and {p["name"] for p in unknown} >= {"unknown_1"}
    # the default detector (BlazeFace) gives the audience shot's four faces and the profile
    # close-up a track each (dlib's HOG found neither the profile nor all four)
    tracks = [t for t in data["tracks"] if t["status"] in ("identified", "unknown")]
    assert len({t["label"] for t in tracks if t["shot"] == 3}) >= 4  # the audience shot
    assert any(t["shot"] == 1 and t["segments"][0][0] < 2.5 for t in tracks)  # the profile
    for p in people:
        assert set(p) >= {"name", "seconds", "share", "segments"}
        assert all(0 <= s < e <= data["duration"] + 1e-6 for s, e in p["segments"])
    assert data["shots"] == 4 and data["decode_errors"] == 0


def test_no_cast_name_where_that_person_is_absent(run: tuple[dict, Path]) -> None:
    _assert_names_only_where_labelled(run[0])


def _assert_names_only_where_labelled(data: dict) -> None:
    labels = json.loads((LABELS / "short_hamilton_clip.json").read_text())
    for person in data["people"]:
        if person["name"] not in labels["people"]:
            continue
        truth: list[Segment] = []
        for a, b in sorted(labels["people"][person["name"]]):  # widened by 0.05 s, then joined
            if truth and a - 0.05 <= truth[-1].end:
                truth[-1] = Segment(truth[-1].start, max(truth[-1].end, b + 0.05))
            else:
                truth.append(Segment(a - 0.05, b + 0.05))
        for start, end in person["segments"]:
            covered = sum(max(0.0, min(end, t.end) - max(start, t.start)) for t in truth)
            assert covered == pytest.approx(end - start, abs=0.02), person


def test_timeline_files(run: tuple[dict, Path]) -> None:
    data, out = run
    saved = json.loads((out / "screentime.json").read_text())
    assert [p["name"] for p in saved["people"]] == [p["name"] for p in data["people"]]
    with (out / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["name"] for r in rows} == {p["name"] for p in data["people"]}
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "unknowns" / "unknown_1.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (out / "sheets" / "Lin-Manuel_Miranda.jpg").is_file()
    assert not list(out.rglob(".*.part*"))


def test_index_find_and_clips(clip: Path, photos: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    runner = CliRunner()
    args = [
        "video",
        "index",
        str(clip),
        "--index",
        str(index),
        *_cast_args(photos),
        "--every",
        "6",
        "--json",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["videos"][0]["status"] == "indexed"
    again = runner.invoke(app, args)
    assert json.loads(again.stdout)["videos"][0]["status"] == "unchanged"

    found = runner.invoke(
        app,
        [
            "video",
            "find",
            "--index",
            str(index),
            "Lin-Manuel Miranda",
            "--json",
            "--clips",
            str(tmp_path / "c"),
        ],
    )
    assert found.exit_code == 0, found.output
    data = json.loads(found.stdout)
    ranges = data["ranges"]
    assert [r["video"] for r in ranges] == [str(clip)] * len(ranges)
    main = max(ranges, key=lambda r: r["end"] - r["start"])
    assert main["start"] == pytest.approx(3.58, abs=0.1) and main["end"] == pytest.approx(
        7.88, abs=0.2
    )
    assert "Lin-Manuel Miranda" in main["names"]
    clip_path = Path(data["clips"][ranges.index(main)])
    with av.open(str(clip_path)) as made:
        frames = sum(1 for _ in made.decode(video=0))
    assert abs(frames - (main["end"] - main["start"]) * 29.97) <= 3

    by_face = runner.invoke(
        app,
        [
            "video",
            "find",
            "--index",
            str(index),
            "--face",
            str(photos / "lin-manuel-miranda.png"),
            "--json",
        ],
    )
    assert by_face.exit_code == 0, by_face.output
    face_ranges = json.loads(by_face.stdout)["ranges"]
    assert any(r["start"] <= 4.0 and r["end"] >= 7.5 for r in face_ranges)

    together = runner.invoke(
        app,
        [
            "video",
            "find",
            "--index",
            str(index),
            "Lin-Manuel Miranda",
            "--with",
            "unknown_1",
            "--json",
        ],
    )
    assert json.loads(together.stdout)["ranges"] == []  # never on screen together


def test_gallery_of_another_pack_is_refused(clip: Path, tmp_path: Path) -> None:
    with (
        Gallery.create(tmp_path / "g", pack="dlib-reference") as gallery,
        pytest.raises(PackMismatchError, match="dlib-reference"),
    ):
        screentime(clip, gallery, analyzer=FaceAnalyzer("dlib"), options=VideoOptions(every=6))


def test_one_identity_per_track_and_known_statuses(run: tuple[dict, Path]) -> None:
    data, _out = run
    assert data["tracks"], "the clip has tracks"
    names = {p["name"]: set(p["tracks"]) for p in data["people"]}
    for track in data["tracks"]:
        assert track["status"] in ("identified", "unknown", "too_short", "poor")
        assert (track["label"] is None) == (track["status"] in ("too_short", "poor"))
        assert 1 <= track["faces_embedded"] <= 3 or track["status"] == "too_short"
        if track["label"] is not None:  # each track counts for exactly one person
            assert [n for n, ids in names.items() if track["id"] in ids] == [track["label"]]


def test_gallery_option_on_a_cut_clip_with_annotation(
    clip: Path, photos: Path, tmp_path: Path
) -> None:
    from faceprint.video.render import cut_clip

    short = cut_clip(clip, 4.0, 6.0, tmp_path / "lin.mp4")  # inside Lin-Manuel Miranda's shot
    fa = FaceAnalyzer("dlib")
    with Gallery.create(tmp_path / "g", pack="dlib") as gallery:
        gallery.enroll("Lin-Manuel Miranda", [photos / "lin-manuel-miranda.png"], fa)
    args = ["video", "screentime", str(short), "--gallery", str(tmp_path / "g"), "--every", "5"]
    args += ["--out", str(tmp_path / "o"), "--annotate", str(tmp_path / "a.mp4"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["people"]] == ["Lin-Manuel Miranda"]
    assert data["people"][0]["seconds"] == pytest.approx(data["duration"], abs=0.1)
    assert data["duration"] == pytest.approx(2.0, abs=0.1)
    with av.open(str(tmp_path / "a.mp4")) as made:
        assert sum(1 for _ in made.decode(video=0)) == data["frames"]


def test_mobilefacenet_pack_names_obama_in_the_audience(
    home_pack: str, clip: Path, photos: Path, tmp_path: Path
) -> None:
    """The issue's "Done means" with the yunet-mobilefacenet pack (files the user provides):
    the audience shot names Barack Obama, the default pack's embedder cannot (README)."""
    runner = CliRunner()
    cast = _cast_args(photos)
    shown = runner.invoke(
        app, ["video", "screentime", str(clip), *cast, "--pack", home_pack, "--every", "3",
              "--out", str(tmp_path / "st"), "--json"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    people = {p["name"]: p for p in data["people"]}
    assert max(people.values(), key=lambda p: p["seconds"])["name"] == "Lin-Manuel Miranda"
    obama = people["Barack Obama"]
    assert obama["seconds"] == pytest.approx(2.14, abs=0.5)
    assert all(start >= 7.8 for start, _ in obama["segments"])  # the audience shot
    assert any(name.startswith("unknown_") for name in people)  # the rest of the audience
    _assert_names_only_where_labelled(data)

    index = tmp_path / "idx"
    made = runner.invoke(
        app, ["video", "index", str(clip), "--index", str(index), *cast, "--pack", home_pack,
              "--every", "3", "--json"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    found = runner.invoke(app, ["video", "find", "--index", str(index), "Barack Obama", "--json"])
    assert found.exit_code == 0, found.output
    ranges = json.loads(found.stdout)["ranges"]
    assert len(ranges) == 1 and ranges[0]["start"] == pytest.approx(7.88, abs=0.3)
    assert ranges[0]["end"] == pytest.approx(10.0, abs=0.3)


def test_finished_tracks_keep_no_face_crops(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat on long videos: once a track's faces are embedded its crops go (a
    regression: every finished track used to keep its three aligned crops, ~200 KB each)."""
    import importlib

    st = importlib.import_module("faceprint.video.screentime")  # the module, not the function
    seen = []
    original = st._track

    def spy(number, item, label, status, sim):  # type: ignore[no-untyped-def]
        seen.append(len(item.building.best))
        return original(number, item, label, status, sim)

    monkeypatch.setattr(st, "_track", spy)
    result = screentime(clip, None, analyzer=FaceAnalyzer("dlib"), options=VideoOptions(every=6))
    assert len(seen) == len(result.tracks) > 3
    assert seen == [0] * len(seen)
    assert sum(t.faces_embedded for t in result.tracks) > len(result.tracks)


def test_video_index_records_the_augmentation(clip: Path, photos: Path, tmp_path: Path) -> None:
    """An index made with a flip-augmented gallery (a photo library's, by default) keeps flip
    embeddings: search by photo embeds with flip, and plain embeddings are refused."""
    from faceprint.video.index import VideoIndex

    flip = FaceAnalyzer("dlib", augment="flip")
    with Gallery.create(tmp_path / "g", "dlib", augment="flip") as gallery:
        gallery.enroll("Lin-Manuel Miranda", [photos / "lin-manuel-miranda.png"], flip)
        with VideoIndex.open(tmp_path / "idx") as index:
            made = index.add(clip, gallery, options=VideoOptions(every=6))
            assert made.result is not None and made.result.augment == "flip"
            assert index.augment == "flip"
            plain = FaceAnalyzer("dlib").embed_one(photos / "lin-manuel-miranda.png").embedding
            with pytest.raises(PackMismatchError, match="augment='flip', not 'none'"):
                index.find_face(plain, threshold=0.9, pack="dlib", augment="none")
            assert index.find("Lin-Manuel Miranda", gallery=gallery)
        with (
            Gallery.create(tmp_path / "plain", "dlib") as other,
            VideoIndex.open(tmp_path / "idx") as index,
            pytest.raises(PackMismatchError, match="augment"),
        ):
            index.find("Lin-Manuel Miranda", gallery=other)
    found = CliRunner().invoke(
        app, ["video", "find", "--index", str(tmp_path / "idx"), "--face",
              str(photos / "lin-manuel-miranda.png"), "--json"],
    )  # fmt: skip
    assert found.exit_code == 0, found.output
    assert any(r["start"] <= 4.0 and r["end"] >= 7.5 for r in json.loads(found.stdout)["ranges"])


def test_templates_from_a_video_name_no_more_strangers_than_a_photo(
    clip: Path, photos: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The trial's repro: name the clip's unknown (Lin-Manuel Miranda when he is not enrolled)
    and identify the 24 strangers of bald_guys.jpg. The templates a video now gives (the best
    single face of big-faced tracks) name no more of them than his own photo does; the mean
    embeddings it used to enrol named about half of them."""
    import numpy as np

    from faceprint.imageio import load_image
    from faceprint.video.unknowns import unknown_faces

    fa = FaceAnalyzer("dlib")
    with Gallery.create(tmp_path / "gallery", "dlib") as gallery:
        gallery.enroll_folders(photos / "knn_examples" / "train", fa)
        # every=2, not "auto": auto picks the frame step from measured speed, which a loaded
        # machine changes (and with it which frames become templates)
        result = screentime(clip, gallery, analyzer=fa, options=VideoOptions(every=2))
    unknown = max((p for p in result.people if not p.known), key=lambda p: p.seconds)
    tracks = [t for t in result.tracks if t.id in unknown.tracks]
    faces = unknown_faces("clip", unknown.name, tracks)
    assert faces is not None and 1 <= len(faces.embeddings) <= 3
    strangers = fa.analyze(load_image(data_dir / "photos" / "dlib_faces" / "bald_guys.jpg"))
    assert strangers.embeddings is not None and len(strangers) == 24
    threshold = fa.threshold

    def named(templates: np.ndarray) -> int:
        return int(((strangers.embeddings @ templates.T).max(axis=1) >= threshold).sum())

    photo = fa.analyze(load_image(photos / "lin-manuel-miranda.png")).embeddings
    assert photo is not None
    # the mean embeddings of his tracks (the hand labels say where he is), which the old rule
    # enrolled: unknown tracks are joined face by face now, so his tracks need not share one
    # unknown_N any more
    his_time = json.loads((LABELS / "short_hamilton_clip.json").read_text())["people"][
        "Lin-Manuel Miranda"
    ]
    his = [
        t.embedding
        for t in result.tracks
        if t.embedding is not None
        and t.status == "unknown"
        and any(a - 0.05 <= t.start and t.end <= b + 0.05 for a, b in his_time)
    ]
    assert len(his) >= 2
    assert named(faces.embeddings) <= named(photo) < named(np.stack(his))


def test_blurred_faces_are_poor_and_unknowns_never_join_strangers_across_shots(
    clip: Path, photos: Path
) -> None:
    """With the default pack the blurred background faces behind the profile close-up (about
    2.5-3.6 s) are found too; they look alike to the embedding, so they must not share an
    unknown_N with the audience shot's people (7.9-10 s), whose naming would name them too,
    nor with anyone else.
    Lin-Manuel Miranda's own tracks, unnamed, never share an unknown_N with anyone else's
    (unknown tracks join face by face: his close-up tracks average 0.914-0.929 across, under the
    0.937 bar, so they may stay apart — a missed join costs a click, a wrong one names a
    stranger)."""
    options = VideoOptions(every=6)
    named = screentime(
        clip, {"Lin-Manuel Miranda": photos / "lin-manuel-miranda.png"}, options=options
    )
    for person in named.people:
        if person.known:
            continue
        early = any(s.start < 3.7 for s in person.segments)
        late = any(s.end > 7.8 for s in person.segments)
        assert not (early and late), person
    # the blurred background faces are too poor to judge: no name, no unknown_N, no template
    assert all(t.label is None for t in named.tracks if 2.5 <= t.start < 3.58)
    audience = {t.label for t in named.tracks if t.start >= 7.8 and t.label is not None}
    assert len(audience) == len([t for t in named.tracks if t.start >= 7.8 and t.label]) >= 3
    blind = screentime(clip, None, options=options)
    # his close-up shot (shot 2) and his face at the start (shot 0, the biggest there)
    lin = [t for t in blind.tracks if t.shot == 2 and t.label is not None]
    lin.append(max((t for t in blind.tracks if t.shot == 0), key=lambda t: t.best_side))
    mine = {t.id for t in lin}
    others = {t.label for t in blind.tracks if t.label is not None and t.id not in mine}
    assert len(lin) >= 3 and not {t.label for t in lin} & others, [(t.id, t.label) for t in lin]


@pytest.mark.parametrize("every", [2, 3, 6])
def test_near_searches_name_the_same_tracks_as_full_searches(
    clip: Path, photos: Path, every: int
) -> None:
    """Between full searches the default pack runs its small-face tiles only near live tracks
    (``rescan``): on the Hamilton clip that gives exactly the tracks and names of a full
    search at every detection, with far fewer full searches."""
    cast = {name: photos / file for name, file in CAST.items()}
    fa = FaceAnalyzer()

    def tracks(rescan: float) -> tuple[list[tuple], int, int]:
        options = VideoOptions(every=every, rescan=rescan)
        result = screentime(clip, cast, analyzer=fa, options=options)
        rows = [(t.label, t.status, t.shot, t.start, t.end, t.detections) for t in result.tracks]
        return rows, result.frames_detected, result.frames_searched

    full, detected, searched = tracks(0.0)
    assert searched == detected
    near, detected, searched = tracks(0.5)
    assert near == full
    assert searched < detected / 2
    assert {row[0] for row in full} >= {"Lin-Manuel Miranda", "Alex Lacamoire"}


@pytest.mark.parametrize("every", [3, 6])
def test_strangers_in_a_crowd_are_never_named_nor_joined(
    data_dir: Path, photos: Path, every: int
) -> None:
    """The shared crowd clip has nobody of the cast in it. Its tracks' mean embeddings scored
    0.914-0.916 against cast photos (threshold 0.9119) while none or one of each track's faces
    did, so two strangers were named; and four different people (and two non-faces) shared
    one unknown_N by their means. A name now needs most of the track's faces on their own, and
    unknowns join face by face."""
    crowd = data_dir / "video" / "crowd_walking.mp4"
    cast = {name: photos / file for name, file in CAST.items()}
    cast["Barack Obama"] = photos / "obama.jpg"
    result = screentime(crowd, cast, options=VideoOptions(every=every))
    assert not [t.label for t in result.tracks if t.status == "identified"]
    unknowns = [t for t in result.tracks if t.status == "unknown"]
    assert len(unknowns) >= 5
    # the strangers' means are alike (>= 0.95 between different people), their faces are not:
    # the old rule put four tracks of different people in one unknown_N at either step; the
    # one join left (at every 6th frame) is one red-haired man's two tracks
    sizes = [sum(t.label == label for t in unknowns) for label in {t.label for t in unknowns}]
    assert max(sizes) <= 2, sizes


def test_tracks_join_by_their_faces_not_their_means() -> None:
    """Two tracks whose faces scatter (cross cosines about 0.86) but whose means nearly
    coincide stay apart; two tracks of tight faces of one person join."""
    import numpy as np

    from faceprint.embed.base import l2_normalize
    from faceprint.video.screentime import track_clusters

    rng = np.random.default_rng(7)
    dim = 128

    def unit(n: int) -> np.ndarray:
        return l2_normalize(rng.standard_normal((n, dim)))

    def faces(base: np.ndarray, spread: float) -> np.ndarray:
        return l2_normalize(base + spread * unit(3))

    shared = unit(1)[0]
    loose_a, loose_b = faces(shared, 0.4), faces(shared, 0.4)
    mean = lambda f: l2_normalize(f.mean(0, keepdims=True))[0]  # noqa: E731
    assert float(mean(loose_a) @ mean(loose_b)) > 0.937
    assert float((loose_a @ loose_b.T).mean()) < 0.937
    person = unit(1)[0]
    tight_a, tight_b = faces(person, 0.05), faces(person, 0.05)
    labels = track_clusters([loose_a, loose_b, tight_a, tight_b], 0.937)
    assert labels[0] != labels[1]
    assert labels[2] == labels[3]
    assert labels[2] not in (labels[0], labels[1])


def test_index_keeps_each_tracks_faces_and_never_names_crowd_strangers(
    data_dir: Path, photos: Path, tmp_path: Path
) -> None:
    """The index stores each track's faces; a gallery given to find() later, or a face given to
    find_face(), names a track only where most of its faces agree (the crowd clip's strangers
    matched cast photos by their means). An index written before faces were kept (schema 1)
    opens, gains the column, and its old rows are judged by their means as before."""
    import sqlite3

    from faceprint.imageio import load_image
    from faceprint.video.index import VideoIndex

    crowd = data_dir / "video" / "crowd_walking.mp4"
    fa = FaceAnalyzer()
    with VideoIndex.open(tmp_path / "idx") as index:
        index.add(crowd, options=VideoOptions(every=3), analyzer=fa)
    with sqlite3.connect(tmp_path / "idx" / "videos.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        stored = conn.execute(
            "SELECT count(*), count(faces) FROM tracks WHERE status = 'unknown'"
        ).fetchone()
    conn.close()
    assert stored[0] >= 5 and stored[0] == stored[1]
    with Gallery.create(tmp_path / "cast", fa.pack) as cast:
        for name, file in CAST.items():
            cast.enroll(name, [photos / file], fa)
        with VideoIndex.open(tmp_path / "idx") as index:
            for name in CAST:
                assert index.find(name, gallery=cast) == [], name
            for file in CAST.values():
                face = fa.analyze(load_image(photos / file)).embeddings
                assert face is not None
                assert index.find_face(face[0], threshold=fa.threshold) == [], file
    # the same index as schema 1 wrote it: no faces column
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(tmp_path / "idx" / "videos.sqlite") as src:
        src.execute("UPDATE tracks SET faces = NULL")
        src.commit()
        src.execute("ALTER TABLE tracks DROP COLUMN faces")
        src.execute("PRAGMA user_version = 1")
        src.commit()
        src.execute(f"VACUUM INTO '{old / 'videos.sqlite'}'")
    src.close()
    with VideoIndex.open(tmp_path / "idx") as index:
        current = [(r.label, r.status) for r in index._rows()]
    with VideoIndex.open(old) as index:
        rows = index._rows()
        assert rows and all(r.faces is None for r in rows)
        assert [(r.label, r.status) for r in rows] == current
