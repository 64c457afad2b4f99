"""Verification metrics on synthetic scores with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from faceprint.evaluate.metrics import (
    PairScoreAccumulator,
    accuracy_at,
    all_pairs_scores,
    best_threshold,
    equal_error_rate,
    histogram_roc,
    kfold_accuracy,
    roc_auc,
    roc_curve,
    split_scores,
    tar_at_far,
    threshold_at_far,
)


def _separable(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([np.linspace(0.6, 0.9, n), np.linspace(-0.2, 0.4, n)])
    labels = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    return scores, labels


def test_perfectly_separable_gives_100_percent() -> None:
    s, y = _separable()
    folds = np.tile(np.arange(10), 20)
    k = kfold_accuracy(s, y, folds)
    assert k.mean == 1.0 and k.std == 0.0
    assert all(0.4 < t < 0.6 for t in k.thresholds)
    assert roc_auc(s, y) == 1.0
    eer, t = equal_error_rate(s, y)
    assert eer == 0.0 and 0.4 <= t <= 0.6


def test_best_threshold_known_answer() -> None:
    # genuine 0.9, 0.8, 0.3; impostor 0.5, 0.2, 0.1: the best cut is between 0.5 and 0.8
    s = [0.9, 0.8, 0.3, 0.5, 0.2, 0.1]
    y = [1, 1, 1, 0, 0, 0]
    t, acc = best_threshold(s, y)
    assert acc == pytest.approx(5 / 6)
    assert accuracy_at(s, y, t) == pytest.approx(5 / 6)


def test_best_threshold_never_cuts_inside_ties() -> None:
    t, acc = best_threshold([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])
    assert acc == 0.5
    assert t < 0.5 or t > 0.5


def test_kfold_threshold_never_sees_its_own_fold() -> None:
    # fold 0's impostors score high; only fold 0 can be hurt, and the others choose for it
    s = np.array([0.9, 0.95, 0.7, 0.2] * 2 + [0.9, 0.2, 0.8, 0.1] * 3)
    y = np.array([1, 0, 1, 0] * 2 + [1, 0, 1, 0] * 3, bool)
    folds = np.repeat(np.arange(5), 4)
    k = kfold_accuracy(s, y, folds)
    assert k.fold_accuracies[0] == 0.75  # 0.95 impostor accepted at a threshold below 0.7
    assert k.fold_accuracies[2:] == (1.0, 1.0, 1.0)
    assert k.std == pytest.approx(np.std(k.fold_accuracies, ddof=1))
    assert k.standard_error == pytest.approx(k.std / math.sqrt(5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": [0.1, 0.2], "labels": [1]}, "differ in length"),
        ({"scores": [0.1, np.nan], "labels": [1, 0]}, "finite"),
        ({"scores": [0.1, 0.2], "labels": [2, 0]}, "booleans"),
    ],
)
def test_bad_inputs_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_scores(**kwargs)


def test_tar_at_far_on_a_constructed_distribution() -> None:
    # 1000 impostors 0.000..0.999; genuine 0.9950..0.9999 (50) and 0.5 (50)
    impostor = np.arange(1000) / 1000
    genuine = np.concatenate([0.995 + np.arange(50) / 10000, np.full(50, 0.5)])
    r = tar_at_far(genuine, impostor, 1e-2)  # 10 false accepts allowed: impostors >= 0.990
    assert r.false_accepts == 10 and r.far == 0.01
    assert 0.989 < r.threshold <= 0.990
    assert r.tar == 0.5 and r.frr == 0.5
    assert r.supported
    r = tar_at_far(genuine, impostor, 1e-3)  # one allowed: only 0.999 passes
    assert r.false_accepts == 1 and 0.998 < r.threshold <= 0.999
    assert not r.supported  # 1e-3 * 1000 = 1 < 10


def test_threshold_is_exact_in_float32() -> None:
    rng = np.random.default_rng(0)
    imp = rng.normal(size=1353).astype(np.float32)
    t = threshold_at_far(imp, len(imp), 0.01)
    assert (imp >= t).sum() == 13  # floor(13.53), the same in float32 and float64
    assert (imp.astype(np.float64) >= t).sum() == 13


def test_threshold_needs_enough_top_scores() -> None:
    with pytest.raises(ValueError, match="largest impostor"):
        threshold_at_far([0.9, 0.8], 10_000, 1e-2)
    with pytest.raises(ValueError, match="target FAR"):
        threshold_at_far([0.9], 10, 0.0)


def test_accumulator_keeps_the_top_impostors_exactly() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(-1, 1, 50_000).astype(np.float32)
    acc = PairScoreAccumulator(keep=25)
    for part in np.array_split(scores, 7):
        acc.add_impostors(part)
    np.testing.assert_array_equal(acc.top_impostors, np.sort(scores)[::-1][:25])
    assert acc.impostors == 50_000 and acc.impostor_hist.sum() == 50_000


def test_histogram_roc_endpoints() -> None:
    g = np.zeros(16384, np.int64)
    i = np.zeros(16384, np.int64)
    g[-1], i[0] = 5, 5
    roc = histogram_roc(g, i)
    assert roc.far[0] == 0 and roc.tar[-1] == 1 and roc.far[-1] == 1
    assert float(np.trapezoid(roc.tar, roc.far)) == 1.0


def _brute(e: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = e @ e.T
    iu = np.triu_indices(len(e), 1)
    same = labels[iu[0]] == labels[iu[1]]
    return sims[iu][same], sims[iu][~same]


def test_all_pairs_blockwise_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 60, 700)
    centres = rng.normal(size=(60, 16))
    e = centres[labels] + rng.normal(size=(700, 16)) * 0.8
    e = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    r = all_pairs_scores(e, labels, (1e-2, 1e-3, 1e-4), block=97)
    genuine, impostor = _brute(e, labels)
    assert (r.genuine, r.impostors) == (len(genuine), len(impostor))
    for got, far in zip(r.tar_at_far, (1e-2, 1e-3, 1e-4), strict=True):
        want = tar_at_far(genuine, impostor, far)
        assert (got.tar, got.false_accepts, got.threshold) == (
            want.tar,
            want.false_accepts,
            want.threshold,
        )
    assert r.auc == pytest.approx(
        roc_auc(np.r_[genuine, impostor], np.r_[genuine * 0 + 1, impostor * 0]), abs=1e-3
    )


def test_all_pairs_valid_mask_drops_rows() -> None:
    e = np.eye(4, dtype=np.float32)
    r = all_pairs_scores(e, [0, 0, 1, 1], (0.5,), valid=[True, True, True, False])
    assert (r.images, r.genuine, r.impostors) == (3, 1, 2)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plots extra")
    from faceprint.evaluate.plots import plot_verification

    s, y = _separable()
    g, i = split_scores(s, y)
    out = plot_verification(tmp_path / "roc.png", roc_curve(s, y), g, i, threshold=0.5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = PairScoreAccumulator(keep=5)
    acc.add_genuine(g.astype(np.float32))
    acc.add_impostors(i.astype(np.float32))
    roc = histogram_roc(acc.genuine_hist, acc.impostor_hist)
    hist = plot_verification(
        tmp_path / "h.png", roc, acc.genuine_hist, acc.impostor_hist, histograms=True
    )
    assert hist.stat().st_size > 1000
