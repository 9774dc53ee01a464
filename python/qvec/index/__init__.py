"""Index objects: build once, save, reload in another process, serve.

Every index speaks one protocol (:mod:`qvec.index.base`)::

    index.fit(x, *, seed=0, max_train=None, verbose=False)  # train() is an alias
    index.add(x, ids=None)           # int64 user ids; sequential by default; duplicates rejected
    index.remove(ids) -> int         # number of vectors removed
    index.search(q, k, rerank=None)  # (distances float32 (nq, k), user ids int64 (nq, k))
    len(index), id in index, index.dim, index.metric, repr(index)
    index.save(path); qvec.load(path, mmap=False); pickle.dumps(index)

Rows are kept in insertion order (removals keep the order of the rest); search results are
mapped from rows back to user ids, and the -1 padding for missing results stays -1. Searches
are safe beside adds and removes in other threads (copy-on-write states).

Modules, one role each: ``ids`` (the row -> id map), ``storage`` (row arrays), ``base`` (the
protocol), ``flat``, ``pq``, ``binary`` (the codecs), ``factory`` (:func:`index_factory`),
``persistence`` (each kind's file layout; :func:`load`).
"""
from __future__ import annotations

from .base import METRICS, Index
from .binary import BinaryIndex
from .factory import index_factory
from .flat import FlatIndex
from .hamming import HammingIndex
from .ivf import IVFIndex
from .persistence import load
from .pq import PQIndex
from .sq import RescoreSQ8Index, SQ8Index
from .multivector import MultiVectorIndex  # multivec

__all__ = ["BinaryIndex", "FlatIndex", "HammingIndex", "IVFIndex", "Index", "METRICS",
           "MultiVectorIndex", "PQIndex", "RescoreSQ8Index", "SQ8Index", "index_factory", "load"]
# train: OPQ
from .opq import OPQIndex  # noqa: E402

__all__ += ["OPQIndex"]
