"""Exact re-ranking of a shortlist of candidates (from binary or PQ search)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _core
from ._checks import as_float_matrix, check_int, check_metric


def rerank(queries, candidate_ids, base, k: int, metric: str = "l2") -> Tuple[np.ndarray, np.ndarray]:
    """Exact distances from each query to its candidates, and the best ``k`` of them.

    The second stage of a quantized search: search ``k' = 10 * k`` codes, then re-rank the
    shortlist with the original vectors::

        _, cand = bq.search(queries, codes, k=100)       # or pq.search(...)
        dist, ids = qvec.rerank(queries, cand, base, k=10, metric="ip")

    Args:
        queries: (nq, d) array-like; converted to float32.
        candidate_ids: (nq, c) integer array of row numbers of ``base``; -1 entries (search
            padding) are skipped and repeated ids count once. Other ids outside [0, n) raise
            IndexError.
        base: (n, d) original vectors; converted to float32 (pass float32 C-contiguous to
            avoid a copy of the whole base). A candidate row holding NaN or inf raises
            ValueError; rows that are not candidates are never read.
        k: results per query, >= 1; missing results hold id -1 and +inf ("l2") / -inf ("ip").
        metric: "l2" (squared distances, smallest first) or "ip" (inner products, largest
            first).

    Returns:
        (distances float32 (nq, k), ids int64 (nq, k)), best first, ties to the smaller id.
    """
    metric = check_metric(metric)
    k = check_int(k, "k")
    queries = as_float_matrix(queries, "queries")
    # Only candidate rows are read; the native code reports NaN/inf in those, so the whole base
    # is not scanned on every call.
    base = as_float_matrix(base, "base", queries.shape[1], check_finite=False)
    if candidate_ids is None:
        raise TypeError("candidate_ids must be an integer array of shape (nq, c); got None")
    cand = np.asarray(candidate_ids)
    if cand.dtype.kind not in "iu":
        raise TypeError(f"candidate_ids must be an integer array (int64 preferred); got dtype "
                        f"{cand.dtype}")
    if cand.ndim != 2 or cand.shape[0] != queries.shape[0]:
        raise ValueError(f"candidate_ids must have shape (nq, c) = ({queries.shape[0]}, c), one "
                         f"row per query; got {tuple(cand.shape)}")
    cand = np.ascontiguousarray(cand, dtype=np.int64)
    return _core.rerank(queries, cand, base, k, metric)
