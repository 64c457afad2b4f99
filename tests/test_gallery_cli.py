"""`faceprint enroll / identify / search / people` through Typer's runner, with the fake pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import faceprint.cli.gallery as cli_gallery
from _gallery_fakes import (
    PEOPLE,
    face_image,
    fake_analyzer,
    make_folders,
    person_image,
    write_image,
)
from faceprint.batch import Engine
from faceprint.cli import app
from faceprint.gallery import Gallery

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake pack in this process: for the analyzer and for the engine's work (the fakes
    are of pack "dlib", so new galleries here are too)."""
    monkeypatch.setattr(cli_gallery, "DEFAULT_PACK", "dlib")
    monkeypatch.setattr(cli_gallery, "FaceAnalyzer", lambda pack, **kw: fake_analyzer())
    monkeypatch.setattr(
        cli_gallery, "make_engine", lambda pack, **kw: Engine.from_analyzer(fake_analyzer())
    )


@pytest.fixture
def enrolled(tmp_path: Path) -> Path:
    gdir = tmp_path / "g"
    result = runner.invoke(
        app,
        [
            "enroll",
            "--gallery",
            str(gdir),
            "--folders",
            str(make_folders(tmp_path / "people")),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    with Gallery.open(gdir) as g:
        g.settings.set_threshold(0.9, source="test")
    return gdir


def test_enroll_folders_summary(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "people")
    write_image(root / "red" / "empty.png", face_image([]))
    (root / "blue" / "bad.jpg").write_bytes(b"nope")
    result = runner.invoke(
        app, ["enroll", "--gallery", str(tmp_path / "g"), "--folders", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "enrolled 10 file(s) of 5 person(s); skipped 2 file(s) (1 no_face, 1 unreadable)" in (
        result.stdout
    )
    assert "skipped" in result.output and "empty.png" in result.output


def test_enroll_folders_json(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "people", per_person=1)
    result = runner.invoke(
        app, ["enroll", "--gallery", str(tmp_path / "g"), "--folders", str(root), "--json"]
    )
    data = json.loads(result.stdout)
    assert data["counts"] == {"enrolled": 5}
    assert {f["name"] for f in data["files"]} == set(PEOPLE)


def test_enroll_names_append_and_errors(tmp_path: Path) -> None:
    gdir = str(tmp_path / "g")
    img = write_image(tmp_path / "red.png", person_image("red"))
    empty = write_image(tmp_path / "empty.png", face_image([]))
    ok = runner.invoke(app, ["enroll", "--gallery", gdir, "--name", "Red", str(img)])
    assert ok.exit_code == 0 and "enrolled 'Red': added 1 template(s)" in ok.stdout
    again = runner.invoke(app, ["enroll", "--gallery", gdir, "--name", "Red", str(img)])
    assert again.exit_code == 2 and "exists already" in again.output
    assert len(again.output.strip().splitlines()) == 1
    noface = runner.invoke(app, ["enroll", "--gallery", gdir, "--name", "X", str(img), str(empty)])
    assert noface.exit_code == 2 and "no face" in noface.output
    more = runner.invoke(
        app, ["enroll", "--gallery", gdir, "--name", "Red", "--append", str(img), "--json"]
    )
    assert json.loads(more.stdout)["templates"] == 2
    with Gallery.open(gdir) as g:
        assert [i.name for i in g.identities()] == ["Red"]
    other = runner.invoke(
        app, ["enroll", "--gallery", gdir, "--pack", "dlib-reference", "--name", "Y", str(img)]
    )
    assert other.exit_code == 2 and "pack 'dlib'" in other.output


def test_enroll_needs_names_or_folders(tmp_path: Path) -> None:
    result = runner.invoke(app, ["enroll", "--gallery", str(tmp_path / "g")])
    assert result.exit_code == 2 and "--name" in result.output


def test_identify_text_json_and_draw(enrolled: Path, tmp_path: Path) -> None:
    group = write_image(
        tmp_path / "group.png",
        face_image(
            [
                (PEOPLE["green"], 10, 10, 50),
                (PEOPLE["red"], 100, 20, 70),
                ((250, 250, 250), 200, 30, 60),
            ]
        ),
    )
    text = runner.invoke(app, ["identify", "--gallery", str(enrolled), str(group), "--top-k", "2"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].endswith("3 face(s)")
    assert " green " in lines[1] and " red " in lines[4] and " unknown " in lines[7]
    out = tmp_path / "drawn.png"
    js = runner.invoke(
        app, ["identify", "--gallery", str(enrolled), str(group), "--json", "--draw", str(out)]
    )
    faces = json.loads(js.stdout)[0]["faces"]
    assert [f["name"] for f in faces] == ["green", "red", "unknown"]
    assert faces[0]["box"] == [10, 10, 60, 60] and faces[0]["similarity"] > 0.9
    assert out.stat().st_size > 0
    strict = runner.invoke(
        app, ["identify", "--gallery", str(enrolled), str(group), "--json", "--threshold", "1"]
    )
    strict_faces = json.loads(strict.stdout)[0]["faces"]
    assert all(f["threshold"] == 1.0 for f in strict_faces)
    # the highest threshold there is: only a face identical to a template (cosine 1) passes
    assert all((f["name"] != "unknown") == (f["similarity"] >= 1.0) for f in strict_faces)
    assert {f["name"] for f in strict_faces if f["similarity"] < 1.0} == {"unknown"}


@pytest.mark.parametrize("command", ["people", "identify"])
def test_quiet_prints_only_json_warnings_and_errors(
    command: str, enrolled: Path, tmp_path: Path
) -> None:
    """--quiet is the same on a command without a progress bar (people) and with one
    (identify): no human-readable output on stdout or stderr; --json output still prints."""
    args = [command, "--gallery", str(enrolled)]
    if command == "identify":
        args.append(str(write_image(tmp_path / "q.png", face_image([(PEOPLE["red"], 9, 9, 60)]))))
    loud = runner.invoke(app, args)
    quiet = runner.invoke(app, [*args, "--quiet"])
    as_json = runner.invoke(app, [*args, "-q", "--json"])
    assert loud.exit_code == quiet.exit_code == as_json.exit_code == 0, loud.output
    assert "red" in loud.stdout
    assert quiet.stdout == "" and quiet.stderr == ""
    assert "red" in json.dumps(json.loads(as_json.stdout)) and as_json.stderr == ""


def test_identify_missing_gallery_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["identify", "--gallery", str(tmp_path / "none"), "x.jpg"])
    assert result.exit_code == 2 and "no gallery" in result.output


def test_search_with_thumbnails(enrolled: Path, tmp_path: Path) -> None:
    img = write_image(tmp_path / "q.png", person_image("cyan"))
    thumbs = tmp_path / "thumbs"
    result = runner.invoke(
        app,
        [
            "search",
            "--gallery",
            str(enrolled),
            str(img),
            "--top-k",
            "3",
            "--thumbnails",
            str(thumbs),
            "--json",
        ],
    )
    data = json.loads(result.stdout)
    assert data["matches"][0]["name"] == "cyan" and len(data["matches"]) == 3
    files = sorted(p.name for p in thumbs.iterdir())
    assert files[0] == "01_cyan.jpg" and len(files) == 3
    assert (thumbs / files[0]).read_bytes()[:2] == b"\xff\xd8"


def test_people_list_rename_remove(enrolled: Path) -> None:
    g = str(enrolled)
    listed = runner.invoke(app, ["people", "--gallery", g])
    assert listed.stdout.splitlines() == [f"     2  {n}" for n in sorted(PEOPLE)]
    renamed = runner.invoke(app, ["people", "--gallery", g, "--rename", "red", "Rouge", "--json"])
    assert "Rouge" in {i["name"] for i in json.loads(renamed.stdout)}
    removed = runner.invoke(app, ["people", "--gallery", g, "--remove", "Rouge", "--json"])
    assert "Rouge" not in {i["name"] for i in json.loads(removed.stdout)}
    missing = runner.invoke(app, ["people", "--gallery", g, "--remove", "nobody"])
    assert missing.exit_code == 2 and "no identity named 'nobody'" in missing.output


def test_index_show_switch_and_errors(enrolled: Path, tmp_path: Path) -> None:
    g = str(enrolled)
    shown = runner.invoke(app, ["index", "--gallery", g, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["backend"] == "exact"
    assert json.loads(shown.stdout)["templates"] == 10
    switched = runner.invoke(
        app,
        ["index", "--gallery", g, "--backend", "pq", "--param", "shortlist=64", "--json"],
    )
    assert switched.exit_code == 0, switched.output
    info = json.loads(switched.stdout)
    assert info["backend"] == "pq" and info["params"]["shortlist"] == 64
    with Gallery.open(enrolled) as gallery:  # saved in the settings, and still identifies
        assert gallery.index.name == "pq" and len(gallery.index) == 10
    group = write_image(tmp_path / "one.png", face_image([(PEOPLE["green"], 10, 10, 50)]))
    js = runner.invoke(app, ["identify", "--gallery", g, str(group), "--json"])
    assert json.loads(js.stdout)[0]["faces"][0]["name"] == "green"
    text = runner.invoke(app, ["index", "--gallery", g])
    assert "backend    pq" in text.stdout and "templates  10" in text.stdout
    for bad, message in [
        (["--backend", "annoy"], "unknown index backend 'annoy'"),
        (["--backend", "pq", "--param", "nonsense"], "expected NAME=VALUE"),
        (["--backend", "pq", "--param", "bogus=1"], "bad parameters"),
        (["--param", "shortlist=3"], "--param needs --backend"),
    ]:
        r = runner.invoke(app, ["index", "--gallery", g, *bad])
        assert r.exit_code == 2 and message in r.output, r.output
    with Gallery.open(enrolled) as gallery:  # a refused switch changes nothing
        assert gallery.index.name == "pq" and gallery.index.params["shortlist"] == 64
    missing = runner.invoke(app, ["index", "--gallery", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no gallery in" in missing.output
