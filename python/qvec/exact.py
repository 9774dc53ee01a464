"""Exact (brute-force) search and batched top-k."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _core, cuda
from .cuda import gpu_device
from ._checks import (SearchResult, as_float_matrix, as_queries, check_k, check_metric,
                      core_metric, normalized, one_row)


def exact_search(queries: npt.ArrayLike, base: npt.ArrayLike, k: int,
                 metric: str = "l2", device: str = "cpu") -> SearchResult:
    """Exact k-nearest neighbours of each query in ``base``.

    Args:
        queries: (nq, d) array-like, or one query as a 1-D (d,) array; converted to float32.
        base: (n, d) array-like; converted to float32.
        k: neighbours per query, 1 <= k <= ``qvec.MAX_K``. When k > n the missing slots hold
            id -1 and the worst value (+inf for "l2", -inf for "ip" and "cosine").
        metric: "l2" (squared Euclidean distance, smallest first), "ip" (inner product,
            largest first) or "cosine" (cosine similarity, largest first: qvec normalizes
            copies of both sides, never the caller's arrays; an all-zero vector has
            similarity 0 to everything).
        device: "cpu", or "cuda" / "cuda:N" (:mod:`qvec.cuda`; distances summed in another
            order, so equal up to float rounding; k <= 4096).

    Returns:
        (distances float32 (nq, k), ids int64 (nq, k)), best first; ties go to the smaller id.
        A 1-D query gives arrays of shape (k,). Runs on all threads (see
        :func:`set_num_threads`) with the GIL released.
    """
    metric = check_metric(metric, allow_cosine=True)
    k = check_k(k)
    gpu = gpu_device(device)
    q, single = as_queries(queries, "queries")
    # The native search reports NaN/inf in base itself, without a separate pass over it; the
    # cosine path checks first, since normalizing would turn a NaN row into zeros.
    cosine = metric == "cosine"
    b = as_float_matrix(base, "base", q.shape[1], check_finite=cosine)
    if cosine:
        q, b = normalized(q), normalized(b)
    result: SearchResult = (_core.exact_search(q, b, k, core_metric(metric)) if gpu is None
                            else cuda.exact_search(q, b, k, core_metric(metric), gpu))
    return one_row(result, single)


def topk(scores: npt.ArrayLike, k: int, largest: bool = False) -> SearchResult:
    """Row-wise top-k of a (nq, n) score matrix (or of one 1-D row of n scores).

    Returns (values float32 (nq, k), column ids int64 (nq, k)), smallest first (largest first
    with ``largest=True``); ties go to the smaller column; k > n pads with id -1 and +inf
    (-inf when ``largest``). A 1-D input gives arrays of shape (k,).
    """
    k = check_k(k)
    s, single = as_queries(scores, "scores")
    if largest:
        values, ids = _core.topk_smallest(-s, k)
        return one_row((-values, ids), single)
    result: SearchResult = _core.topk_smallest(s, k)
    return one_row(result, single)
