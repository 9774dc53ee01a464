"""The engine-agnostic part of sharding, in plain numpy: split rows into shards, pick a seeded
training sample across them, and merge the shards' top-k lists exactly.

A sharded search equals one index holding every code when each shard returns its own top-k
(with the -1 padding of a short shard) and the lists are merged with the tie rule of one index:
best distance first, then the smaller id, id -1 padding last. Shards hold contiguous row
ranges with the ids one index would give them (sequential in row order), so "smaller id" is
also "earlier row", which is how one index breaks ties.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from .._checks import check_int, check_k
from ..index.base import check_index_metric

IdArray = npt.NDArray[np.int64]
Result = Tuple[npt.NDArray[Any], IdArray]


def shard_bounds(n: int, num_shards: int) -> IdArray:
    """Row boundaries of ``num_shards`` contiguous shards of ``n`` rows: int64
    (num_shards + 1,), shard s holds rows [bounds[s], bounds[s + 1]); sizes differ by at most
    one, the larger shards first."""
    n = check_int(n, "n", minimum=0)
    num_shards = check_int(num_shards, "num_shards")
    if num_shards > max(n, 1):
        raise ValueError(f"num_shards must be <= the number of rows ({n}); got {num_shards}")
    base, extra = divmod(n, num_shards)
    sizes = np.full(num_shards, base, dtype=np.int64)
    sizes[:extra] += 1
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def sample_rows(n: int, size: Optional[int], seed: int) -> IdArray:
    """Sorted global rows of a seeded training sample of ``size`` rows out of ``n`` (all rows,
    in order, when ``size`` is None or >= n)."""
    if size is None or size >= n:
        return np.arange(n, dtype=np.int64)
    size = check_int(size, "train_size")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


def split_rows(rows: IdArray, bounds: IdArray) -> Sequence[IdArray]:
    """Sorted global ``rows`` split by shard: for each shard, its local rows (row - start)."""
    cuts = np.searchsorted(rows, bounds)
    return [rows[cuts[s]:cuts[s + 1]] - bounds[s] for s in range(bounds.shape[0] - 1)]


def larger_is_better(metric: str) -> bool:
    """Whether a metric's results are best-first by descending value ("ip", "cosine")."""
    return check_index_metric(metric) != "l2"


def merge_topk(results: Sequence[Result], k: int, metric: str) -> Result:
    """The best ``k`` of several (distances (nq, k_s), ids (nq, k_s)) lists of the same
    queries: best first ("l2": smallest; "ip" / "cosine": largest), ties to the smaller id,
    id -1 padding last (with the worst value: +inf for "l2", -inf otherwise). Returns float32
    distances and int64 ids, (nq, k); k may exceed what the lists hold (more padding)."""
    k = check_k(k)
    if not results:
        raise ValueError("merge_topk needs at least one result list")
    descending = larger_is_better(metric)
    dists = [np.asarray(d, dtype=np.float32) for d, _ in results]
    idss = [np.asarray(i, dtype=np.int64) for _, i in results]
    nq = dists[0].shape[0] if dists[0].ndim == 2 else -1
    for s, (d, i) in enumerate(zip(dists, idss)):
        if d.shape != i.shape or d.ndim != 2 or d.shape[0] != nq:
            raise ValueError(f"list {s}: distances and ids must be (nq, k_s) arrays of one "
                             f"shape and nq = {nq}; got {d.shape} and {i.shape}")
    dist, ids = np.concatenate(dists, axis=1), np.concatenate(idss, axis=1)
    padding = ids < 0
    key = -dist if descending else dist
    # lexsort sorts by its last key first: padding last, then distance, then id
    order = np.lexsort((ids, key, padding), axis=1)[:, :k]
    out_d = np.take_along_axis(dist, order, axis=1)
    out_i = np.take_along_axis(ids, order, axis=1)
    if order.shape[1] < k:
        nq, more = dist.shape[0], k - order.shape[1]
        out_d = np.hstack([out_d, np.zeros((nq, more), dtype=np.float32)])
        out_i = np.hstack([out_i, np.full((nq, more), -1, dtype=np.int64)])
    out_d[out_i < 0] = worst_value(metric)
    return out_d, out_i


def worst_value(metric: str) -> float:
    """The padding value of a metric's results."""
    return -np.inf if larger_is_better(metric) else np.inf


def search_shards(shards: Sequence[Any], queries: npt.ArrayLike, k: int, metric: str,
                  **params: Any) -> Result:
    """Searches local shard indexes one after another and merges their results: the
    reference a distributed engine must reproduce (queries as a 2-D (nq, dim) batch)."""
    return merge_topk([s.search(queries, k, **params) for s in shards], k, metric)
