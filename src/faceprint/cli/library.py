"""``faceprint library ...``: index a photo tree, cluster faces, name people, find their photos."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    Progress,
)

from faceprint.cli._app import app
from faceprint.cli._common import (
    DetectorOption,
    JsonOption,
    QuietOption,
    RayOption,
    WorkersOption,
    chosen_pack,
    err,
    errors_to_exit,
    fail,
    note,
    out,
    print_json,
    progress_columns,
)
from faceprint.library import (
    ClusterInfo,
    Library,
    ScanReport,
    to_jsonable,
)
from faceprint.library.clustering import DEFAULT_MIN_SIZE, DEFAULT_QUALITY_FLOOR
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import AUGMENTS, DEFAULT_MAX_SIDE

library_app = typer.Typer(
    name="library",
    help="Photo library: scan a folder tree, cluster faces by person, name them, find photos.",
    no_args_is_help=True,
)
app.add_typer(library_app)

LibraryOption = Annotated[
    Path,
    typer.Option(
        "--library",
        "-l",
        envvar="FACEPRINT_LIBRARY",
        help="Library directory (never inside the photo tree). Env: FACEPRINT_LIBRARY.",
        show_default=False,
    ),
]


def _open(directory: Path) -> Library:
    if not Library.exists(directory):
        raise fail(f"no photo library in {directory}; create one with `faceprint library scan`")
    with errors_to_exit():
        return Library.open(directory)


@contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar with ETA on stderr (or ``None``)."""
    if quiet or not err.is_terminal:
        yield None
        return
    with Progress(*progress_columns("scanning"), console=err, transient=True) as bar:
        task = bar.add_task("scan", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@library_app.command()
def scan(
    root: Annotated[Path, typer.Argument(help="The photo tree (read only).", show_default=False)],
    library: LibraryOption,
    gallery: Annotated[
        Path | None,
        typer.Option(help="Gallery for named people (new library only; default LIBRARY/people)."),
    ] = None,
    pack: Annotated[
        str | None, typer.Option(help=f"Model pack of a new library (default {DEFAULT_PACK}).")
    ] = None,
    detector: DetectorOption = None,
    augment: Annotated[
        str | None,
        typer.Option(
            help="Test-time augmentation of a new library: flip (default for a new gallery: each "
            "face also embedded mirrored; clusters better) or none; an existing gallery's is kept.",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
    max_side: Annotated[
        int, typer.Option(min=64, help="Detect on a copy downscaled to this longer side (px).")
    ] = DEFAULT_MAX_SIDE or 2048,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Index new and changed photos under ROOT (incremental; safe to kill and re-run)."""
    pack = chosen_pack(pack, detector)
    with errors_to_exit():
        if Library.exists(library):
            lib = Library.open(library)
        else:
            if augment is not None and augment not in AUGMENTS:
                raise fail(f"--augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
            lib = Library.create(library, pack=pack, gallery=gallery, augment=augment)  # type: ignore[arg-type]
    with lib, errors_to_exit(), _progress_bar(quiet or json_) as bar:
        report = lib.scan(root, workers=workers, max_side=max_side, progress=bar, ray=ray)
    if json_:
        print_json(to_jsonable(report))
    else:
        _print_scan(report)


def _print_scan(r: ScanReport) -> None:
    rate = (r.added + r.changed) / r.seconds if r.seconds > 0 else 0.0
    out.print(
        f"{r.files} photos in {r.root}: {r.added} new, {r.changed} changed, {r.moved} moved, "
        f"{r.deleted} deleted, {r.unchanged} unchanged; {r.faces_added} faces added "
        f"({r.named} named automatically), {r.faces_removed} removed; {len(r.errors)} errors, "
        f"{len(r.skipped)} skipped; {r.seconds:.1f} s ({rate:.1f} photos/s, "
        f"CPU {r.cpu_seconds:.1f} s)",
        markup=False,
    )
    for p in r.errors:
        err.print(f"error: {p.path}: {p.reason}", markup=False)
    for p in r.skipped:
        err.print(f"skipped: {p.path}: {p.reason}", markup=False)


@library_app.command()
def cluster(
    library: LibraryOption,
    threshold: Annotated[
        float | None, typer.Option(help="Cosine similarity threshold (default: the method's).")
    ] = None,
    min_size: Annotated[int, typer.Option(min=1, help="Smallest cluster listed.")] = (
        DEFAULT_MIN_SIZE
    ),
    quality_floor: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Faces below this quality stay unclustered.")
    ] = DEFAULT_QUALITY_FLOOR,
    method: Annotated[str, typer.Option(help="Clustering method (see faceprint.cluster).")] = (
        "default"
    ),
    json_: JsonOption = False,
) -> None:
    """Group the faces nobody named yet into clusters (named faces never move)."""
    with _open(library) as lib, errors_to_exit():
        report = lib.cluster(
            threshold=threshold, min_size=min_size, quality_floor=quality_floor, method=method
        )
    if json_:
        print_json(to_jsonable(report))
        return
    out.print(
        f"{report.faces} faces: {report.clusters} unnamed clusters ({report.clustered} faces), "
        f"{report.named} joined named people, {report.fixed} named kept, "
        f"{report.unclustered} unclustered; {report.seconds:.2f} s",
        markup=False,
    )


@library_app.command("clusters")
def list_clusters(
    library: LibraryOption,
    sheets: Annotated[
        Path | None, typer.Option(help="Write a contact-sheet PNG per cluster in this folder.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many clusters.")] = None,
    json_: JsonOption = False,
) -> None:
    """Clusters largest first (id, size, name) and the unclustered faces."""
    with _open(library) as lib, errors_to_exit():
        listing = lib.clusters(limit=limit)
        if sheets is not None:
            sheets.mkdir(parents=True, exist_ok=True)
            for c in listing.clusters:
                (sheets / f"cluster_{c.id}.png").write_bytes(lib.sheet(c.id))
    if json_:
        print_json(to_jsonable(listing))
        return
    for c in listing.clusters:
        out.print(_cluster_line(c), markup=False)
    out.print(f"unclustered: {len(listing.unclustered)} faces", markup=False)
    if sheets is not None:
        out.print(f"contact sheets in {sheets}", markup=False)


def _cluster_line(c: ClusterInfo) -> str:
    photos = len({f.photo_id for f in c.faces})
    return f"{c.id:>6}  {c.size:>5} faces  {photos:>5} photos  {c.name or '(unnamed)'}"


@library_app.command()
def label(
    cluster_id: Annotated[int, typer.Argument(metavar="CLUSTER", help="Cluster id.")],
    name: Annotated[str, typer.Argument(help="The person's name.")],
    library: LibraryOption,
    append: Annotated[
        bool, typer.Option("--append", help="Add the cluster to a person who exists already.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Name a cluster (creates the person in the gallery; --append adds to an existing one)."""
    with _open(library) as lib, errors_to_exit():
        info = lib.label(cluster_id, name, append=append)
    _print_cluster(info, json_, f"cluster {cluster_id} is now {info.name}")


def _print_cluster(info: ClusterInfo, json_: bool, message: str) -> None:
    if json_:
        print_json(to_jsonable(info))
    else:
        out.print(f"{message} ({info.size} faces, cluster {info.id})", markup=False)


@library_app.command()
def merge(
    into: Annotated[int, typer.Argument(metavar="A", help="Cluster that stays.")],
    other: Annotated[int, typer.Argument(metavar="B", help="Cluster merged into A.")],
    library: LibraryOption,
    json_: JsonOption = False,
) -> None:
    """Merge cluster B into cluster A (a named one keeps its name)."""
    with _open(library) as lib, errors_to_exit():
        info = lib.merge(into, other)
    _print_cluster(info, json_, f"merged {other} into {info.id} ({info.name or 'unnamed'})")


@library_app.command()
def remove(
    face: Annotated[int, typer.Argument(metavar="FACE", help="Face id (on the contact sheets).")],
    library: LibraryOption,
    json_: JsonOption = False,
) -> None:
    """ "Not this person": take a face out of its person or cluster, for good."""
    with _open(library) as lib, errors_to_exit():
        record = lib.remove_face(face)
    if json_:
        print_json(to_jsonable(record))
    else:
        out.print(f"face {face} ({record.path}) removed from its cluster", markup=False)


@library_app.command()
def rename(
    old: Annotated[str, typer.Argument(help="Current name.")],
    new: Annotated[str, typer.Argument(help="New name.")],
    library: LibraryOption,
    json_: JsonOption = False,
) -> None:
    """Rename a person (library and gallery)."""
    with _open(library) as lib, errors_to_exit():
        info = lib.rename(old, new)
    _print_cluster(info, json_, f"renamed {old} to {new}")


@library_app.command()
def forget(
    name: Annotated[str, typer.Argument(help="The person to forget.")],
    library: LibraryOption,
    json_: JsonOption = False,
) -> None:
    """Remove a person and every trace of them (their faces become unnamed)."""
    with _open(library) as lib, errors_to_exit():
        freed = lib.forget(name)
    if json_:
        print_json({"forgotten": name, "faces_freed": freed})
    else:
        out.print(f"forgot {name}: {freed} faces are unnamed again", markup=False)


@library_app.command()
def find(
    library: LibraryOption,
    name: Annotated[str | None, typer.Argument(help="The person.", show_default=False)] = None,
    with_: Annotated[
        list[str] | None, typer.Option("--with", help="Also showing this person (repeatable).")
    ] = None,
    without: Annotated[
        list[str] | None, typer.Option(help="Not showing this person (repeatable).")
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="Taken on or after (YYYY[-MM[-DD]]).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Taken on or before (YYYY[-MM[-DD]]).")
    ] = None,
    face: Annotated[
        Path | None, typer.Option(help="Find whoever is in this photo instead of by name.")
    ] = None,
    slideshow: Annotated[
        Path | None, typer.Option(help="Write a folder of numbered symlinks to the photos.")
    ] = None,
    sheet: Annotated[Path | None, typer.Option(help="Write a contact-sheet PNG.")] = None,
    json_: JsonOption = False,
) -> None:
    """Every photo of a person, oldest first (or of whoever is in --face PHOTO)."""
    if (name is None) == (face is None):
        raise fail("give a NAME or --face PHOTO")
    with _open(library) as lib, errors_to_exit():
        if face is not None:
            photos = lib.find_by_face(face)
        else:
            photos = lib.find(
                name or "",
                with_=with_ or (),
                without=without or (),
                date_from=date_from,
                date_to=date_to,
            )
        if slideshow is not None:
            lib.write_slideshow(photos, slideshow)
        if sheet is not None:
            sheet.write_bytes(lib.photos_sheet(photos, title=name or str(face)))
        root = lib.root
    if json_:
        print_json({"photos": to_jsonable(photos)})
        return
    for p in photos:
        out.print(f"{p.taken or p.mtime}  {root / p.path if root else p.path}", markup=False)
    note.print(f"{len(photos)} photos", markup=False)


@library_app.command()
def status(library: LibraryOption, json_: JsonOption = False) -> None:
    """Counts of photos, faces, clusters and people."""
    with _open(library) as lib, errors_to_exit():
        st = lib.status()
    if json_:
        print_json(to_jsonable(st))
        return
    out.print(
        f"library {st.library} (root {st.root}, pack {st.pack}, augment {st.augment}): {st.photos} photos, "
        f"{st.faces} faces, {st.clusters} clusters, {st.named} named faces, "
        f"{st.unclustered} unclustered, {st.problems} files with problems",
        markup=False,
    )
    if st.people:
        out.print("people: " + ", ".join(st.people), markup=False)
