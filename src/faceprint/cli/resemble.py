"""``faceprint resemble CHILD --to RELATIVE [--to ...]``: which relative the child looks most like.

A thin layer over :func:`faceprint.cluster.resemble.resemble` (see its module docstring for the
calibration and the caveat).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer

from faceprint.cli._app import app
from faceprint.cli._common import (
    JsonOption,
    PackOption,
    QuietOption,
    WorkersOption,
    analyze_paths,
    errors_to_exit,
    make_engine,
    out,
    print_json,
)
from faceprint.cluster.resemble import DEFAULT_MARGIN, Resemblance, resemble
from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.imageio import printable
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import FaceAnalyzer

#: image suffixes read from a ``--reference`` folder
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic"})


def _names(paths: list[Path], names: list[str] | None) -> dict[str, Path]:
    """Relative name -> image: ``--name`` in order, else the file stem (made unique)."""
    if names and len(names) != len(paths):
        raise InvalidArgumentError(f"give one --name per --to ({len(paths)}), got {len(names)}")
    out: dict[str, Path] = {}
    for i, p in enumerate(paths):
        name = names[i] if names else p.stem
        base, n = name, 2
        while name in out:
            name, n = f"{base}-{n}", n + 1
        out[name] = p
    return out


def _reference(
    folder: Path, pack: str, workers: int | None, quiet: bool
) -> npt.NDArray[np.float32]:
    """The largest face of every image under ``folder`` (unreadable or faceless ones skipped)."""
    if not folder.is_dir():
        raise InvalidArgumentError(f"--reference {printable(str(folder))}: not a folder")
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if not files:
        raise InvalidArgumentError(f"--reference {printable(str(folder))}: no images in it")
    rows: list[npt.NDArray[np.float32]] = []
    with make_engine(pack, workers=workers) as engine:
        for r in analyze_paths(engine, files, description="reference faces", quiet=quiet):
            if r.ok and r.faces is not None and len(r.faces) and r.faces.embeddings is not None:
                rows.append(r.faces.embeddings[int(np.argmax(r.faces.areas))])
    if not rows:
        raise InvalidArgumentError(f"--reference {printable(str(folder))}: no face found in it")
    return np.stack(rows).astype(np.float32)


def _print(result: Resemblance) -> None:
    for r in result.relatives:
        out.print(
            f"{r.name}: similarity {r.similarity:.4f}, {r.z:+.2f} sd above unrelated faces "
            f"(more similar than {r.percentile:.2f}% of them)"
        )
    if result.verdict is None:
        out.print(f"undecided: lead {result.lead:.2f} sd < margin {result.margin:.2f}")
    else:
        out.print(f"looks most like {result.verdict} (lead {result.lead:.2f} sd)")
    calib = (
        "the pack's impostor statistics" if result.calibration == "pack" else "the reference faces"
    )
    out.print(f"calibrated on {calib}; note: {result.caveat}")


@app.command("resemble")
def resemble_cmd(
    child: Annotated[Path, typer.Argument(help="The child's photo.", show_default=False)],
    to: Annotated[
        list[Path],
        typer.Option(
            "--to", help="A relative's photo (repeat for each relative).", show_default=False
        ),
    ],
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            help="Names of the relatives, in --to order (default: file names).",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Folder of photos of unrelated people (100+ faces) to calibrate each relative "
            "(default: the pack's LFW impostor statistics).",
            show_default=False,
        ),
    ] = None,
    margin: Annotated[
        float, typer.Option(min=0.0, help="Lead in standard deviations needed for a verdict.")
    ] = DEFAULT_MARGIN,
    pack: PackOption = DEFAULT_PACK,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
    json_: JsonOption = False,
) -> None:
    """Which relative the child's face resembles most (exit 0: decided, 1: undecided)."""
    try:
        relatives = _names(to, name)
        ref = None if reference is None else _reference(reference, pack, workers, quiet)
        result = resemble(FaceAnalyzer(pack), child, relatives, margin=margin, reference=ref)
    except (FaceprintError, ValueError, OSError) as exc:
        if json_:
            print_json({"error": {"type": type(exc).__name__, "message": str(exc)}})
        with errors_to_exit():
            raise
        raise  # unreachable: errors_to_exit always exits
    if json_:
        print_json(result.to_dict())
    else:
        _print(result)
    raise typer.Exit(0 if result.decided else 1)
