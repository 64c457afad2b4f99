"""Gallery benchmark: bulk enrolment rate, identification latency at 10,000 identities, LFW rank-1.

    python benchmarks/bench_gallery.py synthetic [--identities 10000] [--templates 2] [--dim 128]
    python benchmarks/bench_gallery.py lfw [--embeddings lfw_dlib_embeddings.npz]

``synthetic``: identities are random unit centres with noisy templates around them (cosine about
0.9 to their centre); probes are fresh noisy copies. Measures ``Gallery.add_embeddings`` (one
transaction, SQLite + index) in embeddings per second, the time ``Gallery.identify`` adds per query
face (single faces: p50/p99; batches of 64: per face), and reopening the gallery.

``lfw``: a gallery of one image per person for everyone with at least two images in LFW (the
first image in name order), every other image of those people as a probe; rank-1 accuracy of
``Gallery.identify``. Embeddings come from an ``.npz`` (``embeddings``, ``labels``, ``files``;
rows without a face are zero or NaN) or else from ``faceprint.evaluate.embed_images`` (dlib pack,
HOG detector, centre face, the ``dlib-onnx`` embedder) through its on-disk cache, so that LFW is
embedded once for the evaluation and the gallery benchmarks alike (about 10 minutes on 2 cores
when the cache is cold).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.gallery import Gallery

FloatArray = npt.NDArray[np.float32]


def unit(x: npt.NDArray[Any]) -> FloatArray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def noisy(centres: FloatArray, rng: np.random.Generator, sigma: float = 0.5) -> FloatArray:
    d = centres.shape[1]
    return unit(centres + sigma * rng.normal(size=centres.shape) / np.sqrt(d))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result): on a machine shared with other
    jobs the CPU time shows what the work costs, the wall time what it took."""
    c = time.process_time()
    wall, out = timed(fn)
    return wall, time.process_time() - c, out


def bench_synthetic(
    identities: int, templates: int, dim: int, index: str, params: dict[str, Any]
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(identities, dim)))
    rows = np.repeat(np.arange(identities), templates)
    embeddings = noisy(centres[rows], rng)
    names = [f"id{i:06d}" for i in rows]
    out: dict[str, Any] = {
        "identities": identities,
        "templates": len(rows),
        "dim": dim,
        "index": index,
        "index_params": params,
    }
    with tempfile.TemporaryDirectory() as tmp:
        gdir = Path(tmp) / "g"
        with Gallery.create(gdir, _pack_for(dim), index=index, index_params=params) as g:
            secs, cpu, _ = cpu_timed(lambda: g.add_embeddings(names, embeddings))
            out["bulk_enrol_s"] = round(secs, 3)
            out["bulk_enrol_per_s"] = round(len(rows) / secs)
            out["bulk_enrol_per_cpu_s"] = round(len(rows) / cpu)
        secs, g = timed(lambda: Gallery.open(gdir))
        out["open_s"] = round(secs, 3)
        with g:
            out.update(_latency(g, centres, rng))
    return out


def _pack_for(dim: int) -> Any:
    from dataclasses import replace

    from faceprint.packs import get_pack

    pack = get_pack("dlib")
    return pack if dim == pack.dim else replace(pack, name=f"synthetic-{dim}", dim=dim)


def _latency(g: Gallery, centres: FloatArray, rng: np.random.Generator) -> dict[str, Any]:
    n_single = 500
    who = rng.integers(0, len(centres), size=n_single)
    probes = noisy(centres[who], rng)
    g.identify(probes[:10], threshold=0.5)  # warm up
    single = []
    correct = 0
    cpu0 = time.process_time()
    for i in range(n_single):
        secs, res = timed(lambda i=i: g.identify(probes[i], threshold=0.5))
        single.append(secs)
        correct += res[0].name == f"id{who[i]:06d}"
    cpu_single = (time.process_time() - cpu0) / n_single
    batch_probes = noisy(centres[rng.integers(0, len(centres), size=64 * 20)], rng)
    secs, _ = timed(
        lambda: [
            g.identify(batch_probes[j : j + 64], threshold=0.5)
            for j in range(0, len(batch_probes), 64)
        ]
    )
    top5, _ = timed(lambda: [g.identify(probes[i], top_k=5, threshold=0.5) for i in range(100)])
    ms = np.asarray(single) * 1000
    return {
        "identify_single_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "identify_single_p99_ms": round(float(np.percentile(ms, 99)), 3),
        "identify_single_cpu_ms": round(cpu_single * 1000, 3),
        "identify_single_top5_mean_ms": round(top5 * 1000 / 100, 3),
        "identify_batch64_per_face_ms": round(secs * 1000 / len(batch_probes), 3),
        "synthetic_rank1": round(correct / n_single, 4),
    }


def load_lfw(npz: Path | None) -> tuple[FloatArray, npt.NDArray[np.str_], list[str]]:
    if npz is not None and npz.is_file():
        data = np.load(npz, allow_pickle=False)
        return (
            data["embeddings"].astype(np.float32),
            data["labels"].astype(str),
            list(data["files"]),
        )
    from faceprint.evaluate.cache import EmbeddingCache
    from faceprint.evaluate.extract import ExtractionConfig, embed_images

    root = Path(os.environ.get("FACEPRINT_DATA", "../shared/data")) / "lfw" / "images_deepfunneled"
    files = sorted(str(p) for p in root.glob("*/*.jpg"))
    # dlib-onnx: the dlib network converted to ONNX (what faceprint.evaluate caches for LFW)
    config = ExtractionConfig(face="center", embedder="dlib-onnx")
    result = embed_images(files, config, cache=EmbeddingCache())
    labels = np.asarray([Path(f).parent.name for f in files])
    return result.embeddings, labels, files


def bench_lfw(npz: Path | None) -> dict[str, Any]:
    embeddings, labels, files = load_lfw(npz)
    order = np.lexsort((np.asarray(files), labels))
    embeddings, labels = embeddings[order], labels[order]
    people, first, counts = np.unique(labels, return_index=True, return_counts=True)
    multi = counts >= 2
    enrol = first[multi]
    is_probe = np.isin(labels, people[multi])
    is_probe[enrol] = False
    has_face = np.isfinite(embeddings).all(axis=1) & (np.abs(embeddings).sum(axis=1) > 0)
    ok_enrol = enrol[has_face[enrol]]
    probes = np.flatnonzero(is_probe & has_face)
    out: dict[str, Any] = {
        "people": int(multi.sum()),
        "enrolled": len(ok_enrol),
        "probes": int(is_probe.sum()),
        "probes_with_face": len(probes),
    }
    with tempfile.TemporaryDirectory() as tmp, Gallery.create(Path(tmp) / "g", "dlib") as g:
        g.add_embeddings(list(labels[ok_enrol]), embeddings[ok_enrol])
        secs, found = timed(lambda: g.identify(embeddings[probes], threshold=-1.0, top_k=5))
    names = [[m.name for m in f.matches] for f in found]
    truth = labels[probes]
    rank1 = np.mean([n[:1] == [t] for n, t in zip(names, truth)])
    rank5 = np.mean([t in n for n, t in zip(names, truth)])
    out.update(
        rank1=round(float(rank1), 4),
        rank5=round(float(rank5), 4),
        rank1_all_probes=round(float(rank1 * len(probes) / out["probes"]), 4),
        identify_per_face_ms=round(secs * 1000 / len(probes), 3),
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    syn = sub.add_parser("synthetic")
    syn.add_argument("--identities", type=int, default=10_000)
    syn.add_argument("--templates", type=int, default=2)
    syn.add_argument("--dim", type=int, default=128)
    syn.add_argument("--index", default="exact")
    syn.add_argument(
        "--index-params", type=json.loads, default={}, help='JSON, e.g. {"threads": 1}'
    )
    lfw = sub.add_parser("lfw")
    lfw.add_argument("--embeddings", type=Path, default=Path("/work/notes/lfw_dlib_embeddings.npz"))
    args = ap.parse_args()
    if args.what == "synthetic":
        result = bench_synthetic(
            args.identities, args.templates, args.dim, args.index, args.index_params
        )
    else:
        result = bench_lfw(args.embeddings)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
