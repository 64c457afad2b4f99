"""From template neighbours to identity scores, for many query faces at once (NumPy only).

* ``max`` (default): an identity scores its best template. Among a query's template neighbours
  sorted best first, the first occurrence of each identity is its maximum, so the top ``k``
  identities are the first ``k`` distinct identities; ``k × m`` neighbours (``m`` = most
  templates of any identity) always contain them.
* ``mean``: the mean cosine similarity over an identity's templates equals the dot product with
  the (unnormalised) mean of its templates, so one matrix product against the per-identity mean
  vectors scores every identity exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["IdentityScores", "TemplateMap", "reduce_max", "score_means"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TemplateMap:
    """Template ids (sorted) and the identity each belongs to."""

    template_ids: IntArray
    identity_ids: IntArray

    def identities_of(self, template_ids: IntArray) -> IntArray:
        """Identity id per template id; -1 for ids not in the map (padding, stale ids)."""
        pos = np.searchsorted(self.template_ids, template_ids)
        pos = np.clip(pos, 0, max(len(self.template_ids) - 1, 0))
        if len(self.template_ids) == 0:
            return np.full(template_ids.shape, -1, np.int64)
        found = self.template_ids[pos] == template_ids
        return np.where(found, self.identity_ids[pos], -1)

    def first_templates(self, identity_ids: IntArray) -> IntArray:
        """Each identity's first (lowest-id) template; -1 for identities without one."""
        uniq, first = np.unique(self.identity_ids, return_index=True)
        if len(uniq) == 0:
            return np.full(identity_ids.shape, -1, np.int64)
        pos = np.clip(np.searchsorted(uniq, identity_ids), 0, len(uniq) - 1)
        return np.where(uniq[pos] == identity_ids, self.template_ids[first][pos], -1)

    def max_per_identity(self) -> int:
        """Most templates any identity has (0 for an empty map)."""
        if len(self.identity_ids) == 0:
            return 0
        return int(np.unique(self.identity_ids, return_counts=True)[1].max())


@dataclass(frozen=True)
class IdentityScores:
    """Top identities per query: (Q, k) arrays, padded with -1 ids and -inf similarities.

    Attributes:
        identity_ids: identity per rank.
        similarities: its score.
        template_ids: its best template among the neighbours (-1 when not known).
    """

    identity_ids: IntArray
    similarities: FloatArray
    template_ids: IntArray


def _empty(q: int, k: int) -> IdentityScores:
    return IdentityScores(
        np.full((q, k), -1, np.int64),
        np.full((q, k), -np.inf, np.float32),
        np.full((q, k), -1, np.int64),
    )


def reduce_max(
    scores: FloatArray, template_ids: IntArray, mapping: TemplateMap, top_k: int
) -> IdentityScores:
    """Top ``top_k`` identities per row from template neighbours sorted best first per row."""
    q = scores.shape[0]
    out = _empty(q, top_k)
    idents = mapping.identities_of(template_ids)
    rows, pos = np.nonzero(idents >= 0)
    ident = idents[rows, pos]
    order = np.lexsort((pos, ident, rows))
    rows, pos, ident = rows[order], pos[order], ident[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (ident[1:] != ident[:-1])
    rows, pos, ident = rows[first], pos[first], ident[first]
    order = np.lexsort((pos, rows))
    rows, pos, ident = rows[order], pos[order], ident[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    keep = rank < top_k
    rows, pos, ident, rank = rows[keep], pos[keep], ident[keep], rank[keep]
    out.identity_ids[rows, rank] = ident
    out.similarities[rows, rank] = scores[rows, pos]
    out.template_ids[rows, rank] = template_ids[rows, pos]
    return out


def mean_vectors(embeddings: FloatArray, identity_ids: IntArray) -> tuple[IntArray, FloatArray]:
    """(identity ids, their mean template vectors (I, D), not normalised)."""
    idents, inverse, counts = np.unique(identity_ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(idents), embeddings.shape[1]), np.float64)
    np.add.at(sums, inverse, embeddings)
    return idents.astype(np.int64), (sums / counts[:, None]).astype(np.float32)


def score_means(
    queries: FloatArray, identity_ids: IntArray, means: FloatArray, top_k: int
) -> IdentityScores:
    """Top ``top_k`` identities per query by mean similarity (one matrix product)."""
    q = len(queries)
    out = _empty(q, top_k)
    k = min(top_k, len(identity_ids))
    if k == 0 or q == 0:
        return out
    sims = queries @ means.T
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    out.identity_ids[:, :k] = identity_ids[best]
    out.similarities[:, :k] = np.take_along_axis(part_sims, order, axis=1)
    return out
