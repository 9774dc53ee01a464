"""Accuracy helpers for the benchmark runner (pure numpy, importable by tests).

recall_at(ids, gt, k) is the ann-benchmarks "k-recall@k": for each query, the fraction of the
true k nearest neighbours (the first k columns of the ground truth) found among the first k
returned ids; averaged over queries. Padding ids (-1) never count, and each true neighbour is
counted at most once, so duplicated ids in a result cannot inflate it.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np


def recall_at(ids, gt, k: int) -> float:
    """Mean over queries of |ids[q, :k] & gt[q, :k]| / k.

    Args:
        ids: (nq, >= k) integer ids returned by a search, best first; -1 marks padding.
        gt: (nq, >= k) integer ids of the exact nearest neighbours, best first.
        k: recall depth, >= 1.
    """
    ids = np.asarray(ids)
    gt = np.asarray(gt)
    if ids.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"ids and gt must be 2-D; got shapes {ids.shape} and {gt.shape}")
    if ids.shape[0] != gt.shape[0]:
        raise ValueError(f"ids and gt must have the same number of rows; got {ids.shape[0]} "
                         f"and {gt.shape[0]}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if ids.shape[1] < k or gt.shape[1] < k:
        raise ValueError(f"recall@{k} needs >= {k} columns; ids has {ids.shape[1]}, gt has "
                         f"{gt.shape[1]}")
    if ids.shape[0] == 0:
        raise ValueError("ids and gt have no rows")
    found = ids[:, :k].astype(np.int64)
    truth = gt[:, :k].astype(np.int64)
    # (nq, k, k) comparisons: each true neighbour is counted once if present anywhere.
    hit = (truth[:, :, None] == found[:, None, :]).any(axis=2) & (truth >= 0)
    return float(hit.sum()) / float(k * ids.shape[0])


def recalls(ids, gt, ks: Iterable[int] = (1, 10, 100)) -> Dict[int, float]:
    """{k: recall_at(ids, gt, k)} for every k both arrays are wide enough for."""
    ids = np.asarray(ids)
    gt = np.asarray(gt)
    width = min(ids.shape[1], gt.shape[1])
    return {k: recall_at(ids, gt, k) for k in ks if k <= width}


def pareto_frontier(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points (recall, speed) that no other point beats on both axes (higher is
    better on both), sorted by increasing recall. Ties keep the first point."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1], i))
    frontier: List[int] = []
    best_speed = -np.inf
    for i in order:
        if points[i][1] > best_speed:
            frontier.append(i)
            best_speed = points[i][1]
    return frontier[::-1]
