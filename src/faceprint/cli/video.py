"""``faceprint video screentime | index | find``: screen time per person and video search."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from faceprint.batch import Engine
from faceprint.cli._app import app
from faceprint.cli._common import (
    DetectorOption,
    JsonOption,
    QuietOption,
    RayOption,
    chosen_pack,
    err,
    errors_to_exit,
    fail,
    make_engine,
    out,
    print_json,
)
from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.gallery import Gallery
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import DEFAULT_MAX_SIDE, Augment, FaceAnalyzer

if TYPE_CHECKING:  # the video modules are imported when a video command runs
    from faceprint.video.index import VideoIndex, VideoRange
    from faceprint.video.screentime import Cast, ProgressCallback, VideoOptions
    from faceprint.video.types import ScreenTime

video_app = typer.Typer(
    name="video",
    help="Screen time per person in a video, and search across indexed videos.",
    no_args_is_help=True,
)
app.add_typer(video_app, name="video")


@video_app.callback()
def _video_needs_av() -> None:
    """Every video command decodes with PyAV: without it, one line names the extra."""
    from faceprint._optional import require

    with errors_to_exit():
        require("av", feature="faceprint video")


GalleryOpt = Annotated[
    Path | None,
    typer.Option("--gallery", help="Gallery whose people are looked for.", show_default=False),
]
CastOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cast",
        help="NAME=IMAGE reference photo (repeat; a temporary gallery).",
        metavar="NAME=IMAGE",
        show_default=False,
    ),
]
EveryOpt = Annotated[
    str, typer.Option("--every", help="Detect on every N-th frame, or 'auto' (keeps 3x real time).")
]
PackOpt = Annotated[
    str | None,
    typer.Option(
        "--pack", help="Model pack (default: the gallery's, else dlib).", show_default=False
    ),
]
MaxSideOpt = Annotated[
    int,
    typer.Option(
        "--max-side", min=64, help="Detect on frames downscaled to this longer side (pixels)."
    ),
]


def _parse_every(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        every = int(value)
    except ValueError:
        raise fail(f"--every must be a positive integer or 'auto', got {value!r}") from None
    if every < 1:
        raise fail(f"--every must be a positive integer or 'auto', got {value!r}")
    return every


def _parse_cast(items: list[str]) -> dict[str, list[str]]:
    cast: dict[str, list[str]] = {}
    for item in items:
        name, sep, image = item.partition("=")
        if not sep or not name.strip() or not image:
            raise InvalidArgumentError(f"--cast must be NAME=IMAGE, got {item!r}")
        cast.setdefault(name.strip(), []).append(image)
    return cast


@contextmanager
def _people(gallery: Path | None, cast: list[str] | None) -> Iterator[Gallery | Cast | None]:
    if gallery is not None and cast:
        raise InvalidArgumentError("give --gallery or --cast, not both")
    if gallery is None:
        yield _parse_cast(cast) if cast else None
        return
    if not Gallery.exists(gallery):
        raise InvalidArgumentError(
            f"{gallery}: no gallery here (create one with `faceprint enroll`)"
        )
    with Gallery.open(gallery) as opened:
        yield opened


def _analyzer(people: Gallery | Cast | None, pack: str | None, max_side: int) -> FaceAnalyzer:
    chosen = pack or (people.pack if isinstance(people, Gallery) else DEFAULT_PACK)
    augment: Augment = people.augment if isinstance(people, Gallery) else "none"
    return FaceAnalyzer(chosen, max_side=max_side, augment=augment)


@contextmanager
def _bar(description: str, quiet: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar with frames/s and ETA on stderr (none when quiet or not a terminal)."""
    if quiet or not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.0f} frames/s  eta"),
        TimeRemainingColumn(),
    )
    began = time.perf_counter()
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=None, fps=0.0)

        def update(done: int, total: int) -> None:
            fps = done / max(time.perf_counter() - began, 1e-6)
            bar.update(task, completed=done, total=max(total, done) or None, fps=fps)

        yield update


def _table(result: ScreenTime) -> Table:
    from faceprint.video.render import segments_text

    table = Table(title=Text(f"{result.video.path}: {result.duration:.1f} s"), title_justify="left")
    for column in ("person", "seconds", "share", "appearances", "first", "last", "segments"):
        table.add_column(
            column, justify="right" if column not in ("person", "segments") else "left"
        )
    for p in result.people:
        table.add_row(
            Text(p.name), f"{p.seconds:.1f}", f"{p.share:.0%}", str(p.appearances),
            f"{p.first_seen:.1f}", f"{p.last_seen:.1f}", Text(segments_text(p.segments)),
        )  # fmt: skip
    return table


def _summary(result: ScreenTime) -> str:
    counts: dict[str, int] = {}
    for t in result.tracks:
        counts[t.status] = counts.get(t.status, 0) + 1
    tracks = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    return (
        f"{result.frames} frames, detection on {result.frames_detected} (every {result.every}), "
        f"{result.shots} shots, tracks: {tracks}; {result.decode_errors} decode errors; "
        f"{result.seconds:.1f} s wall ({result.realtime_factor:.2f}x real time), "
        f"{result.cpu_seconds:.1f} s CPU"
    )


@video_app.command("screentime")
def screentime_cmd(
    video: Annotated[Path, typer.Argument(help="The video file.", show_default=False)],
    gallery: GalleryOpt = None,
    cast: CastOpt = None,
    every: EveryOpt = "auto",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the timeline files (default: VIDEO.screentime in the current folder).",
        ),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option("--annotate", help="Also write a copy with boxes and names (MP4)."),
    ] = None,
    pack: PackOpt = None,
    detector: DetectorOption = None,
    max_side: MaxSideOpt = DEFAULT_MAX_SIDE or 2048,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Screen time of each person (enrolled or unknown_N) with a timeline JSON/CSV/PNG."""
    pack = chosen_pack(pack, detector)
    from faceprint.video.decode import probe
    from faceprint.video.render import annotate_video, write_outputs
    from faceprint.video.screentime import VideoOptions, screentime

    with errors_to_exit():
        options = VideoOptions(every=_parse_every(every))  # type: ignore[arg-type]
        folder = out_dir or Path.cwd() / (video.name + ".screentime")
        probe(video)  # a bad file fails before the models load
        with _people(gallery, cast) as people:
            analyzer = _analyzer(people, pack, max_side)
            with _bar("screen time", quiet or json_out) as update:
                result = screentime(
                    video, people, analyzer=analyzer, options=options, progress=update
                )
        written = write_outputs(result, folder)
        if annotate is not None:
            written["annotated"] = annotate_video(result, annotate)
    if json_out:
        data: dict[str, Any] = result.to_dict()
        data["outputs"] = {k: str(v) for k, v in written.items()}
        print_json(data)
        return
    out.print(_table(result))
    out.print(_summary(result))
    out.print(f"timeline: {written['json']}, {written['csv']}, {written['png']}")
    unknowns = [str(v) for k, v in written.items() if k.startswith("unknown:")]
    if unknowns:
        out.print(f"unknown faces (enrol them and run again): {folder / 'unknowns'}")
    if "annotated" in written:
        out.print(f"annotated video: {written['annotated']}")


@video_app.command("index")
def index_cmd(
    videos: Annotated[list[Path], typer.Argument(help="Video files.", show_default=False)],
    index: Annotated[
        Path, typer.Option("--index", help="Index folder (created).", show_default=False)
    ],
    gallery: GalleryOpt = None,
    cast: CastOpt = None,
    every: EveryOpt = "auto",
    pack: PackOpt = None,
    max_side: MaxSideOpt = DEFAULT_MAX_SIDE or 2048,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Analyse this many videos at a time in worker processes (or Ray workers with "
            "--ray; default: one video at a time in this process, with a progress bar).",
            show_default=False,
        ),
    ] = None,
    ray: RayOption = None,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Store every track of the videos (time range, embedding, thumbnail) for `video find`.
    A video whose content is indexed already is skipped; a bad video is reported and skipped."""
    from faceprint.video.index import VideoIndex
    from faceprint.video.screentime import VideoOptions

    outcomes: list[dict[str, Any]] = []
    failed = 0
    with errors_to_exit():
        options = VideoOptions(every=_parse_every(every))  # type: ignore[arg-type]
        with _people(gallery, cast) as people, VideoIndex.open(index) as vindex:
            if workers is not None or ray is not None:
                engine = _video_engine(people, pack or vindex.pack, max_side, workers, ray)
                failed = _index_on(vindex, engine, videos, people, options, quiet or json_out,
                                   outcomes.append)  # fmt: skip
            else:
                analyzer = _analyzer(people, pack or vindex.pack, max_side)
                for video in videos:
                    failed += _index_one(
                        vindex, video, people, analyzer, options, quiet or json_out,
                        outcomes.append,
                    )  # fmt: skip
    if json_out:
        print_json({"index": str(index), "videos": outcomes})
    if failed:
        raise typer.Exit(1)


def _video_engine(
    people: Gallery | Cast | None, pack: str | None, max_side: int, workers: int | None,
    ray: str | None,
) -> Engine:  # fmt: skip
    chosen = pack or (people.pack if isinstance(people, Gallery) else DEFAULT_PACK)
    augment = people.augment if isinstance(people, Gallery) else "none"
    return make_engine(chosen, workers=workers, augment=augment, max_side=max_side, ray=ray)


def _index_on(
    vindex: VideoIndex,
    engine: Engine,
    videos: list[Path],
    people: Gallery | Cast | None,
    options: VideoOptions,
    quiet: bool,
    record: Callable[[dict[str, Any]], None],
) -> int:
    failed = 0
    with engine:
        for outcome in vindex.add_on(engine, videos, people, options=options):
            if isinstance(outcome, FaceprintError):
                failed += 1
                record({"path": outcome.source, "status": "failed", "error": str(outcome)})
                if not quiet:
                    err.print(Text(f"error: {outcome}"))
                continue
            record(outcome.to_dict())
            if not quiet:
                out.print(Text(f"{outcome.path}: {outcome.status}, {outcome.tracks} tracks"))
    return failed


def _index_one(
    vindex: VideoIndex,
    video: Path,
    people: Gallery | Cast | None,
    analyzer: FaceAnalyzer,
    options: VideoOptions,
    quiet: bool,
    record: Callable[[dict[str, Any]], None],
) -> int:
    try:
        with _bar(video.name, quiet) as update:
            outcome = vindex.add(video, people, analyzer=analyzer, options=options, progress=update)
    except (FaceprintError, ValueError) as exc:
        record({"path": str(video), "status": "failed", "error": str(exc)})
        if not quiet:
            fail(str(exc))
        return 1
    record(outcome.to_dict())
    if not quiet:
        out.print(Text(f"{video}: {outcome.status}, {outcome.tracks} tracks"))
    return 0


@video_app.command("find")
def find_cmd(
    index: Annotated[Path, typer.Option("--index", help="Index folder.", show_default=False)],
    name: Annotated[str | None, typer.Argument(help="Person to find.", show_default=False)] = None,
    with_name: Annotated[
        str | None,
        typer.Option("--with", help="Only where this person is on screen too.", show_default=False),
    ] = None,
    face: Annotated[
        Path | None,
        typer.Option("--face", help="Find this photo's (largest) face instead of a name."),
    ] = None,
    gallery: GalleryOpt = None,
    gap: Annotated[
        float, typer.Option("--gap", min=0.0, help="Join ranges closer than this (seconds).")
    ] = 2.0,
    clips: Annotated[
        Path | None, typer.Option("--clips", help="Cut each range out to an MP4 here.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Time ranges (video, start, end, who) where a person appears (with another)."""
    from faceprint.video.index import VideoIndex

    with errors_to_exit():
        if (name is None) == (face is None):
            raise InvalidArgumentError("give a NAME or --face PHOTO (one of them)")
        with VideoIndex.open(index, create=False) as vindex:
            if face is not None:
                fa = FaceAnalyzer(vindex.pack or DEFAULT_PACK, augment=vindex.augment)
                emb = fa.embed_one(face).embedding
                ranges = vindex.find_face(
                    emb,  # type: ignore[arg-type]
                    threshold=fa.threshold,
                    gap=gap,
                    pack=fa.pack.name,
                    augment=fa.augment,
                )
            else:
                with _people(gallery, None) as people:
                    opened = people if isinstance(people, Gallery) else None
                    ranges = vindex.find(name or "", with_name=with_name, gap=gap, gallery=opened)
        written = _clips(ranges, clips) if clips is not None else []
    if json_out:
        print_json({"ranges": [r.to_dict() for r in ranges], "clips": [str(p) for p in written]})
        return
    if not ranges:
        out.print("no range found")
    for r in ranges:
        out.print(Text(f"{r.video}  {r.start:.2f}–{r.end:.2f} s  {', '.join(r.names)}"))
    for path in written:
        out.print(Text(f"clip: {path}"))


def _clips(ranges: list[VideoRange], folder: Path) -> list[Path]:
    from faceprint.video.render import cut_clip

    written = []
    for n, r in enumerate(ranges, 1):
        target = folder / f"{n:03d}_{Path(r.video).stem}_{r.start:.1f}-{r.end:.1f}.mp4"
        written.append(cut_clip(r.video, r.start, r.end, target))
    return written
