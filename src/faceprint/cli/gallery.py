"""``faceprint enroll``, ``identify``, ``search``, ``people`` and ``index``: the gallery from the
shell."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from faceprint.cli import app
from faceprint.cli._common import (
    JsonOption,
    QuietOption,
    draw_target,
    errors_to_exit,
    face_choice,
    fail,
    out,
    param_value,
    print_json,
    progress,
)
from faceprint.draw import draw_faces, save_image
from faceprint.errors import FaceprintError, PackMismatchError
from faceprint.gallery import Aggregate, EnrollReport, Gallery, IdentifiedFace, Match, scan_folders
from faceprint.gallery.index import list_backends
from faceprint.imageio import load_image
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import FaceAnalyzer, FaceChoice

GalleryOption = Annotated[
    Path, typer.Option("--gallery", help="Gallery directory.", show_default=False)
]
FaceOption = Annotated[
    str,
    typer.Option(help="Which face of an image: largest, center, only, or an index."),
]
TopKOption = Annotated[int, typer.Option("--top-k", min=1, help="Candidate identities per face.")]
AggregateOption = Annotated[
    str, typer.Option(help="An identity's score from its templates: max or mean.")
]


def _open(directory: Path) -> Gallery:
    if not Gallery.exists(directory):
        raise fail(f"no gallery in {directory}; create one with `faceprint enroll --gallery DIR`")
    with errors_to_exit():
        return Gallery.open(directory)


def _open_or_create(directory: Path, pack: str | None) -> Gallery:
    with errors_to_exit():
        if not Gallery.exists(directory):
            return Gallery.create(directory, pack or DEFAULT_PACK)
        gallery = Gallery.open(directory)
        if pack is not None and pack != gallery.pack:
            gallery.close()
            raise PackMismatchError(
                f"{directory} holds embeddings of pack {gallery.pack!r}, not {pack!r}; "
                "drop --pack or use another gallery"
            )
        return gallery


def _analyzer(gallery: Gallery) -> FaceAnalyzer:
    with errors_to_exit():
        return FaceAnalyzer(gallery.pack)


def _aggregate(value: str) -> Aggregate:
    if value not in ("max", "mean"):
        raise fail(f"--aggregate must be max or mean, got {value!r}")
    return cast(Aggregate, value)


@app.command()
def enroll(
    gallery_dir: GalleryOption,
    images: Annotated[
        list[Path] | None, typer.Argument(help="Images of one person.", show_default=False)
    ] = None,
    name: Annotated[str | None, typer.Option(help="The person's name.")] = None,
    folders: Annotated[
        Path | None, typer.Option(help="Folder tree with one subfolder per person.")
    ] = None,
    pack: Annotated[
        str | None, typer.Option(help="Model pack of a new gallery (default: dlib).")
    ] = None,
    append: Annotated[bool, typer.Option(help="Add to identities that exist already.")] = False,
    face: FaceOption = "largest",
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Enrol a person from images (--name NAME IMAGE...) or everyone in --folders ROOT.

    Creates the gallery when absent. Uses the largest face unless two are of similar size (--face).
    """
    choice = face_choice(face)
    if (folders is None) == (name is None):
        raise fail("give either --name NAME IMAGE... or --folders ROOT")
    if name is not None and not images:
        raise fail("--name needs at least one IMAGE")
    if folders is not None and images:
        raise fail("--folders takes no IMAGE arguments")
    with _open_or_create(gallery_dir, pack) as gallery:
        fa = _analyzer(gallery)
        if folders is not None:
            _enroll_folders(gallery, fa, folders, choice, append, json_, quiet)
            return
        with errors_to_exit():
            ident = gallery.enroll(name or "", images or [], fa, face=choice, append=append)
    if json_:
        print_json(ident.to_dict())
    else:
        out.print(f"enrolled {ident.name!r}: {ident.template_count} template(s) in {gallery_dir}")


def _enroll_folders(
    gallery: Gallery,
    fa: FaceAnalyzer,
    root: Path,
    choice: FaceChoice,
    append: bool,
    json_: bool,
    quiet: bool,
) -> None:
    with errors_to_exit():
        total = len(scan_folders(root))
        outcomes = gallery.iter_enroll_folders(root, fa, face=choice, append=append)
        report = EnrollReport(
            tuple(progress(outcomes, total=total, description="enrol", quiet=quiet))
        )
    if json_:
        print_json(report.to_dict())
        return
    for o in report.skipped:
        print(f"skipped {o.path} ({o.status}): {o.reason}", file=sys.stderr)
    counts = report.counts()
    people = len({o.name for o in report.enrolled})
    skipped = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "enrolled")
    out.print(
        f"enrolled {counts.get('enrolled', 0)} file(s) of {people} person(s); "
        f"skipped {len(report.skipped)} file(s){f' ({skipped})' if skipped else ''}"
    )


def _face_lines(result: IdentifiedFace, index: int, top_k: int) -> list[str]:
    box = ", ".join(f"{v:.0f}" for v in result.face.box) if result.face is not None else ""
    sim = f"{result.similarity:.4f}" if result.matches else "-"
    lines = [f"  [{index}] box=({box}) {result.label} {sim}"]
    if top_k > 1:
        lines += [
            f"        {r + 1}. {m.name} {m.similarity:.4f}" for r, m in enumerate(result.matches)
        ]
    return lines


@app.command()
def identify(
    gallery_dir: GalleryOption,
    images: Annotated[list[Path], typer.Argument(help="Query images.", show_default=False)],
    top_k: TopKOption = 1,
    threshold: Annotated[
        float | None,
        typer.Option(help="Cosine threshold (default: the gallery's saved one, else the pack's)."),
    ] = None,
    aggregate: AggregateOption = "max",
    draw: Annotated[
        Path | None,
        typer.Option(help="Write the image with labelled faces (a folder for several images)."),
    ] = None,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Name every face in each image (or `unknown` below the threshold)."""
    agg = _aggregate(aggregate)
    with _open(gallery_dir) as gallery:
        fa = _analyzer(gallery)
        target = draw_target(draw, len(images))
        results: list[dict[str, Any]] = []
        failed = 0
        for path in progress(images, total=len(images), description="identify", quiet=quiet):
            try:
                rgb = load_image(path)
                found = gallery.identify(
                    fa.analyze(rgb), threshold=threshold, top_k=top_k, aggregate=agg
                )
                if target is not None:
                    _draw(rgb, found, target if len(images) == 1 else target / f"{path.stem}.png")
            except FaceprintError as exc:
                failed += 1
                results.append({"file": str(path), "error": str(exc)})
                print(f"error: {exc}", file=sys.stderr)
                continue
            results.append({"file": str(path), "faces": [f.to_dict() for f in found]})
            if not json_:
                out.print(f"{path}: {len(found)} face(s)")
                for i, f in enumerate(found):
                    out.print("\n".join(_face_lines(f, i, top_k)), markup=False)
    if json_:
        print_json(results)
    if failed:
        raise typer.Exit(2)


def _draw(rgb: object, found: list[IdentifiedFace], dest: Path) -> None:
    from faceprint.types import Face, Faces

    faces = Faces.from_list([f.face for f in found if isinstance(f.face, Face)])
    labels = [f"{f.label} {f.similarity:.2f}" if f.matches else f.label for f in found]
    save_image(dest, draw_faces(rgb, faces, labels, unknown=[not f.known for f in found]))  # type: ignore[arg-type]


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "identity"


@app.command()
def search(
    gallery_dir: GalleryOption,
    image: Annotated[Path, typer.Argument(help="Query image.", show_default=False)],
    top_k: TopKOption = 5,
    face: FaceOption = "largest",
    aggregate: AggregateOption = "max",
    thumbnails: Annotated[
        Path | None, typer.Option(help="Write the matches' thumbnails (JPEG) to this folder.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Whom does the face resemble most? The top-k nearest identities, whatever the threshold."""
    choice = face_choice(face)
    agg = _aggregate(aggregate)
    with _open(gallery_dir) as gallery:
        fa = _analyzer(gallery)
        with errors_to_exit():
            query = fa.embed_one(image, face=choice)
            matches = gallery.search(query.embedding, top_k=top_k, aggregate=agg)[0]  # type: ignore[arg-type]
            files = _write_thumbnails(matches, thumbnails) if thumbnails is not None else {}
    if json_:
        rows = [{**m.to_dict(), "thumbnail": files.get(m.template_id)} for m in matches]
        print_json(
            {"file": str(image), "box": [round(float(v), 2) for v in query.box], "matches": rows}
        )
        return
    out.print(f"{image}: nearest {len(matches)} of the gallery")
    for rank, m in enumerate(matches, 1):
        extra = f"  {files[m.template_id]}" if m.template_id in files else ""
        out.print(f"  {rank}. {m.name} {m.similarity:.4f}{extra}", markup=False)


def _write_thumbnails(matches: tuple[Match, ...], folder: Path) -> dict[int, str]:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[int, str] = {}
    for rank, m in enumerate(matches, 1):
        if m.thumbnail is None:
            continue
        dest = folder / f"{rank:02d}_{_safe(m.name)}.jpg"
        dest.write_bytes(m.thumbnail)
        files[m.template_id] = str(dest)
    return files


@app.command()
def people(
    gallery_dir: GalleryOption,
    remove: Annotated[
        str | None, typer.Option(help="Delete this identity and all its templates.")
    ] = None,
    rename: Annotated[
        tuple[str, str] | None, typer.Option(help="Rename identity OLD to NEW.", metavar="OLD NEW")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """List the enrolled identities with their template counts; --remove or --rename one."""
    with _open(gallery_dir) as gallery, errors_to_exit():
        if remove is not None:
            n = gallery.remove(remove)
            print(f"removed {remove!r} and {n} template(s)", file=sys.stderr)
        if rename is not None:
            gallery.rename(*rename)
            print(f"renamed {rename[0]!r} to {rename[1]!r}", file=sys.stderr)
        identities = gallery.identities()
    if json_:
        print_json([i.to_dict() for i in identities])
        return
    for ident in identities:
        out.print(f"{ident.template_count:>6}  {ident.name}", markup=False)
    total = sum(i.template_count for i in identities)
    print(f"{len(identities)} identities, {total} templates", file=sys.stderr)


def _index_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` items (value as JSON when it parses, else a string)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise fail(f"--param {item!r}: expected NAME=VALUE, e.g. shortlist=512")
        params[name] = param_value(raw)
    return params


@app.command("index")
def index_cmd(
    gallery_dir: GalleryOption,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Switch to this index backend and rebuild it from the gallery "
            f"({', '.join(list_backends())}).",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Backend parameter NAME=VALUE (repeatable), with --backend."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Show the gallery's vector index (backend, parameters, size, memory); --backend switches it."""
    if param and backend is None:
        raise fail("--param needs --backend (the parameters belong to a backend)")
    params = _index_params(param or [])
    with _open(gallery_dir) as gallery, errors_to_exit():
        if backend is not None:
            start = time.perf_counter()
            gallery.set_index(backend, **params)
            print(
                f"index rebuilt as {backend!r} in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
        index = gallery.index
        info: dict[str, Any] = {
            "backend": index.name,
            "params": index.params,
            "templates": len(index),
            "ram_bytes": int(index.nbytes),
            "mapped_bytes": int(getattr(index, "mapped_bytes", 0)),
        }
    if json_:
        print_json(info)
        return
    params_text = " ".join(f"{k}={v}" for k, v in info["params"].items())
    out.print(f"backend    {info['backend']}", markup=False)
    out.print(f"params     {params_text}", markup=False)
    out.print(f"templates  {info['templates']}", markup=False)
    out.print(f"RAM        {info['ram_bytes'] / 1e6:.1f} MB", markup=False)
    if info["mapped_bytes"]:
        out.print(
            f"mapped     {info['mapped_bytes'] / 1e6:.1f} MB (memory-mapped file)", markup=False
        )
