"""The shared driver of faceprint's fuzz targets (``fuzz/fuzz_*.py``).

A target is a function of bytes that may raise faceprint's own errors (the input was refused)
and nothing else: any other exception, a crash, a hang over ``--timeout`` seconds or memory over
``--rss-mb`` is a **finding**, saved under ``--findings`` with the input that caused it.

Engines: `atheris <https://github.com/google/atheris>`_ (coverage-guided libFuzzer, used when
installed) or a built-in mutator (byte flips, inserts, deletes, truncations and splices of the
seeds; no coverage) so that the targets also run where atheris does not build.

    python fuzz/fuzz_image.py --seconds 60            # one line of JSON at the end:
    {"target": "image", "engine": "atheris", "seconds": 60.1, "executions": 81234, "findings": 0}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

Target = Callable[[bytes], object]

HERE = Path(__file__).resolve().parent
_CHILD = "FACEPRINT_FUZZ_CHILD"


def run(
    name: str,
    make_target: Callable[[], Target],
    seeds: Callable[[], Sequence[bytes]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the command line and fuzz ``make_target()`` for the time budget; 1 on findings."""
    if os.environ.get(_CHILD):  # the libFuzzer arguments are atheris' own
        return _atheris_child(make_target)
    args = _parse(name, argv)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if _has_atheris() else "mutate"
    start = time.monotonic()
    findings = Path(args.findings)
    findings.mkdir(parents=True, exist_ok=True)
    before = set(findings.iterdir())
    if engine == "atheris":
        runs = _atheris_parent(name, seeds(), args)
    else:
        runs = _mutate(make_target(), seeds(), args, findings / f"{name}-")
    new = sorted(str(p) for p in set(findings.iterdir()) - before)
    report = {
        "target": name,
        "engine": engine,
        "seconds": round(time.monotonic() - start, 1),
        "executions": runs,
        "findings": len(new),
        "finding_files": new,
    }
    print(json.dumps(report), flush=True)
    return 1 if new else 0


def _parse(name: str, argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"Fuzz faceprint's {name} boundary.")
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    p.add_argument("--findings", default=str(HERE / "findings"), help="where findings go")
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    p.add_argument("--rss-mb", type=int, default=3072, help="memory one run may use")
    p.add_argument("--seed", type=int, default=0, help="random seed of the built-in mutator")
    return p.parse_args(argv)


def _has_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


# --- atheris: a child process runs libFuzzer; the parent reads its statistics ----------------------
def _atheris_parent(name: str, seeds: Sequence[bytes], args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        for i, seed in enumerate(seeds):
            Path(corpus, f"seed-{i:03d}").write_bytes(seed)
        script = Path(sys.argv[0]).resolve() if sys.argv[0].endswith(".py") else None
        module = sys.modules["__main__"].__file__ if script is None else str(script)
        cmd = [
            sys.executable,
            str(module),
            f"-max_total_time={max(1, round(args.seconds))}",
            f"-timeout={args.timeout}",
            f"-rss_limit_mb={args.rss_mb}",
            "-max_len=262144",
            f"-artifact_prefix={Path(args.findings).resolve()}/{name}-",
            "-print_final_stats=1",
            corpus,
        ]
        env = {**os.environ, _CHILD: "1", "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace")
    log = proc.stderr
    if proc.returncode not in (0, 1, 70, 71, 77):  # libFuzzer: crash 1, timeout 70, oom 71
        sys.stderr.write(log[-3000:])
    found = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log) or re.findall(
        r"Done (\d+) runs", log
    )
    if proc.returncode != 0:
        sys.stderr.write(log[-3000:])
    return int(found[-1]) if found else 0


def _atheris_child(make_target: Callable[[], Target]) -> int:
    import atheris

    with atheris.instrument_imports(include=["faceprint"]):
        target = make_target()

    def one_input(data: bytes) -> None:
        target(data)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
    return 0


# --- the built-in mutator ----------------------------------------------------------------------------
def _mutate(target: Target, seeds: Sequence[bytes], args: argparse.Namespace, prefix: Path) -> int:
    rng = random.Random(args.seed)
    pool = [bytes(s) for s in seeds] or [b""]
    end = time.monotonic() + args.seconds
    runs = 0
    while time.monotonic() < end:
        data = _mutant(rng, pool)
        runs += 1
        try:
            target(data)
        except Exception:
            out = prefix.with_name(f"{prefix.name}crash-{runs}")
            out.write_bytes(data)
            out.with_suffix(".txt").write_text(traceback.format_exc())
        if rng.random() < 0.01 and len(pool) < 256:
            pool.append(data)
    return runs


def _mutant(rng: random.Random, pool: Sequence[bytes]) -> bytes:
    data = bytearray(rng.choice(pool))
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a byte
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:  # interesting value
            value = rng.choice(
                [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00"]
            )
            data[pos:pos] = value
        elif op == 2 and data:  # delete a run
            del data[pos : pos + rng.randint(1, 64)]
        elif op == 3:  # truncate
            del data[pos:]
        elif op == 4:  # splice another seed
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        else:  # duplicate a run
            data[pos:pos] = data[pos : pos + rng.randint(1, 256)]
    return bytes(data)
