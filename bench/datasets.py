"""Benchmark datasets: the ../shared/data builders (real embeddings) or a seeded synthetic set."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_dataset(name: str) -> dict:
    """Returns dict(base, queries, gt (nq, 100) int64 for the dataset metric, metric, name)."""
    if name == "tiny":  # seconds-scale smoke data
        rng = np.random.default_rng(0)
        x = rng.standard_normal((5_100, 32)).astype(np.float32)
        base, queries = x[:5_000], x[5_000:]
        import qvec

        _, gt = qvec.exact_search(queries, base, 100, "l2")
        return dict(base=base, queries=queries, gt=gt, metric="l2", name=name)
    sys.path.insert(0, str(SHARED_DATA))
    from embeddings import load  # noqa: E402  (the shared builders live outside this repo)

    ds = load(name)
    return dict(base=np.ascontiguousarray(ds["base"]), queries=np.ascontiguousarray(ds["queries"]),
                gt=ds["gt"], metric=ds["metric"], name=name)
