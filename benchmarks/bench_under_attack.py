"""``faceprint serve`` under attack, on loopback: does the service carry on?

A keyed server (``faceprint serve`` in its own process, one enrolled person) is attacked for
``--seconds`` by

* ``--body-clients`` unauthenticated clients, each in a loop sending ``PATCH /v1/people/1`` with
  ``Content-Length: 60 MiB`` and streaming that JSON body (``[[],[],...]``) as fast as the server
  takes it, and
* ``--slow-clients`` slow-loris connections that send a request's headers one byte at a time
  (reopened when the server closes them),

while a prober sends ``GET /v1/health`` every 50 ms (latency p50/p99) and an authorised client
identifies ``obama.jpg`` in a loop (answers and their latency). The server's RSS is sampled every
100 ms: growth is the peak during the attack minus the value before it. Loopback only; bounded in
connections, bytes and time.

    FACEPRINT_DATA=../shared/data nice -n 10 python benchmarks/bench_under_attack.py --json /tmp/attack.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_server import free_port, rss_mib

from faceprint.client import Client
from faceprint.server.security import KeyStore

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data"))
PHOTOS = DATA / "photos" / "face_recognition"
MiB = 1024 * 1024
CHUNK = b"[]," * (MiB // 3)


def start_server(gallery: Path, port: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "faceprint", "serve", "--gallery", str(gallery), "--port",
            str(port), "--workers", "1", "--rate", "100000", "--concurrent", "1000",
            "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).json()["status"] == "ok":
                return proc
        except (httpx.HTTPError, KeyError, ValueError):
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start")


class Attack:
    def __init__(self, port: int, stop: threading.Event) -> None:
        self.port, self.stop = port, stop
        self.bodies = self.bytes_sent = self.answers_401 = self.loris_opened = 0
        self.lock = threading.Lock()

    def body_client(self) -> None:
        head = (
            f"PATCH /v1/people/1 HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {60 * MiB}\r\n\r\n"
        ).encode()
        while not self.stop.is_set():
            sent = 0
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(head)
                    while sent < 60 * MiB and not self.stop.is_set():
                        sock.sendall(CHUNK)
                        sent += len(CHUNK)
                    answer = sock.recv(64)
            except OSError:
                answer = b""
            with self.lock:
                self.bodies += 1
                self.bytes_sent += sent
                self.answers_401 += answer.startswith(b"HTTP/1.1 401")

    def slow_client(self) -> None:
        request = f"GET /v1/people HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                    with self.lock:
                        self.loris_opened += 1
                    for byte in request[:-2]:
                        if self.stop.wait(0.5):
                            break
                        sock.sendall(bytes([byte]))
            except OSError:
                self.stop.wait(0.1)


def probe_health(port: int, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            ok = http.get("/v1/health").status_code == 200
            out.append((time.perf_counter() - started) * 1000 if ok else float("inf"))
            stop.wait(0.05)


def identify_loop(url: str, key: str, stop: threading.Event, out: list[tuple[str, float]]) -> None:
    image = (PHOTOS / "obama2.jpg").read_bytes()
    with Client(url, key, timeout=60) as fp:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                label = fp.identify(image).faces[0].label
            except Exception as exc:  # reported, not raised: the benchmark measures answers
                label = f"error: {exc}"
            out.append((label, (time.perf_counter() - started) * 1000))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--body-clients", type=int, default=10)
    ap.add_argument("--slow-clients", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-attack-") as tmp:
        gallery = Path(tmp) / "gallery"
        admin = KeyStore(gallery).add("ops", "admin")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(gallery, port)
        try:
            with Client(url, admin) as fp:
                fp.enroll("Barack Obama", [PHOTOS / "obama.jpg"])
                fp.identify(PHOTOS / "obama2.jpg")  # warm
            result = run(args, proc, port, url, admin)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def run(
    args: argparse.Namespace, proc: subprocess.Popen[bytes], port: int, url: str, key: str
) -> dict[str, Any]:
    quiet: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe_health, args=(port, stop, quiet))
    prober.start()
    time.sleep(3)
    stop.set()
    prober.join()
    rss_before = rss_mib(proc.pid)
    stop = threading.Event()
    attack = Attack(port, stop)
    health: list[float] = []
    answers: list[tuple[str, float]] = []
    rss: list[float] = []
    threads = [threading.Thread(target=attack.body_client) for _ in range(args.body_clients)]
    threads += [threading.Thread(target=attack.slow_client) for _ in range(args.slow_clients)]
    threads += [threading.Thread(target=probe_health, args=(port, stop, health)),
                threading.Thread(target=identify_loop, args=(url, key, stop, answers))]  # fmt: skip
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        rss.append(rss_mib(proc.pid))
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    labels = [a for a, _ms in answers]
    return {
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "health_quiet_ms": {"n": len(quiet), "p50": pct(quiet, 0.5), "p99": pct(quiet, 0.99)},
        "health_under_attack_ms": {
            "n": len(health),
            "p50": pct(health, 0.5),
            "p99": pct(health, 0.99),
            "failed": sum(1 for v in health if v == float("inf")),
        },
        "identify": {
            "answers": len(answers),
            "named_obama": labels.count("Barack Obama"),
            "errors": [a for a in labels if a.startswith("error")][:3],
            "p50_ms": pct([ms for _a, ms in answers], 0.5) if answers else None,
        },
        "attack": {
            "bodies_started": attack.bodies,
            "mib_sent": round(attack.bytes_sent / MiB, 1),
            "answered_401": attack.answers_401,
            "slow_loris_connections": attack.loris_opened,
        },
        "rss_mib": {
            "before": round(rss_before, 1),
            "peak": round(max(rss), 1),
            "growth": round(max(rss) - rss_before, 1),
        },
        "health_median_ms": round(statistics.median(health), 1) if health else None,
    }


if __name__ == "__main__":
    main()
