"""Exact re-ranking of a shortlist of candidates (from binary or PQ search)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _core
from ._checks import (IdMatrix, SearchResult, as_float_matrix, as_ids, as_queries, check_k,
                      check_metric, normalized, one_row)


def rerank(queries: npt.ArrayLike, candidate_ids: npt.ArrayLike, base: npt.ArrayLike, k: int,
           metric: str = "l2") -> SearchResult:
    """Exact distances from each query to its candidates, and the best ``k`` of them.

    The second stage of a quantized search: search ``k' = 10 * k`` codes, then re-rank the
    shortlist with the original vectors::

        _, cand = bq.search(queries, codes, k=100)       # or pq.search(...)
        dist, ids = qvec.rerank(queries, cand, base, k=10)

    Args:
        queries: (nq, d) array-like, or one query as a 1-D (d,) array; converted to float32.
        candidate_ids: (nq, c) integer array of row numbers of ``base`` ((c,) for a 1-D
            query); -1 entries (search padding) are skipped and repeated ids count once. Any
            other id outside [0, n), including negative ids and uint64 values beyond int64,
            raises IndexError.
        base: (n, d) original vectors; converted to float32 (pass float32 C-contiguous to
            avoid a copy of the whole base). A candidate row holding NaN or inf raises
            ValueError; rows that are not candidates are never read (nor copied, for cosine).
        k: results per query, 1 <= k <= ``qvec.MAX_K``; missing results hold id -1 and +inf
            ("l2") / -inf ("ip", "cosine").
        metric: "l2" (squared distances, smallest first), "ip" (inner products, largest
            first) or "cosine" (cosine similarities, largest first; qvec normalizes copies of
            the queries and of the candidate rows, never the caller's arrays).

    Returns:
        (distances float32 (nq, k), ids int64 (nq, k)), best first, ties to the smaller id;
        shape (k,) each for a 1-D query.
    """
    metric = check_metric(metric, allow_cosine=True)
    k = check_k(k)
    q, single = as_queries(queries, "queries")
    # Only candidate rows are read; the native code reports NaN/inf in those, so the whole base
    # is not scanned on every call.
    b = as_float_matrix(base, "base", q.shape[1], check_finite=False)
    cand, _ = as_ids(candidate_ids, "candidate_ids", q.shape[0])
    if metric == "cosine":
        return one_row(_rerank_cosine(normalized(q), cand, b, k), single)
    result: SearchResult = _core.rerank(q, cand, b, k, metric)
    return one_row(result, single)


def rerank_rows(queries: npt.NDArray[np.float32], candidates: IdMatrix,
                base: npt.NDArray[np.float32], k: int, metric: str) -> SearchResult:
    """:func:`rerank` for arrays already checked by their owner (an index re-ranking its own
    search results): float32 (nq, d) queries, int64 (nq, c) rows in [-1, n) and the (n, d)
    float32 vectors it keeps. Skips the conversions and checks of the public function, which
    cost several times the exact re-ranking of one query's shortlist itself."""
    if metric == "cosine":
        return _rerank_cosine(normalized(queries), candidates, base, k)
    result: SearchResult = _core.rerank(queries, candidates, base, k, metric)
    return result


def _rerank_cosine(queries: npt.NDArray[np.float32], cand: IdMatrix,
                   base: npt.NDArray[np.float32], k: int) -> SearchResult:
    """Cosine re-ranking on a normalized copy of only the candidate rows: the candidates are
    renumbered into that copy, ranked by inner product, and the ids mapped back. Renumbering
    keeps the order of ids, so ties still go to the smaller original id."""
    n = base.shape[0]
    if cand.size and int(cand.max()) >= n:
        raise IndexError(f"candidate_ids holds {int(cand.max())}, out of range for base with "
                         f"{n} rows")
    valid = cand >= 0
    if not valid.any():  # every slot is padding: nothing is read
        empty: SearchResult = _core.rerank(queries, cand, base, k, "ip")
        return empty
    rows, inverse = np.unique(cand[valid], return_inverse=True)
    sub = base[rows]
    if not _core.all_finite(sub):
        bad = int(rows[np.flatnonzero(~np.isfinite(sub).all(axis=1))[0]])
        raise ValueError(f"base row {bad} contains NaN or infinity")
    local = np.full(cand.shape, -1, dtype=np.int64)
    local[valid] = inverse
    dist, ids = _core.rerank(queries, local, normalized(sub), k, "ip")
    mapped = np.where(ids >= 0, rows[np.maximum(ids, 0)], -1).astype(np.int64)
    return dist, mapped
