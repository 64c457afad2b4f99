"""``faceprint detect``, ``embed`` and ``verify``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from faceprint.cli import app
from faceprint.cli._common import (
    JsonOption,
    PackOption,
    QuietOption,
    draw_target,
    errors_to_exit,
    face_choice,
    out,
    print_json,
    progress,
)
from faceprint.draw import draw_faces, save_image
from faceprint.errors import FaceprintError
from faceprint.imageio import load_image
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import FaceAnalyzer

Images = Annotated[list[Path], typer.Argument(help="Image files.", show_default=False)]


def _analyzer(pack: str, upsample: int | None = None) -> FaceAnalyzer:
    options = {} if upsample is None else {"upsample": upsample}
    with errors_to_exit():
        return FaceAnalyzer(pack, detector_options=options)


@app.command()
def detect(
    images: Images,
    pack: PackOption = DEFAULT_PACK,
    upsample: Annotated[
        int | None, typer.Option(help="Detector upsampling (finds smaller faces, slower).")
    ] = None,
    draw: Annotated[
        Path | None,
        typer.Option(
            help="Write the image with boxes and landmarks (a folder for several images)."
        ),
    ] = None,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """List every face (box, score, five landmarks) in each image."""
    fa = _analyzer(pack, upsample)
    target = draw_target(draw, len(images))
    results: list[dict[str, Any]] = []
    failed = 0
    for path in progress(images, total=len(images), description="detect", quiet=quiet):
        try:
            rgb = load_image(path)
            faces = fa.detector.detect(rgb)
            if target is not None:
                dest = target if len(images) == 1 else target / f"{path.stem}.png"
                save_image(dest, draw_faces(rgb, faces))
        except FaceprintError as exc:
            failed += 1
            results.append({"file": str(path), "error": str(exc)})
            print(f"error: {exc}", file=sys.stderr)
            continue
        results.append({"file": str(path), "faces": faces.to_list()})
        if not json_:
            out.print(f"{path}: {len(faces)} face(s)")
            for i, f in enumerate(faces):
                box = ", ".join(f"{v:.0f}" for v in f.box)
                out.print(f"  [{i}] box=({box}) score={f.score:.3f}")
    if json_:
        print_json(results)
    if failed:
        raise typer.Exit(2)


@app.command()
def embed(
    images: Images,
    out_file: Annotated[Path, typer.Option("--out", help="Output .npz file.")],
    pack: PackOption = DEFAULT_PACK,
    quiet: QuietOption = False,
) -> None:
    """Embed every face of each image into one .npz (one row per face, with file and box)."""
    fa = _analyzer(pack)
    rows: dict[str, list] = {
        "embeddings": [],
        "files": [],
        "boxes": [],
        "scores": [],
        "landmarks": [],
    }
    failed = 0
    for path in progress(images, total=len(images), description="embed", quiet=quiet):
        try:
            faces = fa.analyze(path)
        except FaceprintError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        if len(faces) == 0:
            print(f"warning: {path}: no face found", file=sys.stderr)
        rows["embeddings"].extend(faces.embeddings)  # type: ignore[arg-type]
        rows["files"].extend([str(path)] * len(faces))
        rows["boxes"].extend(faces.boxes)
        rows["scores"].extend(faces.scores)
        rows["landmarks"].extend(faces.landmarks)
    dim = fa.embedder.dim
    with errors_to_exit():
        np.savez(
            out_file,
            embeddings=np.asarray(rows["embeddings"], np.float32).reshape(-1, dim),
            files=np.asarray(rows["files"], dtype=str),
            boxes=np.asarray(rows["boxes"], np.float32).reshape(-1, 4),
            scores=np.asarray(rows["scores"], np.float32),
            landmarks=np.asarray(rows["landmarks"], np.float32).reshape(-1, 5, 2),
            pack=np.asarray(fa.pack.name),
        )
    n = len(rows["files"])
    print(
        f"wrote {n} embedding(s) from {len(images) - failed} image(s) to {out_file}",
        file=sys.stderr,
    )
    if failed:
        raise typer.Exit(2)


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image.", show_default=False)],
    image_b: Annotated[Path, typer.Argument(help="Second image.", show_default=False)],
    pack: PackOption = DEFAULT_PACK,
    threshold: Annotated[
        float | None, typer.Option(help="Cosine threshold (default: the pack's calibrated one).")
    ] = None,
    face: Annotated[
        str, typer.Option(help="Which face of each image: largest, center, only, or an index.")
    ] = "largest",
    json_: JsonOption = False,
) -> None:
    """Same person? Exit 0 when the same, 1 when different, 2 on error."""
    choice = face_choice(face)
    fa = _analyzer(pack)
    with errors_to_exit():
        result = fa.verify(image_a, image_b, threshold=threshold, face=choice)
    if json_:
        print_json({**result.to_dict(), "licence": fa.pack.licence})
    else:
        verdict = "same person" if result.same else "different people"
        out.print(
            f"{verdict}: similarity {result.similarity:.4f} "
            f"(threshold {result.threshold:.4f}, pack {result.pack}; licence: {fa.pack.licence})"
        )
    raise typer.Exit(0 if result.same else 1)
