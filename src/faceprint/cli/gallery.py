"""``faceprint enroll``, ``identify``, ``search``, ``people`` and ``index``: the gallery from the
shell."""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from faceprint.batch import Engine, ImageResult
from faceprint.cli._app import app
from faceprint.cli._common import (
    DetectorOption,
    JsonOption,
    QuietOption,
    RayOption,
    ThresholdOption,
    WorkersOption,
    analyze_paths,
    chosen_pack,
    draw_paths,
    err,
    errors_to_exit,
    face_choice,
    fail,
    make_engine,
    note,
    out,
    param_value,
    print_json,
    progress,
    report_error,
)
from faceprint.draw import draw_faces, save_image
from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.gallery import Aggregate, EnrollReport, Gallery, IdentifiedFace, Match, scan_folders
from faceprint.gallery.live import INDEX_NAME
from faceprint.gallery.store import DB_NAME
from faceprint.imageio import load_image, printable
from faceprint.index import list_backends
from faceprint.packs import DEFAULT_PACK, get_pack
from faceprint.pipeline import AUGMENTS, EmbeddingSpace, FaceAnalyzer, FaceChoice

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


def _open_or_create(directory: Path, pack: str | None, augment: str | None = None) -> Gallery:
    with errors_to_exit():
        if not Gallery.exists(directory):
            return Gallery.create(directory, pack or DEFAULT_PACK, augment=augment or "none")  # type: ignore[arg-type]
        gallery = Gallery.open(directory)
        if pack is not None:
            try:
                wanted = EmbeddingSpace(get_pack(pack).name, gallery.augment)
                gallery.space.check(wanted, holder=str(directory), source=directory)
            except BaseException:
                gallery.close()
                raise
        return gallery


def _analyzer(gallery: Gallery, augment: str | None = None) -> FaceAnalyzer:
    """An in-process analyzer for the gallery's pack (and its augmentation unless given)."""
    with errors_to_exit():
        chosen = augment or _gallery_augment(gallery)
        if chosen not in AUGMENTS:
            raise InvalidArgumentError(
                f"--augment must be one of {', '.join(AUGMENTS)}, got {chosen!r}"
            )
        return FaceAnalyzer(gallery.pack, augment=chosen)  # type: ignore[arg-type]


def _gallery_augment(gallery: Gallery) -> str:
    """The test-time augmentation the gallery's templates were made with."""
    return str(getattr(gallery, "augment", "none"))


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
        str | None, typer.Option(help=f"Model pack of a new gallery (default: {DEFAULT_PACK}).")
    ] = None,
    detector: DetectorOption = None,
    append: Annotated[
        bool,
        typer.Option(
            help="Add the templates to the identity of exactly this name when it exists "
            "(without it, an existing name is refused; a different spelling is a new identity)."
        ),
    ] = False,
    face: FaceOption = "largest",
    augment: Annotated[
        str | None,
        typer.Option(
            "--augment",
            help="Test-time augmentation of a new gallery: none or flip (2x embed cost); "
            "an existing gallery keeps its own.",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
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
    pack = chosen_pack(pack, detector)
    with _discard_if_unused(gallery_dir), _open_or_create(gallery_dir, pack, augment) as gallery:
        augment = augment or _gallery_augment(gallery)
        if folders is not None:
            engine = make_engine(gallery.pack, workers=workers, augment=augment, ray=ray)
            with engine:
                _enroll_folders(gallery, engine, folders, choice, append, json_, quiet)
            return
        fa = _analyzer(gallery, augment)
        with errors_to_exit():
            ident = gallery.enroll(name or "", images or [], fa, face=choice, append=append)
    added = len(images or [])
    if json_:
        print_json({**ident.to_dict(), "added": added})
    else:
        out.print(
            f"enrolled {ident.name!r}: added {added} template(s) "
            f"({ident.template_count} in all) in {gallery_dir}",
            markup=False,
        )


@contextmanager
def _discard_if_unused(directory: Path) -> Iterator[None]:
    """Remove a gallery this command created when it ends holding no identity (a failed or
    empty enrolment leaves the disk as it was, folders it created included)."""
    new_dirs = _missing_dirs(directory)
    created = not Gallery.exists(directory)
    try:
        yield
    finally:
        if created and Gallery.exists(directory):
            _remove_if_empty(directory, new_dirs)


def _missing_dirs(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    missing: list[Path] = []
    path = directory.absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_if_empty(directory: Path, new_dirs: list[Path]) -> None:
    try:
        with Gallery.open(directory) as g:
            if len(g):
                return
    except FaceprintError:
        return  # not ours to judge: leave it
    for path in [*sorted(directory.glob(f"{DB_NAME}*")), directory / INDEX_NAME]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for folder in new_dirs:  # only the folders this command made, and only when empty
        with suppress(OSError):
            folder.rmdir()


def _enroll_folders(
    gallery: Gallery,
    engine: Engine,
    root: Path,
    choice: FaceChoice,
    append: bool,
    json_: bool,
    quiet: bool,
) -> None:
    with errors_to_exit():
        total = len(scan_folders(root))
        outcomes = gallery.iter_enroll_folders(root, engine, face=choice, append=append)
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
    threshold: ThresholdOption = None,
    aggregate: AggregateOption = "max",
    draw: Annotated[
        Path | None,
        typer.Option(help="Write the image with labelled faces (a folder for several images)."),
    ] = None,
    workers: WorkersOption = None,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Name every face in each image (or `unknown` below the threshold)."""
    agg = _aggregate(aggregate)
    targets = draw_paths(draw, images)
    with _open(gallery_dir) as gallery:
        engine = make_engine(gallery.pack, workers=workers, augment=_gallery_augment(gallery))
        results: list[dict[str, Any]] = []
        failed = 0
        with engine:
            for r in analyze_paths(engine, images, description="identify", quiet=quiet):
                try:
                    if r.error is not None or r.faces is None:
                        raise r.error or FaceprintError(f"{r.source}: not analysed")
                    found = gallery.identify(
                        r.faces, threshold=threshold, top_k=top_k, aggregate=agg
                    )
                    target = targets[r.index]
                    if target is not None:
                        _draw(load_image(images[r.index]), found, target)
                except FaceprintError as exc:
                    failed += 1
                    results.append({"file": r.source, "error": str(exc)})
                    report_error(ImageResult(r.index, r.source, error=exc))
                    continue
                results.append({"file": r.source, "faces": [f.to_dict() for f in found]})
                if not json_:
                    out.print(f"{printable(r.source)}: {len(found)} face(s)")
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
    if folder.exists() and not folder.is_dir():
        raise fail(f"--thumbnails {folder}: is a file, not a folder")
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
            note.print(f"removed {remove!r} and {n} template(s)")
        if rename is not None:
            gallery.rename(*rename)
            note.print(f"renamed {rename[0]!r} to {rename[1]!r}")
        identities = gallery.identities()
    if json_:
        print_json([i.to_dict() for i in identities])
        return
    for ident in identities:
        out.print(f"{ident.template_count:>6}  {ident.name}", markup=False)
    total = sum(i.template_count for i in identities)
    note.print(f"{len(identities)} identities, {total} templates")


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
            note.print(f"index rebuilt as {backend!r} in {time.perf_counter() - start:.1f} s")
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


@app.command()
def migrate(
    gallery_dir: GalleryOption,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the new gallery (must not hold one).")
    ],
    pack: Annotated[
        str | None, typer.Option(help=f"Pack of the new gallery (default: {DEFAULT_PACK}).")
    ] = None,
    detector: DetectorOption = None,
    root: Annotated[
        Path | None, typer.Option(help="Folder that relative source paths are relative to.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Re-embed a gallery with today's default (or --pack) into a new gallery at --out, from the
    stored source files; the templates whose file is gone are listed. The old gallery is kept."""
    from faceprint.gallery.migrate import migrate_gallery

    chosen = chosen_pack(pack, detector) or DEFAULT_PACK
    if not Gallery.exists(gallery_dir):
        raise fail(f"no gallery in {gallery_dir}")
    with errors_to_exit():
        report = migrate_gallery(gallery_dir, out_dir, chosen, root=root)
    if json_:
        print_json(report.to_dict())
        return
    out.print(
        f"{report.migrated} of {report.templates} templates re-embedded with pack "
        f"{report.pack} into {printable(report.target)}",
        markup=False,
    )
    for name, source, why in report.not_migrated:
        err.print(f"not migrated: {printable(name)}: {printable(source)}: {why}", markup=False)
    for name in report.identities_dropped:
        err.print(
            f"identity left out (no template could be re-made): {printable(name)}", markup=False
        )
