"""Exact (brute-force) search and batched top-k."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _core
from ._checks import as_float_matrix, check_int, check_metric


def exact_search(queries, base, k: int, metric: str = "l2") -> Tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest neighbours of each query in ``base``.

    Args:
        queries: (nq, d) array-like; converted to float32.
        base: (n, d) array-like; converted to float32.
        k: neighbours per query, >= 1. When k > n the missing slots hold id -1 and the worst
            value (+inf for "l2", -inf for "ip").
        metric: "l2" (squared Euclidean distance, smallest first) or "ip" (inner product,
            largest first). For cosine similarity, L2-normalize both sides and use "ip".

    Returns:
        (distances float32 (nq, k), ids int64 (nq, k)), best first; ties go to the smaller id.
        Runs on all threads (see :func:`set_num_threads`) with the GIL released.
    """
    metric = check_metric(metric)
    k = check_int(k, "k")
    queries = as_float_matrix(queries, "queries")
    # The native search reports NaN/inf in base itself, without a separate pass over it.
    base = as_float_matrix(base, "base", queries.shape[1], check_finite=False)
    return _core.exact_search(queries, base, k, metric)


def topk(scores, k: int, largest: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a (nq, n) score matrix.

    Returns (values float32 (nq, k), column ids int64 (nq, k)), smallest first (largest first
    with ``largest=True``); ties go to the smaller column; k > n pads with id -1 and +inf
    (-inf when ``largest``).
    """
    k = check_int(k, "k")
    scores = as_float_matrix(scores, "scores")
    if largest:
        values, ids = _core.topk_smallest(-scores, k)
        return -values, ids
    return _core.topk_smallest(scores, k)
