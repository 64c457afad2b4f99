"""Helpers shared by the CLI commands: consoles, progress, one-line errors, common options."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from faceprint.errors import FaceprintError
from faceprint.pipeline import FaceChoice

T = TypeVar("T")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

PackOption = Annotated[
    str,
    typer.Option("--pack", help="Model pack name or path (see `faceprint models list`)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def param_value(raw: str) -> Any:
    """A ``NAME=VALUE`` option's value: JSON when it parses (numbers, booleans, lists), else
    the string itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def print_json(data: Any) -> None:
    """JSON to stdout (plain, so it can be piped)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


@contextmanager
def errors_to_exit(code: int = 2) -> Iterator[None]:
    """Turn faceprint errors (and bad values) into one line on stderr and exit ``code``."""
    try:
        yield
    except (FaceprintError, ValueError, OSError) as exc:
        raise fail(str(exc), code) from None


def progress(items: Iterable[T], *, total: int, description: str, quiet: bool) -> Iterator[T]:
    """Iterate with a progress bar (ETA) on stderr; silent when quiet or stderr is not a TTY."""
    if quiet or not err.is_terminal:
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def face_choice(value: str) -> FaceChoice:
    """Parse ``--face``: largest, center, only, or an index."""
    if value in ("largest", "center", "only"):
        return value  # type: ignore[return-value]
    try:
        return int(value)
    except ValueError:
        raise fail(f"--face must be largest, center, only or an index, got {value!r}") from None


def draw_target(draw: Path | None, n_images: int) -> Path | None:
    """The ``--draw`` target; a folder (created) when there are several images."""
    if draw is not None and n_images > 1:
        draw.mkdir(parents=True, exist_ok=True)
    return draw
