"""The hostile-input corpus through the ``faceprint`` command line.

Each row: the exit code, one clear line on stderr (never a traceback), valid UTF-8 and valid JSON
on stdout, and the gallery's files byte-for-byte unchanged when the input was refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.gallery import Gallery
from hostile.checks import one_line, runnable, tree_digest
from hostile.corpus import IMAGE_CASES, NAME_CASES, STORE_CASES, Case

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, bytes, str]:
    """(exit code, stdout bytes, stderr text) of ``faceprint ARGS``; no exception escapes."""
    result = runner.invoke(app, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"faceprint {args[:3]} raised {result.exception!r}")
    stderr = result.stderr
    assert "Traceback" not in stderr and "Traceback" not in result.stdout, stderr[-2000:]
    return result.exit_code, result.stdout_bytes, stderr


def stderr_line(stderr: str) -> str:
    """The error a refused command prints: one ``error:`` line, or Click's usage error (its
    framed message joined into one line)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if lines and lines[0].startswith("Usage:"):
        framed = [ln.strip("│╭╮╰╯─ ") for ln in lines[2:]]
        return " ".join(f for f in framed if f and f != "Error")
    assert len(lines) == 1, f"expected one line, got {lines}"
    one_line(lines[0])
    return lines[0]


# --- every image row in one batch run (the run reports each file and carries on) -----------------
@pytest.mark.slow
def test_detect_reports_every_hostile_image_and_carries_on(tmp_path: Path) -> None:
    cases = [c for c in IMAGE_CASES if not c.skip]
    paths = []
    for i, case in enumerate(cases):
        folder = tmp_path / f"{i:02d}"
        folder.mkdir()
        paths.append(str(case.make(folder)))
    code, stdout, stderr = invoke(["detect", "--workers", "0", "--json", "--quiet", *paths])
    assert code == 2, stderr[-2000:]
    rows = json.loads(stdout.decode("utf-8"))  # strict UTF-8: names are escaped
    assert len(rows) == len(cases)
    for case, row in zip(cases, rows):
        if case.error is None:
            assert "faces" in row, (case.id, row)
            continue
        assert "error" in row, (case.id, row)
        one_line(row["error"])
        assert case.match.lower() in row["error"].lower(), (case.id, row["error"])
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == sum(c.error is not None for c in cases)


# --- names through `people --rename` and `people --json` -------------------------------------------
@pytest.mark.parametrize("case", runnable(NAME_CASES))
def test_name_via_people(case: Case, tmp_path: Path, hostile_gallery: Path) -> None:
    name = case.make(tmp_path)
    before = tree_digest(hostile_gallery)
    code, stdout, stderr = invoke(
        ["people", "--gallery", str(hostile_gallery), "--rename", "alice", name]
    )
    if case.error is not None:
        assert code == 2
        assert case.match.lower() in stderr_line(stderr).lower()
        assert tree_digest(hostile_gallery) == before
        return
    assert code == 0, stderr
    code, stdout, _ = invoke(["people", "--gallery", str(hostile_gallery), "--json"])
    names = {i["name"] for i in json.loads(stdout.decode("utf-8"))}
    assert names == {name.strip(), "bob", "carol"}
    code, stdout, _ = invoke(["people", "--gallery", str(hostile_gallery)])
    assert name.strip() in stdout.decode("utf-8"), "printed verbatim (no markup eaten)"


@pytest.mark.parametrize("target", ["[/b]bob", "[bold]x", "nobody [/Jr]"])
def test_markup_in_a_missing_name_is_printed_verbatim(target: str, hostile_gallery: Path) -> None:
    """Defect 4: `people --remove '[/b]bob'` crashed in Rich markup."""
    code, _out, stderr = invoke(["people", "--gallery", str(hostile_gallery), "--remove", target])
    assert code == 2 and target in stderr_line(stderr)


# --- the gallery's own files ------------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(STORE_CASES))
def test_damaged_gallery_file_via_people(case: Case, tmp_path: Path) -> None:
    folder = case.make(tmp_path)
    before = tree_digest(folder)
    code, _out, stderr = invoke(["people", "--gallery", str(folder)])
    assert code == 2
    assert case.match.lower() in stderr_line(stderr).lower()
    assert tree_digest(folder) == before


# --- arguments ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArgCase:
    """``faceprint ARGS`` (``{g}``: a gallery copy, ``{file}``: an existing file) must exit
    ``code`` with ``match`` in its one error line, the gallery unchanged."""

    id: str
    args: str
    code: int
    match: str


ARG_CASES = [
    ArgCase("top-k-zero", "search --gallery {g} {img} --top-k 0", 2, "top-k"),
    ArgCase("top-k-negative", "search --gallery {g} {img} --top-k -1", 2, "top-k"),
    ArgCase("top-k-float", "search --gallery {g} {img} --top-k 1e19", 2, "top-k"),
    ArgCase("top-k-text", "search --gallery {g} {img} --top-k many", 2, "top-k"),
    ArgCase("threshold-minus-5", "identify --gallery {g} {img} --threshold -5", 2, "threshold"),
    ArgCase("threshold-nan", "identify --gallery {g} {img} --threshold nan --json", 2, "threshold"),
    ArgCase("threshold-inf", "identify --gallery {g} {img} --threshold inf", 2, "threshold"),
    ArgCase("threshold-1.5", "identify --gallery {g} {img} --threshold 1.5", 2, "threshold"),
    ArgCase("upsample-20", "detect {img} --upsample 20", 2, "upsample"),
    ArgCase("aggregate-bogus", "search --gallery {g} {img} --aggregate median", 2, "aggregate"),
    ArgCase("face-bogus", "search --gallery {g} {img} --face biggest", 2, "--face"),
    ArgCase("param-not-int", "index --gallery {g} --backend pq --param shortlist=abc", 2, "must be int"),
    ArgCase("param-unknown", "index --gallery {g} --backend pq --param foo=1", 2, "unknown parameter 'foo'"),
    ArgCase("param-no-name", "index --gallery {g} --backend hnsw --param =3", 2, "NAME=VALUE"),
    ArgCase("param-no-equals", "index --gallery {g} --backend hnsw --param M", 2, "NAME=VALUE"),
    ArgCase("param-huge", "index --gallery {g} --backend hnsw --param M=1e400", 2, "M"),
    ArgCase("param-negative", "index --gallery {g} --backend hnsw --param M=-3", 2, "M >= 2"),
    ArgCase("param-without-backend", "index --gallery {g} --param M=8", 2, "--backend"),
    ArgCase("backend-unknown", "index --gallery {g} --backend faiss-gpu", 2, "unknown index backend"),
    ArgCase("gallery-is-a-file", "people --gallery {file}", 2, "no gallery"),
    ArgCase("enroll-gallery-is-a-file", "enroll --gallery {file} --name x {img}", 2, "is a file"),
    ArgCase("remove-missing", "people --gallery {g} --remove nobody", 2, "no identity"),
    ArgCase("rename-onto-existing", "people --gallery {g} --rename alice bob", 2, "exists already"),
    ArgCase("bench-param-bad", "bench search --n 10 --backend hnsw --param hnsw.M=x", 2, "M"),
    ArgCase("models-show-missing", "models show /nonexistent/pack.toml", 2, "unknown model pack"),
    ArgCase("evaluate-missing-folder", "evaluate lfw --data {g}/nothing", 2, "not found"),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ARG_CASES])
def test_bad_argument(case: ArgCase, tmp_path: Path, hostile_gallery: Path) -> None:
    afile = tmp_path / "plain.txt"
    afile.write_text("x")
    img = tmp_path / "query.png"
    img.write_bytes(b"")  # never read: the arguments are refused first
    args = case.args.format(g=hostile_gallery, file=afile, img=img).split()
    before = tree_digest(hostile_gallery)
    code, stdout, stderr = invoke(args)
    assert code == case.code, (code, stderr)
    assert case.match.lower() in stderr_line(stderr).lower()
    assert tree_digest(hostile_gallery) == before
    if "--json" in args and stdout.strip():
        json.loads(stdout.decode("utf-8"))


# --- defects that need a real face (models of the default pack; no shared data) --------------------
@pytest.mark.data
@pytest.mark.slow
def test_search_with_a_billion_top_k_is_refused_before_allocating(
    photos: Path, hostile_gallery: Path
) -> None:
    """Defect 1: `search --top-k 1000000000` allocated (faces x top_k) arrays and was killed."""
    code, _out, stderr = invoke(
        [
            "search",
            "--gallery",
            str(hostile_gallery),
            str(photos / "obama.jpg"),
            "--top-k",
            "1000000000",
        ]
    )
    assert code == 2 and "top" in stderr_line(stderr).lower()
    code, out, stderr = invoke(
        [
            "search",
            "--gallery",
            str(hostile_gallery),
            str(photos / "obama.jpg"),
            "--top-k",
            "10000",
            "--json",
        ]
    )
    assert code == 0, stderr
    assert len(json.loads(out)["matches"]) == 3  # clamped to the gallery's identities


@pytest.mark.data
@pytest.mark.slow
def test_markup_name_enrolment_reports_what_it_added(photos: Path, tmp_path: Path) -> None:
    """Defects 4 and 15: `enroll --name 'John [/Jr]'` saved the person then crashed in Rich
    markup; the count printed was the total, not what the command added."""
    target = tmp_path / "gallery"
    code, out, _err = invoke(
        ["enroll", "--gallery", str(target), "--name", "John [/Jr]", str(photos / "obama.jpg")]
    )
    assert code == 0 and "John [/Jr]" in out.decode() and "added 1 template" in out.decode()
    code, out, _err = invoke(
        ["enroll", "--gallery", str(target), "--name", "John [/Jr]", "--append",
         str(photos / "obama2.jpg"), str(photos / "obama_small.jpg")]
    )  # fmt: skip
    assert code == 0 and "added 2 template(s) (3 in all)" in out.decode(), out


@pytest.mark.data
@pytest.mark.slow
def test_non_utf8_names_in_folder_enrolment(photos: Path, tmp_path: Path) -> None:
    """Defect 9: a file name that is not UTF-8 stopped `enroll --folders`, named no file, and
    the --json output held invalid UTF-8."""
    root = os.fsencode(tmp_path / "people")
    os.makedirs(root + b"/Obama")
    os.makedirs(root + b"/Jos\xe9")
    data = (photos / "obama.jpg").read_bytes()
    for where in (b"/Obama/ok.jpg", b"/Obama/caf\xe9.jpg", b"/Jos\xe9/a.jpg"):
        with open(root + where, "wb") as f:
            f.write(data)
    gdir = tmp_path / "g"
    code, out, stderr = invoke(
        [
            "enroll",
            "--gallery",
            str(gdir),
            "--folders",
            os.fsdecode(root),
            "--json",
            "--workers",
            "0",
        ]
    )
    assert code == 0, stderr
    report = json.loads(out.decode("utf-8"))
    by_file = {Path(f["file"]).name: f for f in report["files"]}
    assert by_file["caf\\xe9.jpg"]["status"] == "enrolled"
    assert by_file["a.jpg"]["status"] == "unreadable" and "Jos\\xe9" in by_file["a.jpg"]["reason"]
    with Gallery.open(gdir) as g:
        assert [(i.name, i.template_count) for i in g.identities()] == [("Obama", 2)]
