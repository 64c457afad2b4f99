"""The synthetic gallery generator and the search benchmark (small sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.bench.search import run_search_bench
from faceprint.bench.synth import (
    PRESETS,
    make_gallery,
    similarity_stats,
    synth_spec,
)
from faceprint.cli import app


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_reproduce_their_target_statistics(preset: str) -> None:
    dim, target = PRESETS[preset]
    g = make_gallery(20_000, synth_spec(preset), probes=0, seed=5)
    s = similarity_stats(g.vectors, g.labels)
    assert g.vectors.shape == (20_000, dim)
    np.testing.assert_allclose(np.linalg.norm(g.vectors, axis=1), 1.0, atol=1e-5)
    assert s.genuine_mean == pytest.approx(target.genuine_mean, abs=0.01)
    assert s.genuine_std == pytest.approx(target.genuine_std, rel=0.15)
    assert s.impostor_mean == pytest.approx(target.impostor_mean, abs=0.01)
    assert s.impostor_std == pytest.approx(target.impostor_std, rel=0.15)
    assert s.genuine_p5 < s.genuine_mean - s.genuine_std  # a left tail (low-quality templates)


def test_gallery_layout_and_probes() -> None:
    g = make_gallery(1003, synth_spec("arcface", dim=32), templates_per_identity=4, probes=40)
    assert g.ids.tolist() == list(range(1, 1004))
    assert np.bincount(g.labels).max() == 4 and g.labels.max() == 250
    assert (g.probe_labels == -1).sum() == 20 and g.probes.shape == (40, 32)
    known = g.probe_labels >= 0
    centre_sim = [  # a probe is closest, on average, to its own identity's templates
        np.mean(g.vectors[g.labels == lab] @ p)
        for p, lab in zip(g.probes[known], g.probe_labels[known], strict=True)
    ]
    assert np.mean(centre_sim) > 0.4
    again = make_gallery(1003, synth_spec("arcface", dim=32), templates_per_identity=4, probes=40)
    np.testing.assert_array_equal(again.vectors, g.vectors)  # deterministic for a seed


def test_search_bench_small_run() -> None:
    report = run_search_bench(3000, 64, ["exact", "binary"], probes=60, queries=10)
    assert [r.backend for r in report.results] == ["exact", "binary"]
    exact, binary = report.results
    assert exact.recall_at_1 == 1.0 and exact.recall_at_10 == 1.0
    assert 0.5 < binary.recall_at_1 <= 1.0
    assert exact.bytes_per_face >= 64 * 4 and binary.bytes_per_face < 64 * 4 / 4
    assert 0 <= exact.fpir <= 1 and 0 <= exact.dir_rate <= 1
    assert report.sum_ms > 0 and "| exact |" in report.table()
    json.dumps(report.to_dict())


def test_cli_bench_search_json() -> None:
    result = CliRunner().invoke(
        app,
        ["bench", "search", "--n", "2000", "--dim", "32", "--backend", "exact,hnsw", "--probes",
         "40", "--queries", "5", "--param", "hnsw.M=8", "--sweep", "hnsw.ef_search=20,60",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert [r["backend"] for r in data["results"]] == ["exact", "hnsw", "hnsw"]
    assert [r["params"]["ef_search"] for r in data["results"][1:]] == [20, 60]
    assert {r["params"]["M"] for r in data["results"][1:]} == {8}
    assert data["results"][1]["setting"] == "ef_search=20"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "oops"], "BACKEND.NAME=VALUE"),
        (["--sweep", "hnsw.ef_search=20,x"], "'x' is not a JSON value"),
        (["--max-n", "milvus"], "--max-n expects BACKEND=N"),
        (["--max-n", "milvus=many"], "a whole number of vectors, got 'many'"),
    ],
)
def test_cli_bench_search_bad_options(args: list[str], message: str) -> None:
    """Malformed options are faceprint's InvalidArgumentError: one line, exit 2."""
    result = CliRunner().invoke(app, ["bench", "search", "--n", "100", *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "exact,nope"], "unknown index backend 'nope'"),
        (["--backend", "pq", "--param", "pq.m=5"], "m=5 must be a positive divisor"),
    ],
)
def test_cli_bench_search_checks_backends_before_the_data(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceprint.bench.search as bench_search

    def no_data(*_: object, **__: object) -> None:
        raise AssertionError("the gallery was generated before the backends were checked")

    monkeypatch.setattr(bench_search, "make_gallery", no_data)
    result = CliRunner().invoke(app, ["bench", "search", "--n", "1000", "--dim", "64", *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_gallery_on_disk_equals_the_one_in_ram(tmp_path: Path) -> None:
    spec = synth_spec("dlib")
    ram = make_gallery(2000, spec, probes=20)
    disk = make_gallery(2000, spec, probes=20, out=tmp_path / "g.npy")
    assert isinstance(disk.vectors, np.memmap)
    np.testing.assert_array_equal(np.asarray(disk.vectors), ram.vectors)
    np.testing.assert_array_equal(disk.probes, ram.probes)


def test_search_bench_on_disk_gallery_matches_in_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ON_DISK_BYTES the gallery is memory-mapped, the truth is a chunked scan and the
    backends get several adds: the measured recalls are those of the in-RAM run."""
    import faceprint.bench.search as bench_search

    ram = run_search_bench(3000, 64, ["exact", "pq"], probes=60, queries=10)
    monkeypatch.setattr(bench_search, "ON_DISK_BYTES", 1000)
    monkeypatch.setattr(bench_search, "ADD_ROWS", 1100)
    monkeypatch.setattr(bench_search, "SCAN_ROWS", 700)
    disk = run_search_bench(3000, 64, ["exact", "pq"], probes=60, queries=10, workdir=tmp_path)
    assert disk.threshold == pytest.approx(ram.threshold, abs=1e-6)
    for a, b in zip(ram.results, disk.results, strict=True):
        assert (a.recall_at_1, a.recall_at_10) == (b.recall_at_1, b.recall_at_10)
    # pq built with scratch= the work folder: its full vectors stayed on disk while it built
    assert ram.results[1].ram_bytes - disk.results[1].ram_bytes == 3000 * 64 * 4
    assert not (tmp_path / "gallery.npy").exists()
