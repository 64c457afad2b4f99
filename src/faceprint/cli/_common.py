"""Helpers shared by the CLI commands: consoles, progress, one-line errors, common options.

The consoles print with Rich markup **off**: names and paths come from users, and a name like
``John [/Jr]`` must print as itself, not as a markup tag. Styled text is built with
:class:`rich.text.Text` (see :func:`fail`), never by formatting user text into markup.
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from faceprint.batch import Engine, ImageResult
from faceprint.compare import check_threshold
from faceprint.draw import check_image_path
from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.imageio import printable
from faceprint.packs import DEFAULT_PACK, pack_for_detector
from faceprint.pipeline import AUGMENTS, DEFAULT_MAX_SIDE, FaceChoice, parse_face_choice

T = TypeVar("T")

#: human-readable results on stdout (silenced by ``--quiet``)
out = Console(soft_wrap=True, highlight=False, markup=False)
#: errors and warnings on stderr (always shown)
err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
#: human-readable notes on stderr: what was written, counts, steps (silenced by ``--quiet``)
note = Console(stderr=True, soft_wrap=True, highlight=False, markup=False, emoji=False)

PackOption = Annotated[
    str,
    typer.Option("--pack", help="Model pack name or path (see `faceprint models list`)."),
]
DetectorOption = Annotated[
    str | None,
    typer.Option(
        "--detector",
        help="Face detector of new embeddings: blazeface (the default) or hog (dlib's HOG, the "
        "default before; selects pack dlib).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
#: ``--quiet`` / ``-q`` means one thing on every command (see :func:`accepts_quiet`)
QUIET_HELP = (
    "No progress bar and no human-readable output: only --json output, warnings and errors "
    "print (files are still written; the exit status is unchanged)."
)
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)]


@contextmanager
def quiet_output(quiet: bool) -> Iterator[None]:
    """Silence the human-readable consoles (:data:`out`, :data:`note`) while the block runs;
    ``--json`` output (:func:`print_json`), warnings and errors still print."""
    before = out.quiet, note.quiet
    out.quiet, note.quiet = before[0] or quiet, before[1] or quiet
    try:
        yield
    finally:
        out.quiet, note.quiet = before


def accepts_quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a command whose ``--quiet`` / ``-q`` has the one meaning of :data:`QUIET_HELP`.

    ``faceprint.cli`` applies it to every command that prints. A command that draws a progress
    bar declares ``quiet: QuietOption`` itself (and hides its bar with it); one that does not is
    given the option here. Either way the human-readable output is silenced here, once."""
    signature = inspect.signature(fn, eval_str=True)
    if "quiet" in signature.parameters:

        @functools.wraps(fn)
        def with_bar(*args: Any, **kwargs: Any) -> Any:
            with quiet_output(bool(kwargs.get("quiet", False))):
                return fn(*args, **kwargs)

        with_bar.__faceprint_quiet__ = True  # type: ignore[attr-defined]
        return with_bar

    @functools.wraps(fn)
    def command(*args: Any, quiet: bool = False, **kwargs: Any) -> Any:
        with quiet_output(quiet):
            return fn(*args, **kwargs)

    extra = inspect.Parameter(
        "quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOption
    )
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    command.__faceprint_quiet__ = True  # type: ignore[attr-defined]
    return command


def param_value(raw: str) -> Any:
    """A ``NAME=VALUE`` option's value: JSON when it parses (numbers, booleans, lists), else
    the string itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def json_safe(data: Any) -> Any:
    """``data`` with every string valid Unicode (see :func:`~faceprint.imageio.printable`) and
    every non-finite float ``None``, so that the JSON printed is valid UTF-8 and valid JSON."""
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {json_safe(k): json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    return data


def print_json(data: Any) -> None:
    """JSON to stdout (plain, so it can be piped): valid UTF-8 and standard JSON whatever the
    data holds (file names that are not UTF-8 are escaped, NaN and infinities become null)."""
    text = json.dumps(json_safe(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    buffer = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    if buffer is None:
        sys.stdout.write(text)
    else:  # UTF-8 whatever the locale's encoding
        buffer.write(text.encode("utf-8"))
        buffer.flush()


def chosen_pack(pack: str | None, detector: str | None) -> str | None:
    """The pack that ``--pack`` (``None`` or the default: not given) and ``--detector`` select;
    a conflict or an unknown detector exits with one line."""
    given = None if pack == DEFAULT_PACK else pack
    with errors_to_exit():
        return pack_for_detector(detector, given) if detector is not None else pack


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr (one line, printed as is); return the Exit to raise."""
    line = " ".join(printable(message).splitlines())
    err.print(Text.assemble(("error:", "red"), " ", line), highlight=False)
    return typer.Exit(code)


def os_message(exc: OSError) -> str:
    """A one-line message for an operating-system error: the file and the cause, without the
    ``[Errno N]`` prefix (``out/x.png: file exists``)."""
    cause = exc.strerror or (errno.errorcode.get(exc.errno or 0, "") if exc.errno else "")
    cause = (cause or str(exc)).lower()
    where = [printable(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(where)}: {cause}" if where else cause


@contextmanager
def errors_to_exit(code: int = 2) -> Iterator[None]:
    """Turn faceprint errors (and bad values, and operating-system errors) into one line on
    stderr and exit ``code``."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, FaceprintError):
            raise fail(str(exc), code) from None
        raise fail(os_message(exc), code) from None
    except (FaceprintError, ValueError) as exc:
        raise fail(str(exc), code) from None


def progress_columns(label: str = "{task.description}") -> tuple[ProgressColumn, ...]:
    """The columns of every progress bar: label, bar, done/total, elapsed, ETA."""
    return (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


def progress(items: Iterable[T], *, total: int, description: str, quiet: bool) -> Iterator[T]:
    """Iterate with a progress bar (ETA) on stderr; silent when quiet or stderr is not a TTY."""
    if quiet or not err.is_terminal:
        yield from items
        return
    with Progress(*progress_columns(), console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def face_choice(value: str) -> FaceChoice:
    """Parse ``--face`` (:func:`faceprint.pipeline.parse_face_choice`); one line and exit 2."""
    try:
        return parse_face_choice(value)
    except InvalidArgumentError as exc:
        raise fail(f"--{exc}") from None


def draw_paths(draw: Path | None, images: Sequence[Path]) -> list[Path | None]:
    """Where ``--draw`` writes each image's drawing, checked before any work.

    One image: ``draw`` is the output file (its extension says the format). Several: ``draw``
    is a folder (created; an existing file there is refused) receiving ``STEM.png`` per image,
    with ``STEM-2.png``, ``STEM-3.png``... where stems repeat, so no drawing overwrites another.

    Raises:
        typer.Exit: after a one-line error.
    """
    if draw is None:
        return [None] * len(images)
    if len(images) == 1:
        with errors_to_exit():
            check_image_path(draw)
        if draw.is_dir():
            raise fail(f"--draw {printable(str(draw))} is a folder; give a file name like out.png")
        return [draw]
    if draw.exists() and not draw.is_dir():
        raise fail(
            f"--draw {printable(str(draw))} is a file; with several images it must be a folder"
        )
    with errors_to_exit():
        draw.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    paths: list[Path | None] = []
    for image in images:
        stem = image.stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        paths.append(draw / (f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png"))
    return paths


def threshold_value(value: float | None) -> float | None:
    """Typer callback for ``--threshold``: a cosine in [-1, 1] (NaN and infinities refused)."""
    if value is None:
        return None
    try:
        return check_threshold(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


#: largest ``--upsample``: each step doubles the image's sides (4× the pixels, 4× the time)
MAX_UPSAMPLE = 3

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=0,
        max=64,
        help="Worker processes (default: one per core; 0: work in this process).",
        show_default=False,
    ),
]
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run on Ray: auto (start Ray on this machine) or the address of a running cluster "
        "(e.g. 10.0.0.5:6379); --workers is then the number of Ray workers (default: one per "
        "CPU of the cluster). Needs faceprint[ray].",
        show_default=False,
    ),
]
AugmentOption = Annotated[
    str,
    typer.Option(
        "--augment",
        help="Test-time augmentation of embeddings: none, or flip (mirror too; 2x embed cost).",
    ),
]
MaxSideOption = Annotated[
    int,
    typer.Option(
        "--max-side",
        min=0,
        max=100_000,
        help="Detect on a copy at most this many pixels on its longer side (0: full size).",
    ),
]
UpsampleOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=MAX_UPSAMPLE,
        help="Detector upsampling (finds smaller faces, 4x slower per step).",
        show_default=False,
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        callback=threshold_value,
        help="Cosine threshold in [-1, 1] (default: the gallery's saved one, else the pack's).",
        show_default=False,
    ),
]


def make_engine(
    pack: str,
    *,
    workers: int | None,
    augment: str = "none",
    max_side: int = DEFAULT_MAX_SIDE or 0,
    upsample: int | None = None,
    ray: str | None = None,
) -> Engine:
    """The batch engine the image commands share (one line on stderr for a bad option)."""
    if augment not in AUGMENTS:
        raise fail(f"--augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
    options = {} if upsample is None else {"upsample": upsample}
    with errors_to_exit():
        return Engine(
            pack,
            workers=workers,
            augment=augment,  # type: ignore[arg-type]
            max_side=max_side or None,
            detector_options=options,
            ray=ray,
        )


def analyze_paths(
    engine: Engine, paths: Sequence[Path], *, description: str, quiet: bool, **options: Any
) -> Iterator[ImageResult]:
    """The engine's results for ``paths`` in order, with the progress bar (ETA) on stderr."""
    results = engine.analyze_iter(paths, **options)
    try:
        yield from progress(results, total=len(paths), description=description, quiet=quiet)
    finally:
        results.close()


def report_error(result: ImageResult) -> None:
    """One line on stderr for an image that could not be analysed."""
    err.print(Text.assemble(("error:", "red"), " ", printable(str(result.error))), highlight=False)
