"""Property tests of the index backends (hypothesis, stateful): any sequence of add, remove,
search, save and load on a small gallery gives the top-1 of exact search (approximate backends:
within their documented recall), and deleted ids never come back.

Queries are stored vectors with a little noise, so the true top-1 is clear; the approximate
backends are given small training sizes so that their trained (quantised) paths are exercised.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from faceprint.errors import InvalidArgumentError
from faceprint.index import create_index
from faceprint.index.base import backend_class

DIM = 32
#: backend → (parameters, least top-1 recall of noisy self-queries it must reach)
BACKENDS: dict[str, tuple[dict[str, Any], float]] = {
    "exact": ({"threads": 1}, 1.0),
    "exact-f16": ({"threads": 1}, 1.0),
    "exact-int8": ({}, 1.0),
    "hnsw": ({"threads": 1}, 0.95),
    "binary": ({"min_train": 48, "train_size": 256, "threads": 1}, 0.95),
    "pq": ({"min_train": 48, "train_size": 256, "threads": 1}, 0.95),
    "ivfpq": ({"min_train": 256, "train_size": 256, "nlist": 4, "threads": 1}, 0.9),
}


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class IndexMachine(RuleBasedStateMachine):
    """One backend against a dict model of the live vectors."""

    backend = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.params, self.recall = BACKENDS[self.backend]
        self.index = create_index(self.backend, DIM, **self.params)
        self.model: dict[int, np.ndarray] = {}
        self.removed: set[int] = set()
        self.next_id = 1
        self.rng = np.random.default_rng(0)
        self.folder = Path(tempfile.mkdtemp(prefix="prop-index-"))

    @initialize(seed=st.integers(0, 2**16))
    def start(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    @rule(n=st.integers(1, 120))
    def add(self, n: int) -> None:
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        vecs = unit(self.rng, n)
        self.index.add(ids, vecs)
        self.model.update(zip(ids.tolist(), vecs))
        self.next_id += n

    @precondition(lambda self: bool(self.model))
    @rule(fraction=st.floats(0.05, 0.6), unknown=st.booleans())
    def remove(self, fraction: float, unknown: bool) -> None:
        live = np.asarray(sorted(self.model), np.int64)
        pick = self.rng.choice(live, size=max(1, int(len(live) * fraction)), replace=False)
        if unknown:  # unknown ids are ignored
            pick = np.concatenate([pick, [self.next_id + 1000]])
        assert self.index.remove(pick) == len(pick) - int(unknown)
        for i in pick.tolist():
            self.model.pop(i, None)
            self.removed.add(i)

    @rule()
    def save_and_load(self) -> None:
        path = self.folder / "index"
        manifest = self.index.manifest(fingerprint="prop")
        self.index.save(path, fingerprint="prop")
        self.index.close()
        self.index = backend_class(self.backend).load(path, expect=manifest)

    @precondition(lambda self: bool(self.model))
    @rule(k=st.integers(1, 8))
    def search(self, k: int) -> None:
        ids = np.asarray(sorted(self.model), np.int64)
        vecs = np.stack([self.model[i] for i in ids.tolist()])
        noisy = vecs + 0.03 * self.rng.normal(size=vecs.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        found = self.index.search(noisy, k)
        assert found.ids.shape == (len(ids), k)
        exact_top1 = ids[np.argmax(noisy @ vecs.T, axis=1)]
        recall = float(np.mean(found.ids[:, 0] == exact_top1))
        assert recall >= self.recall, f"top-1 recall {recall:.3f} < {self.recall}"
        returned = set(found.ids[found.ids >= 0].ravel().tolist())
        assert not returned & self.removed, "a deleted id came back"
        assert returned <= set(self.model)
        with np.errstate(invalid="ignore"):  # -inf padding minus -inf padding
            steps = np.nan_to_num(np.diff(found.scores, axis=1), nan=0.0)
        assert (steps <= 1e-6).all(), "scores not sorted"
        assert ((found.ids >= 0).sum(axis=1) == min(k, len(ids))).all()

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.index) == len(self.model)
        assert set(np.asarray(self.index.ids()).tolist()) == set(self.model)

    def teardown(self) -> None:
        self.index.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _machine(backend: str) -> type[IndexMachine]:
    return type(f"{backend.title().replace('-', '')}Machine", (IndexMachine,), {"backend": backend})


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_index_backend_properties(backend: str) -> None:
    machine = _machine(backend)
    machine.TestCase.settings = settings(
        max_examples=4 if backend == "pq" else 8,  # PQ trains its codebooks in ~1 s
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()


def test_ivfpq_training_sizes_below_the_codebook_are_refused() -> None:
    """Found by these properties: min_train below 2**nbits made FAISS fail in training with a
    raw RuntimeError; the parameters are now refused up front."""
    with pytest.raises(InvalidArgumentError, match="at least 256"):
        create_index("ivfpq", DIM, min_train=64, nlist=4)
