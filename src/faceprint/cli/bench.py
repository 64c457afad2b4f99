"""``faceprint bench search`` and ``faceprint bench synth``: search-index benchmarks on
realistic synthetic embeddings (see :mod:`faceprint.bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from faceprint.cli._app import app as _root
from faceprint.cli._common import (
    JsonOption,
    errors_to_exit,
    note,
    out,
    param_value,
    print_json,
)
from faceprint.errors import InvalidArgumentError

app = typer.Typer(
    help="Benchmarks: index backends on synthetic galleries, and the synthetic data itself.",
    no_args_is_help=True,
)
_root.add_typer(app, name="bench")


def _parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``backend.key=value`` (value as JSON when it parses, else a string) per backend."""
    out_: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        backend, dot, name = key.partition(".")
        if not sep or not dot:
            raise InvalidArgumentError(
                f"--param {item!r}: expected BACKEND.NAME=VALUE, e.g. hnsw.ef_search=128"
            )
        out_.setdefault(backend, {})[name] = param_value(raw)
    return out_


def _parse_sweep(items: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``backend.name=v1,v2,...`` lines; several lines of one backend combine as a product."""
    sweeps: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        backend, dot, name = key.partition(".")
        if not sep or not dot:
            raise InvalidArgumentError(f"--sweep {item!r}: expected BACKEND.NAME=V1,V2,...")
        values = [_sweep_value(item, v) for v in raw.split(",")]
        before = sweeps.get(backend, [{}])
        sweeps[backend] = [{**b, name: v} for b in before for v in values]
    return sweeps


def _sweep_value(item: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"--sweep {item!r}: {raw!r} is not a JSON value (a number, true/false, a quoted string)"
        ) from None


def _parse_max_n(items: list[str]) -> dict[str, int]:
    pairs = [item.partition("=") for item in items]
    if any(not sep for _, sep, _ in pairs):
        raise InvalidArgumentError("--max-n expects BACKEND=N, e.g. milvus=100000")
    bad = [v for _, _, v in pairs if not v.strip().isdigit()]
    if bad:
        raise InvalidArgumentError(f"--max-n expects a whole number of vectors, got {bad[0]!r}")
    return {b: int(v) for b, _, v in pairs}


@app.command("search")
def search(
    n: Annotated[int, typer.Option(help="Templates in the gallery.")] = 100_000,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 512,
    backend: Annotated[
        str, typer.Option(help="Comma-separated backends (see faceprint.index).")
    ] = "exact,exact-f16,exact-int8,hnsw,ivfpq,binary,pq",
    preset: Annotated[
        str | None, typer.Option(help="Synthetic distribution: dlib or arcface (default by dim).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="BACKEND.NAME=VALUE backend parameter (repeatable).")
    ] = None,
    max_n: Annotated[
        list[str] | None,
        typer.Option(help="BACKEND=N: run a slow backend on the first N templates only."),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(help="BACKEND.NAME=V1,V2: search-time values measured on one build."),
    ] = None,
    probes: Annotated[int, typer.Option(help="Evaluation probes (half not enrolled).")] = 1000,
    queries: Annotated[int, typer.Option(help="Single queries timed for p50/p99.")] = 200,
    k: Annotated[int, typer.Option(help="Neighbours per query.")] = 10,
    threshold: Annotated[
        float | None, typer.Option(help="Operating threshold (default: FPIR 1% of exact search).")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where saved indexes go (default: a temporary folder).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic data.")] = 0,
    save_json: Annotated[
        Path | None, typer.Option(help="Also write the JSON report to this file.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Build, save, open and query every backend on the same synthetic gallery."""
    from faceprint.bench.search import run_search_bench

    with errors_to_exit():
        report = run_search_bench(
            n,
            dim,
            [b.strip() for b in backend.split(",") if b.strip()],
            preset=preset,
            params=_parse_params(param or []),
            max_n=_parse_max_n(max_n or []),
            sweep=_parse_sweep(sweep or []),
            probes=probes,
            queries=queries,
            k=k,
            threshold=threshold,
            workdir=workdir,
            seed=seed,
            progress=lambda msg: note.print(msg, markup=False, highlight=False),
        )
    if save_json is not None:
        save_json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if json_out:
        print_json(report.to_dict())
        return
    s = report.stats
    out.print(
        f"{report.n} x {report.dim} synthetic ({report.preset}): genuine {s.genuine_mean:.3f} "
        f"± {s.genuine_std:.3f}, impostor {s.impostor_mean:.3f} ± {s.impostor_std:.3f}; "
        f"threshold {report.threshold:.4f} ({report.threshold_source})",
        markup=False,
    )
    out.print(report.table(), markup=False)


@app.command("synth")
def synth(
    preset: Annotated[str, typer.Option(help="dlib (128-d) or arcface (512-d).")] = "dlib",
    n: Annotated[int, typer.Option(help="Synthetic templates to measure.")] = 20_000,
    compare: Annotated[
        Path | None,
        typer.Option(help="An .npz with real 'embeddings' (N, D) and 'labels' (N,) to compare."),
    ] = None,
    fit: Annotated[bool, typer.Option(help="Refit the generator to the preset's targets.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Genuine/impostor similarity statistics of the synthetic generator (and of real data)."""
    from faceprint.bench.synth import (
        PRESETS,
        calibrate,
        make_gallery,
        similarity_stats,
        synth_spec,
    )

    with errors_to_exit():
        spec = calibrate(*PRESETS[preset]) if fit else synth_spec(preset)
        g = make_gallery(n, spec, probes=0)
        rows = {"synthetic": similarity_stats(g.vectors, g.labels).to_dict()}
        if compare is not None:
            data = np.load(compare)
            rows["real"] = similarity_stats(data["embeddings"], data["labels"]).to_dict()
    if json_out:
        print_json({"preset": preset, "spec": spec.to_dict(), **rows})
        return
    out.print(f"{preset}: {spec}", markup=False)
    keys = list(rows["synthetic"])
    out.print("| statistic | " + " | ".join(rows) + " |", markup=False)
    out.print("|---|" + "---|" * len(rows), markup=False)
    for key in keys:
        cells = " | ".join(
            f"{r[key]:.4f}" if isinstance(r[key], float) else str(r[key]) for r in rows.values()
        )
        out.print(f"| {key} | {cells} |", markup=False)
