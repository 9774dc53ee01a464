"""User ids: validation of ids passed in, and the row -> id map of an index.

An :class:`IdMap` never changes once built: adding or removing returns a new map. A search that
took one map (with the rows it belongs to) keeps a consistent view while another thread adds or
removes, and needs no lock.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int64]
_INT64_MAX = int(np.iinfo(np.int64).max)


def as_ids(ids: object, n: int, name: str = "ids") -> IdArray:
    """``ids`` as a C-contiguous int64 (n,) array (n = -1: any length); a scalar is one id."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{name} must be integers (int64); got dtype {arr.dtype}")
    if arr.ndim != 1 or (n >= 0 and arr.shape[0] != n):
        want = f"({n},)" if n >= 0 else "(n,)"
        raise ValueError(f"{name} must have shape {want}; got {tuple(arr.shape)}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError(f"{name} must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_new_ids(ids: object, count: int) -> IdArray:
    """Validates user ids for ``count`` new rows: int64, >= 0, no duplicates. Whether they are
    already in an index is for :meth:`IdMap.allocate` to say."""
    arr = as_ids(ids, count)
    if arr.size and int(arr.min()) < 0:
        raise ValueError(f"ids must be >= 0 (-1 marks missing results); got {arr.min()}")
    if np.unique(arr).size != arr.size:
        s = np.sort(arr)
        dup = s[np.flatnonzero(s[1:] == s[:-1])[0]]
        raise ValueError(f"ids contains duplicates (e.g. {dup})")
    return arr


class IdMap:
    """Row -> user id, and user id -> row through a sorted copy built on first use.

    While the ids are a contiguous range (the default: sequential ids, no removal) no array is
    stored: row i holds id ``start + i``. ``next_id`` is the next sequential id (one past the
    largest id ever used)."""

    __slots__ = ("n", "start", "ids", "next_id", "_sorted")

    def __init__(self, n: int = 0, start: int = 0, ids: Optional[IdArray] = None,
                 next_id: int = 0) -> None:
        self.n = n
        self.start = start
        self.ids = ids                     # None while contiguous
        self.next_id = next_id
        self._sorted: Optional[Tuple[IdArray, IdArray]] = None

    def row_ids(self) -> IdArray:
        if self.ids is None:
            return np.arange(self.start, self.start + self.n, dtype=np.int64)
        return self.ids

    def _index(self, ids: IdArray) -> Tuple[IdArray, IdArray]:
        # Built lazily and at most once per map; two threads building it at once build equal
        # copies, so the race is harmless.
        cached = self._sorted
        if cached is None:
            order = np.argsort(ids, kind="stable")
            cached = self._sorted = (ids[order], order)
        return cached

    def contains(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        """Boolean mask: which of ``ids`` are present."""
        if self.ids is None:
            return np.asarray((ids >= self.start) & (ids < self.start + self.n))
        if self.n == 0:
            return np.zeros(ids.shape, dtype=bool)
        sorted_ids, _ = self._index(self.ids)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), self.n - 1)
        return np.asarray(sorted_ids[pos] == ids)

    def rows_of(self, ids: IdArray) -> IdArray:
        """Rows of the present ids among ``ids``, in the order of ``ids`` (absent ones
        skipped)."""
        if self.ids is None:
            found = ids[(ids >= self.start) & (ids < self.start + self.n)]
            return np.asarray(found - self.start, dtype=np.int64)
        if self.n == 0:
            return np.empty(0, dtype=np.int64)
        sorted_ids, order = self._index(self.ids)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), self.n - 1)
        return np.asarray(order[pos[sorted_ids[pos] == ids]], dtype=np.int64)

    def allocate(self, count: int, ids: Optional[IdArray]) -> IdArray:
        """The ids of ``count`` new rows: ``ids`` (from :func:`check_new_ids`) if none of them
        is present, else sequential ids from ``next_id``. Changes nothing."""
        if ids is None:
            if self.next_id + count > _INT64_MAX:
                raise ValueError("sequential ids would pass 2**63 - 1; pass ids explicitly")
            return np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        present = self.contains(ids)
        if present.any():
            raise ValueError(f"ids already in the index (e.g. {ids[present][0]}); remove them "
                             f"first or use other ids")
        return ids

    def appended(self, ids: IdArray) -> "IdMap":
        """A new map with rows of ``ids`` appended."""
        count = ids.shape[0]
        if count == 0:
            return self
        contiguous = (self.ids is None and (self.n == 0 or ids[0] == self.start + self.n)
                      and (count == 1 or (ids[-1] - ids[0] == count - 1
                                          and bool(np.all(np.diff(ids) == 1)))))
        largest = int(ids[-1]) if contiguous else int(ids.max())
        next_id = max(self.next_id, largest + 1)
        if contiguous:
            start = int(ids[0]) if self.n == 0 else self.start
            return IdMap(self.n + count, start, None, next_id)
        return IdMap(self.n + count, 0, np.concatenate([self.row_ids(), ids]), next_id)

    def without_rows(self, rows: IdArray) -> "IdMap":
        """A new map without ``rows`` (sorted, unique); carries the sorted copy over in O(n)."""
        out = IdMap(self.n - rows.shape[0], 0, np.delete(self.row_ids(), rows), self.next_id)
        if self._sorted is not None:
            sorted_ids, order = self._sorted
            alive = np.ones(self.n, dtype=bool)
            alive[rows] = False
            keep = alive[order]
            order = order[keep]
            out._sorted = (sorted_ids[keep], order - np.searchsorted(rows, order))
        return out

    def map_rows(self, rows: IdArray) -> IdArray:
        """User ids for an array of rows; -1 stays -1."""
        if self.ids is None and self.start == 0:
            return rows.copy()      # rows are the ids, -1 included (a third of the where below)
        valid = rows >= 0
        if self.ids is None:
            return np.where(valid, rows + self.start, -1)
        return np.where(valid, self.ids[np.where(valid, rows, 0)], -1)
