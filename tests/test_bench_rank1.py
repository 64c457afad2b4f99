"""Rank-1 against gallery size (faceprint.bench.rank1): protocol, exact curve, index curve and
the Gaussian distractor generator, on small synthetic data with brute-force answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from faceprint.bench.rank1 import (
    GaussianFaces,
    blocks_of,
    compare_scores,
    fit_tail,
    index_rank1,
    rank1_curve,
    split_lfw,
)
from faceprint.bench.synth import make_gallery, synth_spec
from faceprint.errors import InvalidArgumentError


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_split_takes_probes_from_the_smallest_identities() -> None:
    names = ["a"] * 5 + ["b"] * 2 + ["c"] * 3 + ["d"] + ["e"] * 2
    valid = np.ones(len(names), bool)
    valid[5] = False  # one of b's images has no face: b has one valid image left
    split = split_lfw(names, valid, probes=2, seed=1)
    chosen = {names[i] for i in split.probes}
    assert chosen == {"e", "c"}  # two valid images (e), then three (c); b is not eligible
    assert all(names[p] == names[m] and p != m for p, m in zip(split.probes, split.mates))
    assert sorted(names[i] for i in split.distractors) == ["a"] * 5 + ["b", "d"]
    assert 5 not in split.distractors


def _brute(probes, mates, distractors, size):
    s_own = np.einsum("ij,ij->i", probes, mates)
    others = np.concatenate([mates, distractors[:size]])
    scores = probes @ others.T
    scores[np.arange(len(probes)), np.arange(len(probes))] = -np.inf
    return float(np.mean(s_own > scores.max(axis=1)))


def test_rank1_curve_equals_brute_force() -> None:
    g = make_gallery(3000, synth_spec("dlib"), templates_per_identity=2, probes=10, seed=3)
    probes, mates = g.vectors[0:600:2][:150], g.vectors[1:600:2][:150]
    distractors = g.vectors[600:]
    sizes = [0, 7, 100, 1000, len(distractors)]
    curve = rank1_curve(probes, mates, blocks_of(distractors, 333), sizes)
    assert set(curve) == set(sizes)
    for s in sizes:
        assert curve[s] == pytest.approx(_brute(probes, mates, distractors, s))
    assert curve[0] >= curve[len(distractors)]
    # starting from the best of the first 1000 distractors, then the rest
    start = (probes @ distractors[:1000].T).max(axis=1)
    rest = rank1_curve(probes, mates, blocks_of(distractors[1000:]), [len(distractors) - 1000],
                       start=start)  # fmt: skip
    assert rest[len(distractors) - 1000] == pytest.approx(curve[len(distractors)])


def test_index_rank1_exact_backend_equals_the_exact_curve() -> None:
    g = make_gallery(2000, synth_spec("dlib"), templates_per_identity=2, probes=10, seed=4)
    probes, mates, distractors = g.vectors[0:200:2], g.vectors[1:200:2], g.vectors[200:]
    sizes = [0, 50, 1800]
    exact = rank1_curve(probes, mates, blocks_of(distractors), sizes)
    got = index_rank1("exact", {}, probes, mates, blocks_of(distractors, 128), sizes)
    assert {s: v["rank1"] for s, v in got.items()} == pytest.approx(exact)


def test_gaussian_faces_match_the_real_moments_and_scores() -> None:
    rng = np.random.default_rng(0)
    real = _unit(rng.standard_normal((4000, 16)) * np.linspace(0.2, 1, 16) + 2.0)
    gen = GaussianFaces(real)
    fake = gen.sample(4000, np.random.default_rng(1))
    assert np.allclose(fake.mean(axis=0), real.mean(axis=0), atol=0.02)
    probes = _unit(rng.standard_normal((50, 16)) + 2.0)
    cmp = compare_scores(probes, real, fake)
    assert cmp.ks < 0.05 and abs(cmp.real_mean - cmp.synthetic_mean) < 0.01
    other = compare_scores(probes, real, _unit(rng.standard_normal((4000, 16))))
    assert other.ks > 0.5  # the check tells a wrong generator apart
    a = list(itertools.islice(gen.blocks(100, seed=5, size=30), 10))
    b = list(gen.blocks(100, seed=5, size=30))
    assert [len(x) for x in a] == [30, 30, 30, 10]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(InvalidArgumentError, match="more real vectors"):
        GaussianFaces(real[:10])


def test_fit_tail_matches_a_heavier_tailed_truth() -> None:
    rng = np.random.default_rng(2)
    people = _unit(rng.standard_normal((3000, 16)) * np.linspace(0.2, 1, 16) + 2.0)
    truth = GaussianFaces(people, tail=0.4).sample(3000, np.random.default_rng(3))
    queries = _unit(rng.standard_normal((60, 16)) * np.linspace(0.2, 1, 16) + 2.0)
    tail = fit_tail(truth, queries, people, quantile=0.999)
    assert 0.2 < tail < 0.6
    assert fit_tail(people, queries, people, quantile=0.999) < tail
