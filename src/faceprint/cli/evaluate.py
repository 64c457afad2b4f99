"""``faceprint evaluate lfw`` and ``faceprint calibrate``: accuracy and thresholds."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.text import Text

from faceprint.cli._app import app
from faceprint.cli._common import (
    AugmentOption,
    JsonOption,
    PackOption,
    QuietOption,
    RayOption,
    err,
    errors_to_exit,
    face_choice,
    fail,
    note,
    out,
    print_json,
    progress,
)
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.evaluate.calibrate import CalibrationResult, calibrate_folders
from faceprint.evaluate.extract import EvalFaceChoice, ExtractionConfig, Progress
from faceprint.evaluate.fallback import FALLBACKS, Fallback
from faceprint.evaluate.lfw import LfwReport, evaluate_lfw, lfw_config
from faceprint.evaluate.lfw import save_embeddings as write_npz
from faceprint.evaluate.metrics import TarAtFar, roc_curve, split_scores
from faceprint.evaluate.plots import plot_verification
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import AUGMENTS, Augment, EmbeddingSpace

evaluate_app = typer.Typer(
    name="evaluate", help="Measure accuracy on benchmarks.", no_args_is_help=True
)
app.add_typer(evaluate_app, name="evaluate")

EmbedderOption = Annotated[
    str | None,
    typer.Option(help="Embedder backend override, e.g. dlib-onnx (same network, faster)."),
]
WorkersOption = Annotated[
    int | None, typer.Option(min=1, help="Worker processes (default: every core).")
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")
]
PlotOption = Annotated[
    Path | None, typer.Option(help="Write ROC (log FAR) and score histograms to this PNG.")
]


def _progress(quiet: bool) -> Progress:
    def wrap(items: Iterable[Any], total: int, description: str) -> Iterable[Any]:
        return progress(items, total=total, description=description, quiet=quiet)

    return wrap


def _eval_face(value: str) -> EvalFaceChoice:
    return "subject" if value == "subject" else face_choice(value)


def _cores() -> int:
    return os.cpu_count() or 1


def _fallbacks(values: list[str]) -> tuple[Fallback, ...]:
    if values == ["none"]:
        return ()
    bad = [v for v in values if v not in FALLBACKS]
    if bad:
        raise fail(f"unknown fallback {bad[0]!r}; known: none, {', '.join(FALLBACKS)}")
    return tuple(values)  # type: ignore[arg-type]


def _cache(no_cache: bool) -> EmbeddingCache | None:
    with errors_to_exit():
        return None if no_cache else EmbeddingCache()


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _tar_line(t: TarAtFar) -> str:
    note = "" if t.supported else f" (rests on {t.false_accepts} false accepts: weak)"
    return (
        f"  TAR @ FAR {t.target_far:g}: {_pct(t.tar)} (threshold {t.threshold:.4f}, "
        f"FAR met {t.far:.2e}){note}"
    )


def _print_lfw(r: LfwReport) -> None:
    t = r.test
    s = t.extraction
    out.print(
        f"pack {r.pack} on {r.images}; face {r.config.face}, fallbacks "
        f"{', '.join(r.config.fallbacks) or 'none'}, augment {r.config.augment}"
    )
    out.print(
        f"images: {s.images}; subject found by the detector in {s.detected} (several faces in "
        f"{s.several_faces}, only bystanders in {s.not_subject}); by fallback "
        f"{dict(s.by_fallback)}; no face {s.no_face}; unreadable {s.errors}"
    )
    out.print(
        f"{t.protocol}: {t.pairs} pairs ({t.genuine} genuine, {t.impostors} impostor), "
        f"{t.no_face_pairs} with an image without a face (scored -1)"
    )
    if t.kfold is not None:
        k = t.kfold
        out.print(
            f"  {len(k.fold_accuracies)}-fold accuracy: {_pct(k.mean)} ± {_pct(k.std)} "
            f"(std; standard error {_pct(k.standard_error)})"
        )
    out.print(f"  AUC {t.auc:.5f}, EER {_pct(t.eer)} (threshold {t.eer_threshold:.4f})")
    for x in t.tar_at_far:
        out.print(_tar_line(x))
    if r.calibrated_threshold is not None and r.train is not None:
        out.print(
            f"threshold chosen on {r.train.protocol}: {r.calibrated_threshold:.4f} "
            f"(accuracy there {_pct(r.train_accuracy or 0.0)})"
        )
    if t.fixed_threshold is not None and t.fixed_accuracy is not None:
        out.print(
            f"  accuracy at fixed threshold {t.fixed_threshold:.4f}: {_pct(t.fixed_accuracy)}"
        )
    _print_extras(r)


def _print_extras(r: LfwReport) -> None:
    if r.all_pairs is not None:
        a = r.all_pairs
        out.print(
            f"all pairs of {a.images} images: {a.genuine} genuine, {a.impostors} impostor "
            f"(scored in {a.seconds:.1f} s); AUC {a.auc:.5f}, EER {_pct(a.eer)}"
        )
        for x in a.tar_at_far:
            out.print(_tar_line(x))
    if r.identification is not None:
        i = r.identification
        out.print(
            f"identification: {i.enrolled} enrolled, {i.mated_probes} mated probes, "
            f"{i.non_mated_probes} non-mated"
        )
        out.print(f"  rank-1 {_pct(i.rank1)}, rank-5 {_pct(i.rank5)}")
        for p in i.open_set:
            weak = "" if p.supported else " (weak: few non-mated probes)"
            out.print(
                f"  FNIR @ FPIR {p.target_fpir:g}: {_pct(p.fnir)} "
                f"(threshold {p.threshold:.4f}){weak}"
            )
        curve = ", ".join(f"{d.distractors}: {_pct(d.rank1)}" for d in i.distractor_curve)
        out.print(f"  rank-1 by distractors added: {curve}")


def _plot_lfw(path: Path, r: LfwReport) -> None:
    with errors_to_exit():
        if r.all_pairs is not None:
            a = r.all_pairs
            plot_verification(
                path,
                a.roc,
                a.genuine_hist,
                a.impostor_hist,
                histograms=True,
                threshold=r.test.fixed_threshold,
                title=f"LFW all pairs, {r.pack}",
            )
            return
        g, i = split_scores(r.test.scores, r.test.labels)
        plot_verification(
            path,
            roc_curve(r.test.scores, r.test.labels),
            g,
            i,
            threshold=r.test.fixed_threshold,
            title=f"LFW pairs, {r.pack}",
        )


@evaluate_app.command("lfw")
def lfw(
    data: Annotated[
        Path, typer.Option(help="LFW folder (pairs.txt + image folder) or its image folder.")
    ],
    pack: PackOption = DEFAULT_PACK,
    embedder: EmbedderOption = None,
    pairs: Annotated[
        str, typer.Option(help="Pairs file scored (View 2: pairs.txt).")
    ] = "pairs.txt",
    train_pairs: Annotated[
        str | None,
        typer.Option(help="Choose the threshold on these pairs (View 1: pairsDevTrain.txt)."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Fixed threshold to also score at (default: the pack's).")
    ] = None,
    face: Annotated[
        str,
        typer.Option(
            help="Subject face: subject (best overlap with LFW's centred subject box; "
            "fallbacks run when none), center, largest, only, or an index."
        ),
    ] = "subject",
    fallback: Annotated[
        list[str] | None,
        typer.Option(
            help=f"When the subject is not found, try in order: {', '.join(FALLBACKS)}; or none "
            "(default: upsample2, cnn, center-box where the pack allows them)."
        ),
    ] = None,
    upsample: Annotated[int | None, typer.Option(help="Detector upsampling override.")] = None,
    augment: AugmentOption = "none",
    far: Annotated[list[float], typer.Option(help="TAR is reported at these FARs.")] = [1e-2, 1e-3],  # noqa: B006
    all_pairs: Annotated[
        bool, typer.Option("--all-pairs", help="Also score every pair of all 13,233 images.")
    ] = False,
    identification: Annotated[
        bool, typer.Option("--identification", help="Also run rank-1/5, open-set, distractors.")
    ] = False,
    plot: PlotOption = None,
    save_embeddings: Annotated[
        Path | None,
        typer.Option(help="Write every image's embedding, label and file to this .npz."),
    ] = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
    no_cache: NoCacheOption = False,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """LFW pair matching (View 2, 10-fold), plus all-pairs TAR at low FAR and identification."""
    if augment not in AUGMENTS:
        raise fail(f"--augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
    with errors_to_exit():
        config = lfw_config(
            pack,
            face=_eval_face(face),
            embedder=embedder,
            upsample=upsample,
            augment=augment,
            workers=workers or _cores(),
            ray=ray,
            **({} if fallback is None else {"fallbacks": _fallbacks(fallback)}),
        )
    with errors_to_exit():
        report = evaluate_lfw(
            data,
            config,
            pairs=pairs,
            train_pairs=train_pairs,
            threshold=threshold,
            fars=tuple(far),
            all_pairs=all_pairs,
            identification=identification,
            cache=_cache(no_cache),
            progress=_progress(quiet),
        )
    if json_:
        print_json(report.to_dict())
    else:
        _print_lfw(report)
    if plot is not None:
        _plot_lfw(plot, report)
    if save_embeddings is not None:
        with errors_to_exit():
            write_npz(save_embeddings, report.embeddings, report.images)


def _print_calibration(r: CalibrationResult) -> None:
    out.print(
        f"{r.root}: {r.identities} people, {r.images_used} of {r.images} images used; "
        f"{r.genuine_pairs} genuine and {r.impostor_pairs} impostor pairs (pack {r.pack})"
    )
    for f, reason in r.skipped:
        err.print(f"skipped {f}: {reason}")
    out.print(
        f"threshold {r.threshold:.4f} for FAR {r.target_far:g}: FAR {r.far:.2e}, FRR {_pct(r.frr)}"
    )


def _save_threshold(r: CalibrationResult, gallery: Path, force: bool) -> None:
    from faceprint.gallery import Gallery

    if not r.supported and not force:
        raise fail(
            f"not saved: too few impostor pairs ({r.impostor_pairs} < "
            f"{r.impostor_pairs_needed}); add people, or pass --force to save it anyway"
        )
    if not Gallery.exists(gallery):
        raise fail(f"no gallery in {gallery}; create one with `faceprint enroll --gallery DIR`")
    source = (
        f"faceprint calibrate on {r.root}: target FAR {r.target_far:g}, FAR {r.far:.2e}, "
        f"FRR {r.frr:.4f}, {r.genuine_pairs} genuine / {r.impostor_pairs} impostor pairs"
    )
    with errors_to_exit(), Gallery.open(gallery) as g:
        g.space.check(
            EmbeddingSpace(r.pack, cast(Augment, r.augment)), holder=str(gallery), source=gallery
        )
        g.settings.set_threshold(r.threshold, source=source)
    note.print(f"saved threshold {r.threshold:.4f} in {gallery}")


@app.command()
def calibrate(
    folders: Annotated[Path, typer.Option(help="Folder with one subfolder of photos per person.")],
    target_far: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="False accept rate to meet.")
    ] = 1e-4,
    pack: PackOption = DEFAULT_PACK,
    embedder: EmbedderOption = None,
    face: Annotated[
        str, typer.Option(help="Which face of each photo: largest, center, only, or an index.")
    ] = "largest",
    augment: AugmentOption = "none",
    save: Annotated[
        bool, typer.Option("--save", help="Store the threshold in the gallery's settings.")
    ] = False,
    gallery: Annotated[Path | None, typer.Option(help="Gallery directory for --save.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Save even when the impostor pairs are too few.")
    ] = False,
    plot: PlotOption = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
    no_cache: NoCacheOption = False,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """The threshold that meets a target FAR on your own labelled photos."""
    if save and gallery is None:
        raise fail("--save needs --gallery DIR")
    if augment not in AUGMENTS:
        raise fail(f"--augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
    config = ExtractionConfig(
        pack=pack,
        face=_eval_face(face),
        augment=cast(Augment, augment),
        embedder=embedder,
        workers=workers or _cores(),
        ray=ray,
    )
    with errors_to_exit():
        result = calibrate_folders(
            folders, target_far, config, cache=_cache(no_cache), progress=_progress(quiet)
        )
    if json_:
        print_json(result.to_dict())
    else:
        _print_calibration(result)
    if result.warning:
        err.print(Text.assemble(("warning:", "yellow"), " ", result.warning))
    if plot is not None:
        s = result.scores
        with errors_to_exit():
            plot_verification(
                plot,
                s.roc,
                s.genuine_hist,
                s.impostor_hist,
                histograms=True,
                threshold=result.threshold,
                title=f"calibration on {result.root}",
            )
    if save and gallery is not None:
        _save_threshold(result, gallery, force)
