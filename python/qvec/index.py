"""Index objects: build once, save, reload in another process, serve.

Every index speaks one protocol::

    index.train(x)                   # no-op for FlatIndex
    index.add(x, ids=None)           # int64 user ids; sequential by default; duplicates rejected
    index.remove(ids) -> int         # number of vectors removed
    index.search(q, k, rerank=None)  # (distances float32 (nq, k), user ids int64 (nq, k))
    len(index), index.dim, index.metric, repr(index)
    index.save(path); qvec.load(path, mmap=False); pickle.dumps(index)

Rows are kept in insertion order (removals keep the order of the rest); search results are
mapped from rows back to user ids, and the -1 padding for missing results stays -1.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core, _format
from ._checks import as_float_matrix, check_int, check_metric
from ._errors import FormatError, NotTrainedError
from .binary import BinaryCodes, BinaryQuantizer
from .pq import ProductQuantizer
from .rerank import rerank as rerank_exact

__all__ = ["FlatIndex", "PQIndex", "BinaryIndex", "index_factory", "load"]


# ------------------------------------------------------------------------------------------
# ids
# ------------------------------------------------------------------------------------------
def _as_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{name} must be integers (int64); got dtype {arr.dtype}")
    if arr.ndim != 1 or (n >= 0 and arr.shape[0] != n):
        want = f"({n},)" if n >= 0 else "(n,)"
        raise ValueError(f"{name} must have shape {want}; got {tuple(arr.shape)}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


class _IdMap:
    """Row -> user id, and user id -> row through a sorted copy built on demand.

    While ids are a contiguous range (the default: sequential ids, no removal) no array is
    stored at all: row i holds id start + i."""

    def __init__(self) -> None:
        self.n = 0
        self.start = 0
        self.ids: Optional[np.ndarray] = None   # None while contiguous
        self.next_id = 0
        self._sorted: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def row_ids(self) -> np.ndarray:
        if self.ids is None:
            return np.arange(self.start, self.start + self.n, dtype=np.int64)
        return self.ids

    def _index(self) -> Tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            order = np.argsort(self.ids, kind="stable")
            self._sorted = (self.ids[order], order)
        return self._sorted

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` are present."""
        if self.ids is None:
            return (ids >= self.start) & (ids < self.start + self.n)
        if self.n == 0:
            return np.zeros(ids.shape, dtype=bool)
        sorted_ids, _ = self._index()
        pos = np.minimum(np.searchsorted(sorted_ids, ids), self.n - 1)
        return sorted_ids[pos] == ids

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the present ids among ``ids`` (absent ones skipped)."""
        if self.ids is None:
            found = ids[(ids >= self.start) & (ids < self.start + self.n)]
            return found - self.start
        if self.n == 0:
            return np.empty(0, dtype=np.int64)
        sorted_ids, order = self._index()
        pos = np.minimum(np.searchsorted(sorted_ids, ids), self.n - 1)
        return order[pos[sorted_ids[pos] == ids]].astype(np.int64)

    def new_ids(self, count: int, ids) -> np.ndarray:
        """Validates (or allocates) the ids of ``count`` new rows; changes nothing."""
        if ids is None:
            return np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        ids = _as_ids(ids, count)
        if ids.min() < 0:
            raise ValueError(f"ids must be >= 0 (-1 marks missing results); got {ids.min()}")
        uniq = np.unique(ids)
        if uniq.size != ids.size:
            s = np.sort(ids)
            dup = s[np.flatnonzero(s[1:] == s[:-1])[0]]
            raise ValueError(f"ids contains duplicates (e.g. {dup})")
        present = self.contains(ids)
        if present.any():
            raise ValueError(f"ids already in the index (e.g. {ids[present][0]}); remove them "
                             f"first or use other ids")
        return ids

    def append(self, ids: np.ndarray) -> None:
        count = ids.shape[0]
        if count == 0:
            return
        contiguous = (self.ids is None and (self.n == 0 or ids[0] == self.start + self.n)
                      and (count == 1 or (ids[-1] - ids[0] == count - 1
                                          and bool(np.all(np.diff(ids) == 1)))))
        if contiguous:
            if self.n == 0:
                self.start = int(ids[0])
        else:
            self.ids = np.concatenate([self.row_ids(), ids])
        self.n += count
        self.next_id = max(self.next_id, int(ids.max()) + 1)
        self._sorted = None

    def delete_rows(self, rows: np.ndarray) -> None:
        """Deletes ``rows`` (sorted, unique); keeps the sorted copy valid in O(n)."""
        old_n = self.n
        self.ids = np.delete(self.row_ids(), rows)
        self.n = self.ids.shape[0]
        if self._sorted is not None:
            sorted_ids, order = self._sorted
            alive = np.ones(old_n, dtype=bool)
            alive[rows] = False
            keep = alive[order]
            order = order[keep]
            self._sorted = (sorted_ids[keep], order - np.searchsorted(rows, order))

    def map_rows(self, rows: np.ndarray) -> np.ndarray:
        """User ids for a (nq, k) array of rows; -1 stays -1."""
        valid = rows >= 0
        if self.ids is None:
            return np.where(valid, rows + self.start, -1)
        return np.where(valid, self.ids[np.where(valid, rows, 0)], -1)

    # persistence
    def params(self) -> dict:
        return {"id_start": self.start if self.ids is None else None, "next_id": self.next_id}

    def arrays(self) -> List[Tuple[str, np.ndarray]]:
        return [] if self.ids is None else [("ids", self.ids)]

    @classmethod
    def restore(cls, n: int, params: dict, arrays: Dict[str, np.ndarray]) -> "_IdMap":
        m = cls()
        m.n = n
        m.next_id = _param(params, "next_id", int)
        start = params.get("id_start")
        if start is None:
            ids = arrays.get("ids")
            if ids is None or ids.dtype != np.int64 or ids.shape != (n,):
                raise FormatError(f"ids array missing or not int64 ({n},)")
            m.ids = ids
            if n and (ids.min() < 0 or ids.max() >= m.next_id
                      or np.unique(ids).size != n):
                raise FormatError("ids are negative, duplicated or beyond next_id")
        else:
            if "ids" in arrays or not isinstance(start, int) or start < 0 \
                    or start + n > m.next_id:
                raise FormatError("inconsistent id parameters")
            m.start = start
        return m


# ------------------------------------------------------------------------------------------
# row storage
# ------------------------------------------------------------------------------------------
class _Rows:
    """Named row-aligned arrays. Appends are kept as parts and joined on first read, so many
    small adds cost one concatenation, not one each."""

    def __init__(self, templates: Dict[str, Tuple[np.dtype, Tuple[int, ...]]]):
        self.templates = templates
        self.parts: Dict[str, List[np.ndarray]] = {name: [] for name in templates}

    def get(self, name: str) -> np.ndarray:
        parts = self.parts[name]
        if not parts:
            dtype, tail = self.templates[name]
            return np.empty((0,) + tail, dtype=dtype)
        if len(parts) > 1:
            parts[:] = [np.concatenate(parts)]
        return parts[0]

    def append(self, name: str, arr: np.ndarray) -> None:
        self.parts[name].append(arr)

    def set(self, name: str, arr: np.ndarray) -> None:
        self.parts[name] = [arr] if arr.shape[0] else []

    def delete(self, rows: np.ndarray) -> None:
        for name in self.parts:
            if self.parts[name]:
                self.set(name, np.delete(self.get(name), rows, axis=0))

    def nbytes(self) -> int:
        return sum(p.nbytes for parts in self.parts.values() for p in parts)

    def is_mapped(self) -> bool:
        return any(isinstance(p, np.memmap) for parts in self.parts.values() for p in parts)


def _param(params: dict, key: str, kind):
    value = params.get(key)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise FormatError(f"parameter {key!r} missing or of the wrong type ({value!r})")
    return value


def _padded(nq: int, k: int, metric: str) -> Tuple[np.ndarray, np.ndarray]:
    worst = np.float32(np.inf if metric == "l2" else -np.inf)
    return np.full((nq, k), worst, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


# ------------------------------------------------------------------------------------------
# the protocol
# ------------------------------------------------------------------------------------------
class _Index:
    kind = ""

    def __init__(self, dim: int, metric: str):
        self._dim = check_int(dim, "dim")
        self._metric = check_metric(metric)
        self._idmap = _IdMap()
        self._rows = _Rows(self._templates())
        self._source: Optional[str] = None

    # -- to override -------------------------------------------------------------------
    def _templates(self) -> Dict[str, Tuple[np.dtype, Tuple[int, ...]]]:
        raise NotImplementedError

    def _encode(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def _search_rows(self, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _params(self) -> dict:
        raise NotImplementedError

    def _model_arrays(self) -> List[Tuple[str, np.ndarray]]:
        return []

    @property
    def keeps_vectors(self) -> bool:
        return "vectors" in self._rows.templates

    @property
    def is_trained(self) -> bool:
        return True

    # -- protocol ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def ntotal(self) -> int:
        return self._idmap.n

    def __len__(self) -> int:
        return self._idmap.n

    def __repr__(self) -> str:
        state = "" if self.is_trained else ", untrained"
        mapped = ", mmap" if self._rows.is_mapped() else ""
        return f"{type(self).__name__}({self._describe()}, ntotal={len(self)}{state}{mapped})"

    @property
    def ids(self) -> np.ndarray:
        """User ids of the stored vectors, int64 (n,), in row order."""
        return self._idmap.row_ids().copy()

    @property
    def bytes_per_vector(self) -> float:
        """Bytes stored per vector (codes, kept vectors and ids), excluding the model."""
        id_bytes = 0 if self._idmap.ids is None else 8
        return sum(int(np.prod(t)) * np.dtype(d).itemsize
                   for d, t in self._rows.templates.values()) + id_bytes

    def train(self, x, **kwargs) -> "_Index":
        """Trains the quantizer on (n, dim) vectors; returns self."""
        return self

    def add(self, x, ids=None) -> np.ndarray:
        """Adds (n, dim) vectors under ``ids`` (int64, unique, >= 0, not yet present) or under
        sequential ids continuing after the largest id ever used. Returns the ids."""
        self._require_trained()
        x = as_float_matrix(x, "x", self._dim)
        new = self._idmap.new_ids(x.shape[0], ids)
        encoded = self._encode(x)
        for name, arr in encoded.items():
            self._rows.append(name, arr)
        self._idmap.append(new)
        return new

    def remove(self, ids) -> int:
        """Removes the vectors with these user ids (absent ids are ignored); returns how many
        were removed. The remaining rows keep their order."""
        ids = _as_ids(ids, -1)
        if ids.size == 0 or len(self) == 0:
            return 0
        rows = np.unique(self._idmap.rows_of(ids))
        if rows.size:
            self._rows.delete(rows)
            self._idmap.delete_rows(rows)
        return int(rows.size)

    def search(self, queries, k: int, rerank: Optional[int] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """The k best vectors for each query: (distances float32 (nq, k), user ids int64
        (nq, k)), best first; k > len(index) pads with id -1 and the worst value.

        rerank: when the index keeps its vectors, fetch the best ``rerank`` (>= k) by code
            distance and return the best k of them by exact distance.
        """
        self._require_trained()
        k = check_int(k, "k")
        queries = as_float_matrix(queries, "queries", self._dim)
        if rerank is not None:
            rerank = check_int(rerank, "rerank")
            if rerank < k:
                raise ValueError(f"rerank must be >= k = {k}; got {rerank}")
        if len(self) == 0:
            return _padded(queries.shape[0], k, self._metric)
        if rerank is None or isinstance(self, FlatIndex):     # Flat is exact already
            dist, rows = self._search_rows(queries, k)
        else:
            if not self.keeps_vectors:
                raise ValueError("rerank needs the original vectors: create the index with "
                                 "keep_vectors=True (factory suffix ',Refine')")
            _, rows = self._search_rows(queries, rerank)
            dist, rows = rerank_exact(queries, rows, self._rows.get("vectors"), k,
                                      metric=self._metric)
        return dist, self._idmap.map_rows(rows)

    def reconstruct(self, ids) -> np.ndarray:
        """The stored vectors of these ids (FlatIndex, or indexes that keep vectors)."""
        if not self.keeps_vectors:
            raise ValueError(f"{type(self).__name__} does not keep vectors")
        ids = _as_ids(ids, -1)
        present = self._idmap.contains(ids)
        if not present.all():
            raise KeyError(f"id {ids[~present][0]} is not in the index")
        rows = self._idmap.rows_of(ids)
        # rows_of returns rows in the order of ids (all present)
        return np.array(self._rows.get("vectors")[rows])

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"this {type(self).__name__} is not trained: call "
                                  f"train(x) first")

    # -- persistence ---------------------------------------------------------------------
    def _container(self):
        params = dict(self._params(), dim=self._dim, metric=self._metric, ntotal=len(self))
        params.update(self._idmap.params())
        arrays = self._model_arrays()
        arrays += [(name, self._rows.get(name)) for name in self._rows.templates]
        arrays += self._idmap.arrays()
        return self.kind, params, arrays

    def save(self, path) -> int:
        """Saves the index to ``path`` (atomically: a failed save leaves any previous file
        intact); returns the file size in bytes. Reload with :func:`qvec.load`."""
        return _format.save_atomic(path, *self._container())

    def to_bytes(self) -> bytes:
        """The saved file's bytes."""
        return _format.to_bytes(*self._container())

    def __getstate__(self):
        return {"qvec_index": self.to_bytes()}

    def __setstate__(self, state):
        other = _from_container(_format.read_container(state["qvec_index"]))
        self.__dict__.update(other.__dict__)

    @classmethod
    def _restore(cls, params: dict, arrays: Dict[str, np.ndarray]) -> "_Index":
        raise NotImplementedError

    def _restore_rows(self, params: dict, arrays: Dict[str, np.ndarray]) -> None:
        n = _param(params, "ntotal", int)
        for name, (dtype, tail) in self._rows.templates.items():
            arr = arrays.get(name)
            if arr is None or arr.dtype != dtype or arr.shape != (n,) + tail:
                got = None if arr is None else f"{arr.dtype} {arr.shape}"
                raise FormatError(f"array {name!r} must be {np.dtype(dtype)} "
                                  f"{(n,) + tail}; got {got}")
            self._rows.set(name, arr)
        self._idmap = _IdMap.restore(n, params, arrays)


class FlatIndex(_Index):
    """Exact search over the stored float32 vectors.

    Example:
        >>> index = qvec.FlatIndex(128, "l2")
        >>> index.add(base)
        >>> dist, ids = index.search(queries, k=10)
    """

    kind = "flat"

    def __init__(self, dim: int, metric: str = "l2"):
        super().__init__(dim, metric)

    def _templates(self):
        return {"vectors": (np.dtype(np.float32), (self._dim,))}

    def _encode(self, x):
        return {"vectors": np.array(x)}

    def _search_rows(self, queries, k):
        # queries are checked by search(); stored vectors were checked when added
        return _core.exact_search(queries, self._rows.get("vectors"), k, self._metric)

    def _describe(self):
        return f"dim={self._dim}, metric={self._metric!r}"

    def _params(self):
        return {}

    @classmethod
    def _restore(cls, params, arrays):
        index = cls(_param(params, "dim", int), _param(params, "metric", str))
        index._restore_rows(params, arrays)
        return index


class PQIndex(_Index):
    """Product-quantized codes (``m`` subquantizers of ``nbits`` bits), searched by
    asymmetric distance; optionally keeps the float32 vectors for exact re-ranking.

    Args:
        dim: vector dimension; ``m`` must divide it.
        m: subquantizers; code size is m bytes for nbits=8, ceil(m/2) for nbits=4.
        nbits: 8, or 4 (fast-scan codes) where the installed ProductQuantizer supports it.
        metric: "l2" or "ip".
        keep_vectors: also store the float32 vectors, so ``search(..., rerank=k')`` can
            re-rank the best k' candidates with exact distances.

    Example:
        >>> index = qvec.PQIndex(128, m=16, metric="l2", keep_vectors=True)
        >>> index.train(base[:50_000]); index.add(base)
        >>> dist, ids = index.search(queries, k=10, rerank=100)
    """

    kind = "pq"

    def __init__(self, dim: int, m: int, nbits: int = 8, metric: str = "l2",
                 keep_vectors: bool = False):
        dim = check_int(dim, "dim")
        m = check_int(m, "m")
        nbits = check_int(nbits, "nbits")
        try:
            self._pq = ProductQuantizer(dim, m, nbits, metric)
        except ValueError as e:
            if nbits != 8 and "nbits" in str(e):
                raise ValueError(f"PQIndex: nbits={nbits} is not supported by the installed "
                                 f"qvec.ProductQuantizer ({e}); 4-bit fast-scan codes "
                                 f"('PQ<m>x4fs') need a qvec build with fast-scan PQ") from None
            raise
        self._keep = bool(keep_vectors)
        super().__init__(dim, metric)

    def _templates(self):
        t = {"codes": (np.dtype(np.uint8), (self._pq.code_size,))}
        if self._keep:
            t["vectors"] = (np.dtype(np.float32), (self._dim,))
        return t

    @property
    def pq(self) -> ProductQuantizer:
        """The underlying quantizer (shared, not a copy)."""
        return self._pq

    @property
    def m(self) -> int:
        return self._pq.m

    @property
    def nbits(self) -> int:
        return self._pq.nbits

    @property
    def code_size(self) -> int:
        return self._pq.code_size

    @property
    def is_trained(self) -> bool:
        return self._pq.is_trained

    @property
    def codes(self) -> np.ndarray:
        """The stored codes, uint8 (n, code_size), in row order (read-only view when mapped)."""
        return self._rows.get("codes")

    def train(self, x, iters: int = 25, seed: int = 0, max_train: Optional[int] = None,
              verbose: bool = False) -> "PQIndex":
        """Trains the codebooks (see :meth:`ProductQuantizer.fit`); returns self."""
        self._pq.fit(x, iters=iters, seed=seed, max_train=max_train, verbose=verbose)
        return self

    def _encode(self, x):
        out = {"codes": self._pq.encode(x)}
        if self._keep:
            out["vectors"] = np.array(x)
        return out

    def _search_rows(self, queries, k):
        codes = self._rows.get("codes")
        if isinstance(codes, np.memmap):
            # Packing would read mapped codes into memory; search them as they lie instead.
            return self._pq.search(queries, codes, k)
        # The scan layout is built once per state of the codes (any add or remove makes a new
        # array), so a stream of small query batches does not rearrange the codes every time.
        cached = getattr(self, "_packed", None)
        if cached is None or cached[0] is not codes:
            cached = self._packed = (codes, self._pq.pack(codes))
        return self._pq.search(queries, cached[1], k)

    def _describe(self):
        return (f"dim={self._dim}, m={self.m}, nbits={self.nbits}, metric={self._metric!r}, "
                f"keep_vectors={self._keep}")

    def _params(self):
        return {"m": self.m, "nbits": self.nbits, "keep_vectors": self._keep,
                "trained": self.is_trained}

    def _model_arrays(self):
        return [("codebooks", self._pq.codebooks)] if self.is_trained else []

    @classmethod
    def _restore(cls, params, arrays):
        index = cls(_param(params, "dim", int), _param(params, "m", int),
                    _param(params, "nbits", int), _param(params, "metric", str),
                    _param(params, "keep_vectors", bool))
        if _param(params, "trained", bool):
            if "codebooks" not in arrays:
                raise FormatError("trained PQ index without a 'codebooks' array")
            index._pq.codebooks = np.asarray(arrays["codebooks"])
        elif _param(params, "ntotal", int):
            raise FormatError("untrained PQ index with stored codes")
        index._restore_rows(params, arrays)
        return index


class BinaryIndex(_Index):
    """Binary codes from :class:`qvec.BinaryQuantizer` (``bits`` bits per dimension, optional
    random rotation), searched by the quantizer; optionally keeps the vectors for re-ranking.

    The quantizer's state (``__getstate__``: scalars and arrays) and its codes
    (a uint8 array, or an object whose ``__getstate__`` holds row-aligned arrays) are saved.
    """

    kind = "binary"

    def __init__(self, dim: int, bits: int = 1, metric: str = "l2", rotate: bool = True,
                 keep_vectors: bool = False):
        dim = check_int(dim, "dim")
        self._bits = check_int(bits, "bits")
        self._rotate = bool(rotate)
        self._keep = bool(keep_vectors)
        self._bq = BinaryQuantizer(dim, bits=self._bits, metric=check_metric(metric), rotate=self._rotate)
        self._trained = False
        self._codes_cls = None
        super().__init__(dim, metric)

    @property
    def is_trained(self) -> bool:
        return self._trained

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def rotate(self) -> bool:
        return self._rotate

    def _templates(self):
        t = {}
        if self._keep:
            t["vectors"] = (np.dtype(np.float32), (self._dim,))
        return t

    def train(self, x, seed: int = 0) -> "BinaryIndex":
        self._bq.fit(as_float_matrix(x, "x", self._dim), seed=seed)
        self._trained = True
        return self

    def _code_fields(self, codes) -> Dict[str, np.ndarray]:
        if isinstance(codes, np.ndarray):
            return {"codes": codes}
        state = codes.__getstate__()
        self._codes_cls = type(codes)
        return {f"codes.{key}": np.asarray(value) for key, value in state.items()}

    def _encode(self, x):
        fields = self._code_fields(self._bq.encode(x))
        for name, arr in fields.items():
            if name not in self._rows.templates:
                self._rows.templates[name] = (arr.dtype, tuple(arr.shape[1:]))
                self._rows.parts[name] = []
        if self._keep:
            fields["vectors"] = np.array(x)
        return fields

    def _codes(self):
        if "codes" in self._rows.templates:
            return self._rows.get("codes")
        state = {name[len("codes."):]: self._rows.get(name) for name in self._rows.templates
                 if name.startswith("codes.")}
        # Building the codes object validates every row (a pass over all factors); do it once
        # per state of the arrays (any add or remove makes new ones), not on every search.
        cached = getattr(self, "_codes_cache", None)
        if cached is None or cached[0].keys() != state.keys() or any(
                cached[0][key] is not arr for key, arr in state.items()):
            obj = self._codes_cls.__new__(self._codes_cls)
            obj.__setstate__(state)
            cached = self._codes_cache = (state, obj)
        return cached[1]

    def _search_rows(self, queries, k):
        return self._bq.search(queries, self._codes(), k)

    def _describe(self):
        return (f"dim={self._dim}, bits={self._bits}, metric={self._metric!r}, "
                f"rotate={self._rotate}, keep_vectors={self._keep}")

    def _params(self):
        scalars, _ = _split_state(self._bq.__getstate__()) if self._trained else ({}, [])
        return {"bits": self._bits, "rotate": self._rotate, "keep_vectors": self._keep,
                "trained": self._trained, "quantizer": scalars,
                "codes_class": None if self._codes_cls is None else self._codes_cls.__name__,
                "code_fields": [n for n in self._rows.templates if n.startswith("codes")]}

    def _model_arrays(self):
        if not self._trained:
            return []
        _, arrays = _split_state(self._bq.__getstate__())
        return [("q." + key, arr) for key, arr in arrays]

    @classmethod
    def _restore(cls, params, arrays):
        index = cls(_param(params, "dim", int), _param(params, "bits", int),
                    _param(params, "metric", str), _param(params, "rotate", bool),
                    _param(params, "keep_vectors", bool))
        if _param(params, "trained", bool):
            state = dict(_param(params, "quantizer", dict))
            state.update({k[2:]: v for k, v in arrays.items() if k.startswith("q.")})
            index._bq.__setstate__(state)
            index._trained = True
        codes_class = params.get("codes_class")
        if codes_class is not None:
            # Only known classes: a file must not pick what gets instantiated.
            if codes_class != BinaryCodes.__name__:
                raise FormatError(f"unknown codes class {codes_class!r}")
            index._codes_cls = BinaryCodes
        for name in _param(params, "code_fields", list):
            arr = arrays.get(str(name))
            if arr is None:
                raise FormatError(f"missing array {name!r}")
            index._rows.templates[name] = (arr.dtype, tuple(arr.shape[1:]))
            index._rows.parts[name] = []
        index._restore_rows(params, arrays)
        return index


def _split_state(state: dict):
    scalars, arrays = {}, []
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays.append((key, value))
        elif isinstance(value, np.generic):
            scalars[key] = value.item()
        else:
            scalars[key] = value
    return scalars, arrays


# ------------------------------------------------------------------------------------------
# factory and loading
# ------------------------------------------------------------------------------------------
_KINDS = {"flat": FlatIndex, "pq": PQIndex, "binary": BinaryIndex}

_FACTORY_HELP = ("expected 'Flat', 'PQ<m>[x<nbits>][fs]' (e.g. 'PQ48x8', 'PQ96x4fs') or "
                 "'BIN<bits>' (e.g. 'BIN1'), optionally followed by ',Refine' to keep the "
                 "vectors for re-ranking")


def index_factory(dim: int, description: str, metric: str = "l2") -> _Index:
    """Builds an empty index from a short description.

    ``"Flat"`` exact search; ``"PQ48x8"`` (or ``"PQ48"``) 8-bit PQ with 48 subquantizers;
    ``"PQ96x4fs"`` 4-bit fast-scan PQ; ``"BIN1"`` binary codes with 1 bit per dimension.
    A ``",Refine"`` suffix keeps the float32 vectors so ``search(..., rerank=k')`` works.
    A bad description raises ValueError naming the bad token.
    """
    if not isinstance(description, str):
        raise TypeError(f"description must be a string; got {type(description).__name__}")
    tokens = [t.strip() for t in description.split(",")]
    main, mods = tokens[0], tokens[1:]
    pq = re.fullmatch(r"PQ(\d+)(?:x(\d+))?(fs)?", main, flags=re.IGNORECASE)
    binary = re.fullmatch(r"BIN(\d+)", main, flags=re.IGNORECASE)
    if main.lower() != "flat" and pq is None and binary is None:
        raise ValueError(f"index_factory: unknown token {main!r} in {description!r}; "
                         f"{_FACTORY_HELP}")
    keep = False
    for tok in mods:
        if tok.lower() in ("refine", "rflat"):
            keep = True
        else:
            raise ValueError(f"index_factory: unknown token {tok!r} in {description!r}; "
                             f"{_FACTORY_HELP}")
    if main.lower() == "flat":
        if keep:
            raise ValueError(f"index_factory: token 'Refine' in {description!r} does not apply "
                             f"to 'Flat' (it already keeps the vectors)")
        return FlatIndex(dim, metric)
    match = pq
    if match:
        m = int(match.group(1))
        nbits = int(match.group(2)) if match.group(2) else (4 if match.group(3) else 8)
        if match.group(3) and nbits != 4:
            raise ValueError(f"index_factory: token {main!r} in {description!r}: fast-scan "
                             f"('fs') codes are 4-bit, write 'PQ{m}x4fs'")
        if m < 1:
            raise ValueError(f"index_factory: token {main!r}: m must be >= 1")
        return PQIndex(dim, m, nbits, metric, keep_vectors=keep)
    return BinaryIndex(dim, int(binary.group(1)), metric, keep_vectors=keep)


def _from_container(c: "_format.Container") -> _Index:
    cls = _KINDS.get(c.kind)
    if cls is None:
        raise FormatError(f"unknown index kind {c.kind!r} (known: {sorted(_KINDS)})")
    try:
        return cls._restore(c.params, c.arrays)
    except FormatError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise FormatError(f"inconsistent {c.kind} index parameters: {e}") from None


def _is_row_array(name: str) -> bool:
    return name in ("vectors", "ids") or name.split(".")[0] == "codes"


def load(path, mmap: bool = False, verify: Optional[bool] = None) -> _Index:
    """Loads an index saved with ``index.save(path)``.

    mmap: map the codes (and kept vectors) read-only instead of reading them: loading is
        immediate, pages are read on demand by search and shared between processes. Adding or
        removing afterwards copies the mapped arrays into memory; the file is never written.
    verify: check the CRC32 of every array. Default: True without mmap; False with mmap
        (mapped arrays are then only checked for size; the codebooks are always verified).

    Raises FormatError (a ValueError) for a truncated, corrupt, wrong-version or non-qvec file.
    """
    path = os.fspath(path)
    # row arrays (codes, vectors, ids) are mapped; model arrays (codebooks) are read
    container = _format.read_container(path, mmap=mmap, verify=verify,
                                       map_names=_is_row_array)
    index = _from_container(container)
    index._source = path
    return index
