"""Load, latency and memory of ``faceprint serve`` on loopback, against the library itself.

One run, same machine, same work:

1. **library**: ``--workers`` threads share an :class:`AnalyzerPool` of ``--workers`` analyzers and
   loop over the mixed work (verify two photos / identify / search a photo against the gallery)
   for ``--library-seconds``: operations per second (the anchor).
2. **server**: ``faceprint serve --workers W`` in its own process on 127.0.0.1; an httpx asyncio
   driver runs 1,000 mixed warm-up requests (RSS read after them), then ``--clients``
   concurrent clients send the same mixed work for ``--seconds``: failed requests, p50/p99 per
   route, requests per second and its ratio to the library's operations per second; then more
   requests until ``--memory-requests`` in all (RSS read again).

Gallery: ``--people`` synthetic dlib-like identities (:mod:`faceprint.bench.synth`) plus the real
LFW people whose photos are the queries (enrolled from their first photo; queries are their
second and third photos, 250x250 real faces). The memory top-up mixes inference with cheap
requests (people list, models, a thumbnail, a refused upload) one inference in ``--cheap-every`` (10) requests.

    FACEPRINT_DATA=../shared/data python benchmarks/bench_server.py --json /tmp/bench_server.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from faceprint.batch import AnalyzerPool
from faceprint.bench.synth import make_gallery, synth_spec
from faceprint.compare import verify_embeddings
from faceprint.gallery import Gallery

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data"))
ROUTES = ("verify", "identify", "search")


def lfw_people(count: int, pool: AnalyzerPool) -> list[list[Path]]:
    """The first ``count`` LFW people (alphabetical) with three photos in which the pack's
    detector finds a face (so every query is answerable and a failure means a fault)."""
    root = DATA / "lfw" / "images_deepfunneled"
    out = []
    for person in sorted(root.iterdir()):
        photos = sorted(person.glob("*.jpg"))[:3]
        if len(photos) == 3 and all(len(pool.detect(p)) for p in photos):
            out.append(photos)
        if len(out) == count:
            break
    return out


def build_gallery(directory: Path, people: int, real: list[list[Path]], pool: AnalyzerPool) -> None:
    synth = make_gallery(people, synth_spec("dlib"), templates_per_identity=1, probes=1, seed=7)
    with Gallery.create(directory, "dlib") as gallery:
        gallery.add_embeddings([f"synthetic {i:05d}" for i in range(people)], synth.vectors)
        with pool.acquire() as fa:
            for photos in real:
                gallery.enroll(photos[0].parent.name, [photos[0]], fa)


class Work:
    """The mixed operations, as (route, payload) in a fixed rotation."""

    def __init__(self, real: list[list[Path]]) -> None:
        self.pairs = [(p[1].read_bytes(), p[2].read_bytes()) for p in real]
        self.queries = [p[1].read_bytes() for p in real] + [p[2].read_bytes() for p in real]
        self._cycle = itertools.cycle(range(3 * len(self.queries)))
        self._lock = threading.Lock()

    def next(self) -> tuple[str, Any]:
        with self._lock:
            i = next(self._cycle)
        route = ROUTES[i % 3]
        if route == "verify":
            return route, self.pairs[(i // 3) % len(self.pairs)]
        return route, self.queries[(i // 3) % len(self.queries)]


def run_library(
    gallery_dir: Path, pool: AnalyzerPool, work: Work, threads: int, seconds: float
) -> dict[str, Any]:
    """Operations per second of the library doing the mixed work in ``threads`` threads."""
    gallery = Gallery.open(gallery_dir)
    counts: dict[str, int] = defaultdict(int)
    deadline = time.perf_counter() + seconds

    def one(route: str, payload: Any) -> None:
        if route == "verify":
            a, b = pool.embed_one(payload[0]), pool.embed_one(payload[1])
            verify_embeddings(a.embedding, b.embedding, threshold=gallery.threshold)  # type: ignore[arg-type]
        elif route == "identify":
            gallery.identify(pool.analyze(payload), top_k=3)
        else:
            gallery.search(pool.analyze(payload), top_k=5, thumbnails=False)

    def loop() -> None:
        while time.perf_counter() < deadline:
            route, payload = work.next()
            one(route, payload)
            counts[route] += 1

    cpu, start = time.process_time(), time.perf_counter()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    wall = time.perf_counter() - start
    gallery.close()
    total = sum(counts.values())
    return {"ops": total, "wall_s": round(wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
            "ops_per_s": round(total / wall, 2), "by_route": dict(counts)}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(gallery: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "faceprint", "serve", "--gallery", str(gallery), "--port", str(port),
            "--workers", str(workers), "--rate", "100000", "--concurrent", "1000", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).json().get("status") == "ok":
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start")


def request_for(route: str, payload: Any, thumbnail: int = 1) -> tuple[str, str, dict[str, Any]]:
    if route == "verify":
        return (
            "POST",
            "/v1/verify",
            {"files": {"image_a": ("a.jpg", payload[0]), "image_b": ("b.jpg", payload[1])}},
        )
    if route == "identify":
        return (
            "POST",
            "/v1/identify",
            {"files": {"image": ("q.jpg", payload)}, "data": {"top_k": "3"}},
        )
    if route == "search":
        return (
            "POST",
            "/v1/search",
            {"files": {"image": ("q.jpg", payload)}, "data": {"top_k": "5"}},
        )
    if route == "people":
        return "GET", "/v1/people", {}
    if route == "models":
        return "GET", "/v1/models", {}
    if route == "thumbnail":
        return "GET", f"/v1/thumbnails/{thumbnail}", {}
    return (
        "POST",
        "/v1/detect",
        {"files": {"image": ("bad.jpg", b"not an image at all")}},
    )  # refused: 415


EXPECTED = {"refused": 415}


class Driver:
    """Clients on one asyncio loop; records (route, status, seconds) of every request."""

    def __init__(self, url: str, work: Work, thumbnail: int) -> None:
        self.url, self.work, self.thumbnail = url, work, thumbnail
        self.records: list[tuple[str, int, float, float]] = []  # route, status, latency, done at
        self.t0 = 0.0
        self.errors: dict[str, int] = defaultdict(int)  # transport errors by type

    async def _one(self, http: httpx.AsyncClient, route: str, payload: Any) -> None:
        method, path, kwargs = request_for(route, payload, self.thumbnail)
        start = time.perf_counter()
        try:
            status = (await http.request(method, path, **kwargs)).status_code
        except httpx.HTTPError as exc:
            status = -1
            self.errors[type(exc).__name__] += 1
        end = time.perf_counter()
        self.records.append((route, status, end - start, end - self.t0))

    async def run(self, clients: int, *, seconds: float | None = None, requests: int | None = None,
                  pick: Callable[[int], tuple[str, Any]] | None = None) -> None:  # fmt: skip
        pick = pick or (lambda i: self.work.next())
        counter = itertools.count()
        self.t0 = time.perf_counter()
        deadline = None if seconds is None else time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

        async def client(http: httpx.AsyncClient) -> None:
            while True:
                i = next(counter)
                if (requests is not None and i >= requests) or (
                    deadline is not None and time.perf_counter() >= deadline
                ):
                    return
                route, payload = pick(i)
                await self._one(http, route, payload)

        async with httpx.AsyncClient(base_url=self.url, timeout=300, limits=limits) as http:
            await asyncio.gather(*(client(http) for _ in range(clients)))


def summarise(records: list[tuple[str, int, float, float]], window: float) -> dict[str, Any]:
    """Per-route latency percentiles, failures (by route and status), and throughput: the
    requests completed within the ``window`` seconds after the start, per second."""
    by_route: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for route, status, seconds, _done in records:
        if status != EXPECTED.get(route, 200):
            failures[f"{route} {status}"] += 1
        by_route[route].append(seconds)
    in_window = sum(1 for r in records if r[3] <= window)
    routes = {
        r: {"n": len(v), "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1),
            "p99_ms": round(float(np.percentile(v, 99)) * 1000, 1)}
        for r, v in sorted(by_route.items())
    }  # fmt: skip
    return {"requests": len(records), "completed_in_window": in_window, "window_s": window,
            "failed": sum(failures.values()), "failures": dict(failures),
            "requests_per_s": round(in_window / window, 2), "routes": routes}  # fmt: skip


def cheap_mix(work: Work, every: int) -> Callable[[int], tuple[str, Any]]:
    cheap = itertools.cycle(["people", "models", "thumbnail", "refused"])

    def pick(i: int) -> tuple[str, Any]:
        return work.next() if i % every == 0 else (next(cheap), None)

    return pick


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--library-seconds", type=float, default=30.0)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--real-people", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warmup-requests", type=int, default=1000)
    ap.add_argument("--memory-requests", type=int, default=10000)
    ap.add_argument("--cheap-every", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    pool = AnalyzerPool("dlib", size=args.workers)
    real = lfw_people(args.real_people, pool)
    work = Work(real)
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        gallery_dir = Path(tmp) / "gallery"
        build_gallery(gallery_dir, args.people, real, pool)
        before = run_library(gallery_dir, pool, work, args.workers, args.library_seconds)
        print("library (before)", json.dumps(before), flush=True)
        proc, url = start_server(gallery_dir, args.workers)
        try:
            driver = Driver(url, work, thumbnail=args.people + 1)  # the first real template
            mix = cheap_mix(work, args.cheap_every)
            asyncio.run(driver.run(args.clients, requests=args.warmup_requests, pick=mix))
            rss_first, done = rss_mib(proc.pid), len(driver.records)
            warm_failed = summarise(driver.records, 1.0)["failures"]
            driver.records.clear()
            server_cpu, driver_cpu = cpu_s(proc.pid), time.process_time()
            asyncio.run(driver.run(args.clients, seconds=args.seconds))
            load = summarise(driver.records, args.seconds)
            load["server_cpu_s"] = round(cpu_s(proc.pid) - server_cpu, 2)
            load["driver_cpu_s"] = round(time.process_time() - driver_cpu, 2)
            load["server_cpu_ms_per_request"] = round(
                1000 * load["server_cpu_s"] / load["requests"], 1
            )
            print("load", json.dumps(load), flush=True)
            after = run_library(gallery_dir, pool, work, args.workers, args.library_seconds)
            print("library (after)", json.dumps(after), flush=True)
            library = round((before["ops_per_s"] + after["ops_per_s"]) / 2, 3)
            cpu_per_op = 1000 * (before["cpu_s"] + after["cpu_s"]) / (before["ops"] + after["ops"])
            result["library"] = {"before": before, "after": after, "ops_per_s": library,
                                 "cpu_ms_per_op": round(cpu_per_op, 1)}  # fmt: skip
            load["ratio_to_library"] = round(load["requests_per_s"] / library, 3)
            load["cpu_ratio"] = round(cpu_per_op / load["server_cpu_ms_per_request"], 3)
            result["load"] = load
            print("ratio", load["ratio_to_library"], "cpu ratio", load["cpu_ratio"], flush=True)
            done += len(driver.records)
            driver.records.clear()
            asyncio.run(
                driver.run(args.clients, requests=max(0, args.memory_requests - done), pick=mix)
            )
            rss_total = rss_mib(proc.pid)
            result["memory"] = {"requests_at_first": args.warmup_requests,
                                "rss_mib_first": round(rss_first, 1),
                                "requests_total": done + len(driver.records),
                                "rss_mib_total": round(rss_total, 1),
                                "growth": round(rss_total / rss_first - 1, 4),
                                "failures": {**warm_failed, **summarise(driver.records, 1.0)["failures"]}}  # fmt: skip
            result["memory"]["transport_errors"] = dict(driver.errors)
            print("memory", json.dumps(result["memory"]), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            pool.close()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
