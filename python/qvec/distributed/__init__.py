"""Sharded indexes: rows split into shards, every shard searched, the top-k lists merged
exactly, so a sharded search answers as one index holding every code would.

The core (:mod:`qvec.distributed.core`: :func:`shard_bounds`, :func:`sample_rows`,
:func:`merge_topk`, :func:`search_shards`) is plain numpy and engine-agnostic;
:class:`qvec.distributed.shard.Shard` is one shard as a plain class. Ray is the engine
(``pip install 'qvec[ray]'``): :class:`ShardedIndex` keeps each shard resident in a Ray actor
on any cluster (``ray.init(address=...)``; a local one by default)::

    from qvec.distributed import ShardedIndex
    index = ShardedIndex.build(["part-0.fbin", "part-1.fbin"], "PQ16x8", num_shards=4,
                               train_size=65_536)
    dist, ids = index.search(queries, k=10)
    index.save("/shared/sift-sharded"); index.close()
    index = ShardedIndex.load("/shared/sift-sharded")       # each actor maps its shard file

``ShardedIndex`` and ``ShardError`` import Ray on first use, so the core works without it.
"""
from __future__ import annotations

from typing import Any

from .core import merge_topk, sample_rows, search_shards, shard_bounds, split_rows

__all__ = ["ShardError", "ShardedIndex", "merge_topk", "sample_rows", "search_shards",
           "shard_bounds", "split_rows"]


def __getattr__(name: str) -> Any:
    if name in ("ShardedIndex", "ShardError", "PendingSearch"):
        try:
            from . import ray_engine
        except ImportError as e:
            raise ImportError(f"qvec.distributed.{name} needs Ray: pip install 'qvec[ray]' "
                              f"({e})") from None
        return getattr(ray_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
