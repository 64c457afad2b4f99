"""Quick FAISS-only probe of flat and IVF 4-bit fast-scan PQ on a dlib-like synthetic gallery
(docs/scale.md, section 2): recall of the exact top-1 of enrolled probes after an exact re-rank of
the shortlist, and single-query latency.

    PYTHONPATH=src python benchmarks/probe_ivf_fastscan.py 1000000 32,64 1024 32,64,128,256

Arguments: gallery size, flat PQ sub-quantizer counts, IVF lists, IVF nprobe values.
"""

# ruff: noqa
import time, sys, numpy as np, faiss
from faceprint.bench.synth import make_gallery, synth_spec

n = int(sys.argv[1])
g = make_gallery(n, synth_spec("dlib"), probes=400, open_set_fraction=0.0, seed=0)
x, q = g.vectors, g.probes
faiss.omp_set_num_threads(1)
# exact truth
truth = np.empty(len(q), np.int64)
best = np.full(len(q), -np.inf, np.float32)
for s in range(0, n, 65536):
    sc = q @ x[s : s + 65536].T
    j = sc.argmax(1)
    v = sc[np.arange(len(q)), j]
    upd = v > best
    best[upd] = v[upd]
    truth[upd] = j[upd] + s
print("truth done", flush=True)


def rerank(cand):
    out = np.empty(len(q), np.int64)
    for i, c in enumerate(cand):
        c = c[c >= 0]
        out[i] = c[np.argmax(x[c] @ q[i])]
    return out


def lat(index, k, params=None):
    ts = []
    for i in range(100):
        t = time.perf_counter()
        index.search(q[i : i + 1], k, params=params) if params else index.search(q[i : i + 1], k)
        ts.append(time.perf_counter() - t)
    return np.percentile(ts, 50) * 1e3, np.percentile(ts, 99) * 1e3


train = x[np.random.default_rng(0).choice(n, 65536, replace=False)]
for m in (int(a) for a in sys.argv[2].split(",")):
    idx = faiss.IndexPQFastScan(128, m, 4, faiss.METRIC_INNER_PRODUCT)
    idx.train(train)
    idx.add(x)
    for sl in (256, 1024):
        _, cand = idx.search(q, sl)
        r = np.mean(rerank(cand) == truth)
        print(
            f"flat pqfs m={m} shortlist={sl}: recall {r:.4f} lat p50/p99 {lat(idx, sl)}", flush=True
        )
    del idx
nlist = int(sys.argv[3])
quant = faiss.IndexFlatIP(128)
ivf = faiss.IndexIVFPQFastScan(quant, 128, nlist, 64, 4, faiss.METRIC_INNER_PRODUCT)
ivf.train(train)
ivf.add(x)
for nprobe in (int(a) for a in sys.argv[4].split(",")):
    p = faiss.SearchParametersIVF()
    p.nprobe = nprobe
    _, cand = ivf.search(q, 256, params=p)
    r = np.mean(rerank(cand) == truth)
    print(
        f"ivfpqfs nlist={nlist} m=64 nprobe={nprobe} shortlist=256: recall {r:.4f} lat {lat(ivf, 256, p)}",
        flush=True,
    )
