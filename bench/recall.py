"""Accuracy helpers for the benchmark runner (importable by tests).

recall_at(ids, gt, k) is qvec.recall_at_k, the ann-benchmarks "k-recall@k": for each query, the
fraction of the true k nearest neighbours (the first k columns of the ground truth) found among
the first k returned ids; averaged over queries. Padding ids (-1) never count, and each true
neighbour is counted at most once, so duplicated ids in a result cannot inflate it.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

import qvec


def recall_at(ids, gt, k: int) -> float:
    """qvec.recall_at_k: mean over queries of |ids[q, :k] & gt[q, :k]| / k."""
    return qvec.recall_at_k(ids, gt, k)


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
