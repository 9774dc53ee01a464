"""Accuracy of a search against the exact answer: the one recall helper used by the demo, the
benchmarks and the tests."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._checks import check_int

__all__ = ["recall_at_k"]

# Rows compared at once: each costs k * k booleans, so a block stays around 4 MiB.
_BLOCK_ELEMENTS = 1 << 22


def _as_id_rows(ids: npt.ArrayLike, name: str) -> npt.NDArray[np.generic]:
    arr = np.asarray(ids)
    if arr.ndim == 1:  # one query's ids
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (nq, k) or one query's 1-D ids; got shape "
                         f"{arr.shape}")
    return arr


def recall_at_k(found_ids: npt.ArrayLike, true_ids: npt.ArrayLike, k: int) -> float:
    """The ann-benchmarks "k-recall@k": for each query, the fraction of its true ``k`` nearest
    neighbours (the first k columns of ``true_ids``) found among the first ``k`` returned ids,
    averaged over queries.

    Order within the first k does not matter; padding ids (-1, or any negative id) never
    count; a true neighbour counts at most once, so repeated ids in a result cannot inflate the
    recall. A query whose truth has fewer than k real neighbours (padded with -1) can reach at
    most (real neighbours) / k.

    Args:
        found_ids: (nq, >= k) integer ids returned by a search, best first; or one query's
            1-D ids.
        true_ids: (nq, >= k) integer ids of the exact nearest neighbours, best first (e.g.
            :func:`qvec.exact_search` ids or a dataset's ground truth); or one query's 1-D ids.
        k: recall depth, >= 1.

    Returns:
        The recall, a float in [0, 1].

    Example:
        >>> _, truth = qvec.exact_search(queries, base, 10)
        >>> _, found = pq.search(queries, codes, 10)
        >>> qvec.recall_at_k(found, truth, 10)
    """
    found = _as_id_rows(found_ids, "found_ids")
    truth = _as_id_rows(true_ids, "true_ids")
    if found.shape[0] != truth.shape[0]:
        raise ValueError(f"found_ids and true_ids must have the same number of rows (queries); "
                         f"got {found.shape[0]} and {truth.shape[0]}")
    k = check_int(k, "k")
    if found.shape[1] < k or truth.shape[1] < k:
        raise ValueError(f"recall@{k} needs >= {k} columns; found_ids has {found.shape[1]}, "
                         f"true_ids has {truth.shape[1]}")
    if found.shape[0] == 0:
        raise ValueError("found_ids and true_ids have no rows")
    for arr, name in ((found, "found_ids"), (truth, "true_ids")):
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array; got dtype {arr.dtype}")
    nq = int(found.shape[0])
    block = max(1, _BLOCK_ELEMENTS // (k * k))
    hits = 0
    for start in range(0, nq, block):
        # int64 for both, so int32 ground truth and int64 results compare exactly (a uint64
        # id beyond int64 wraps negative and never counts).
        f = found[start:start + block, :k].astype(np.int64, copy=False)
        t = truth[start:start + block, :k].astype(np.int64, copy=False)
        # Each true neighbour (a real id) counts once if it appears anywhere in the found row.
        present = (t[:, :, None] == f[:, None, :]).any(axis=2)
        hits += int(np.count_nonzero(present & (t >= 0)))
    return hits / (k * nq)
