"""``faceprint detect``, ``embed`` and ``verify``.

``detect`` and ``embed`` run on the batch engine (:mod:`faceprint.batch`): worker processes, one
outcome per image, a bad file reported on stderr and skipped (exit 2 at the end), the rest done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from faceprint.batch import ImageResult
from faceprint.cli._app import app
from faceprint.cli._common import (
    AugmentOption,
    DetectorOption,
    JsonOption,
    MaxSideOption,
    PackOption,
    QuietOption,
    RayOption,
    ThresholdOption,
    UpsampleOption,
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
    print_json,
    report_error,
)
from faceprint.draw import draw_faces, save_image
from faceprint.errors import FaceprintError, InvalidArgumentError
from faceprint.imageio import load_image, printable
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import AUGMENTS, DEFAULT_MAX_SIDE, FaceAnalyzer

Images = Annotated[list[Path], typer.Argument(help="Image files.", show_default=False)]


@app.command()
def detect(
    images: Images,
    pack: PackOption = DEFAULT_PACK,
    detector: DetectorOption = None,
    upsample: UpsampleOption = None,
    draw: Annotated[
        Path | None,
        typer.Option(
            help="Write the image with boxes and landmarks (a folder for several images)."
        ),
    ] = None,
    workers: WorkersOption = None,
    max_side: MaxSideOption = DEFAULT_MAX_SIDE or 0,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """List every face (box, score, five landmarks) in each image."""
    targets = draw_paths(draw, images)
    pack = chosen_pack(pack, detector) or DEFAULT_PACK
    engine = make_engine(pack, workers=workers, max_side=max_side, upsample=upsample)
    results: list[dict[str, Any]] = []
    failed = 0
    with engine:
        for r in analyze_paths(engine, images, description="detect", quiet=quiet, embed=False):
            target = targets[r.index]
            if r.ok and target is not None:
                r = _drawn(r, images[r.index], target)
            if not r.ok:
                failed += 1
                results.append({"file": r.source, "error": str(r.error)})
                report_error(r)
                continue
            faces = r.faces
            assert faces is not None
            results.append({"file": r.source, "faces": faces.to_list()})
            if not json_:
                out.print(f"{printable(r.source)}: {len(faces)} face(s)")
                for i, f in enumerate(faces):
                    box = ", ".join(f"{v:.0f}" for v in f.box)
                    out.print(f"  [{i}] box=({box}) score={f.score:.3f}")
    if json_:
        print_json(results)
    if failed:
        raise typer.Exit(2)


def _drawn(result: ImageResult, path: Path, target: Path) -> ImageResult:
    """Write the drawing of ``result``'s faces; the result, or an error result."""
    try:
        save_image(target, draw_faces(load_image(path), result.faces))  # type: ignore[arg-type]
    except FaceprintError as exc:
        return ImageResult(result.index, result.source, error=exc)
    return result


@app.command()
def embed(
    images: Images,
    out_file: Annotated[
        Path, typer.Option("--out", help="Output file (NumPy .npz, written exactly there).")
    ],
    pack: PackOption = DEFAULT_PACK,
    detector: DetectorOption = None,
    augment: AugmentOption = "none",
    workers: WorkersOption = None,
    ray: RayOption = None,
    max_side: MaxSideOption = DEFAULT_MAX_SIDE or 0,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Embed every face of each image into one .npz (one row per face, with file and box).

    Arrays: embeddings (N, D) float32, files (N,), boxes (N, 4), scores (N,), landmarks
    (N, 5, 2), pack, augment. Nothing is written when no image could be read.
    """
    _check_out(out_file)
    pack = chosen_pack(pack, detector) or DEFAULT_PACK
    engine = make_engine(pack, workers=workers, augment=augment, max_side=max_side, ray=ray)
    rows: list[ImageResult] = []
    read = 0
    with engine:
        for r in analyze_paths(engine, images, description="embed", quiet=quiet):
            if not r.ok:
                report_error(r)
                continue
            read += 1
            if r.faces is not None and len(r.faces) == 0:
                err.print(f"warning: {printable(r.source)}: no face found")
            rows.append(r)
    failed = len(images) - read
    if read == 0:
        raise fail(f"no image could be read; nothing written to {printable(str(out_file))}")
    with errors_to_exit():
        _write_npz(out_file, rows, engine.pack.dim, engine.pack.name, engine.augment)
    n = sum(len(r.faces) for r in rows if r.faces is not None)
    if json_out:
        print_json({"out": str(out_file), "embeddings": n, "images": read, "failed": failed})
    else:
        note.print(f"wrote {n} embedding(s) from {read} image(s) to {printable(str(out_file))}")
    if failed:
        raise typer.Exit(2)


def _check_out(path: Path) -> None:
    """Refuse an ``--out`` that cannot be written, before any work."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise fail(f"--out {printable(str(path))} is a folder; give a file name")
    if not folder.is_dir():
        raise fail(
            f"--out {printable(str(path))}: the folder {printable(str(folder))} does not exist"
        )
    if not os.access(folder, os.W_OK):
        raise fail(f"--out {printable(str(path))}: the folder is not writable")


def _write_npz(path: Path, rows: list[ImageResult], dim: int, pack: str, augment: str) -> None:
    """Write the rows' faces to ``path`` exactly (no ``.npz`` appended), atomically."""
    faces = [(r.source, r.faces) for r in rows if r.faces is not None and len(r.faces)]
    data = {
        "embeddings": _stack([f.embeddings for _, f in faces], (0, dim)),
        "files": np.asarray([s for s, f in faces for _ in range(len(f))], dtype=str),
        "boxes": _stack([f.boxes for _, f in faces], (0, 4)),
        "scores": _stack([f.scores for _, f in faces], (0,)),
        "landmarks": _stack([f.landmarks for _, f in faces], (0, 5, 2)),
        "pack": np.asarray(pack),
        "augment": np.asarray(augment),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **data)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _stack(parts: list[Any], empty: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(empty, np.float32)


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image.", show_default=False)],
    image_b: Annotated[Path, typer.Argument(help="Second image.", show_default=False)],
    pack: PackOption = DEFAULT_PACK,
    detector: DetectorOption = None,
    threshold: ThresholdOption = None,
    face: Annotated[
        str, typer.Option(help="Which face of each image: largest, center, only, or an index.")
    ] = "largest",
    augment: AugmentOption = "none",
    json_: JsonOption = False,
) -> None:
    """Same person? Exit 0 when the same, 1 when different, 2 on error."""
    choice = face_choice(face)
    pack = chosen_pack(pack, detector) or DEFAULT_PACK
    try:
        if augment not in AUGMENTS:
            raise InvalidArgumentError(
                f"--augment must be one of {', '.join(AUGMENTS)}, got {augment!r}"
            )
        fa = FaceAnalyzer(pack, augment=augment)  # type: ignore[arg-type]
        result = fa.verify(image_a, image_b, threshold=threshold, face=choice)
    except (FaceprintError, ValueError, OSError) as exc:
        if json_:
            print_json({"error": {"type": type(exc).__name__, "message": str(exc)}})
        with errors_to_exit():
            raise
        raise  # unreachable: errors_to_exit always exits
    if json_:
        print_json({**result.to_dict(), "licence": fa.pack.licence})
    else:
        verdict = "same person" if result.same else "different people"
        out.print(
            f"{verdict}: similarity {result.similarity:.4f} "
            f"(threshold {result.threshold:.4f}, pack {result.pack}; licence: {fa.pack.licence})"
        )
    raise typer.Exit(0 if result.same else 1)
