"""Identification metrics on constructed embeddings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.evaluate.identification import evaluate_identification, split_gallery


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_split_first_image_enrols_rest_probe() -> None:
    gallery, probes, mate, singles = split_gallery([5, 5, 5, 7, 9, 9])
    assert gallery.tolist() == [0, 4]
    assert probes.tolist() == [1, 2, 5]
    assert mate.tolist() == [0, 0, 1]
    assert singles.tolist() == [3]


def test_perfect_identities_rank1_is_one() -> None:
    labels = np.repeat(np.arange(6), 3)
    e = np.eye(8, dtype=np.float32)[labels]
    r = evaluate_identification(e, labels, fpirs=(0.5,))
    assert (r.enrolled, r.mated_probes, r.non_mated_probes) == (6, 12, 0)
    assert r.rank1 == 1.0 and r.rank5 == 1.0
    assert r.open_set == ()
    assert [p.rank1 for p in r.distractor_curve] == [1.0]


def test_rank5_counts_a_mate_in_second_place() -> None:
    # six people, a gallery image and a probe each; person 0's probe is nearer person 1
    gallery = np.eye(6, dtype=np.float32)
    probes = gallery.copy()
    probes[0] = _unit(np.array([[0.6, 0.8, 0, 0, 0, 0]]))[0]
    labels = np.r_[np.arange(6), np.arange(6)]
    r = evaluate_identification(np.vstack([gallery, probes]), labels)
    assert (r.enrolled, r.mated_probes) == (6, 6)
    assert r.rank1 == pytest.approx(5 / 6) and r.rank5 == 1.0


def test_distractors_can_only_lower_rank1() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(400, 32))
    labels = np.r_[np.repeat(np.arange(100), 3), np.arange(100, 400)]
    e = _unit(centres[labels] + rng.normal(size=(len(labels), 32)) * 0.9)
    r = evaluate_identification(e, labels, distractor_steps=(0, 100, 300), fpirs=(0.1,))
    curve = [p.rank1 for p in r.distractor_curve]
    assert [p.distractors for p in r.distractor_curve] == [0, 100, 300]
    assert [p.gallery for p in r.distractor_curve] == [100, 200, 400]
    assert curve[0] == r.rank1
    assert curve[0] >= curve[1] >= curve[2]
    assert r.non_mated_probes == 300


def test_open_set_fnir_at_fpir_known_answer() -> None:
    # gallery: two orthogonal people; mated probes score 0.9 / 0.5 with their mate;
    # non-mated probes' best gallery scores are 0.1, 0.2, ..., 1.0 (ten of them)
    gallery = np.eye(3, dtype=np.float32)[:2]
    mated = np.array([[0.9, 0, np.sqrt(1 - 0.81)], [0, 0.5, np.sqrt(0.75)]], np.float32)
    s = np.arange(1, 11) / 10
    non_mated = np.c_[s, np.zeros(10), np.sqrt(1 - s**2)].astype(np.float32)
    e = np.vstack([gallery[:1], mated[:1], gallery[1:], mated[1:], non_mated])
    labels = np.r_[0, 0, 1, 1, np.arange(10, 20)]
    r = evaluate_identification(e, labels, fpirs=(0.1, 0.3))
    at10, at30 = r.open_set
    assert at10.fpir == pytest.approx(0.1) and at10.threshold > 0.9  # only the 1.0 passes
    assert at10.fnir == 1.0  # neither mate reaches it
    assert at30.fpir == pytest.approx(0.3) and 0.7 < at30.threshold <= 0.8
    assert at30.fnir == 0.5  # 0.9 passes, 0.5 does not
    assert not at10.supported
