"""``filter=``: which ids a search may return, in one form for the native scanners.

Every flat index search (and :meth:`qvec.ProductQuantizer.search`,
:meth:`qvec.BinaryQuantizer.search`) takes ``filter=`` in one of three spellings:

- a boolean mask over ids: ``mask[i]`` allows id ``i``; ids at or past ``len(mask)`` are
  excluded (a short mask is not an error);
- an integer array-like of allowed ids, in any order (it is sorted here; duplicates and ids
  that are not stored are ignored; negative ids are a ValueError);
- an id range: a Python ``range`` with step 1, or a ``(start, stop)`` tuple of two ints
  (allows ``start <= id < stop``; a tuple always means a range, use a list or an array for two
  ids).

The filter is tested inside the scan, before a candidate reaches the per-query top-k, so a
filtered id is never returned and k results come back whenever k allowed ids are stored
(fewer pad with id -1). For an index the filter speaks user ids; it is turned into a filter
over the rows the scanners see (the native :class:`qvec._core.IdFilter`), with this rule:
an id range over sequential ids stays a range; otherwise the allowed rows become a bitset
(one bit per row), or, past 8M rows, a sorted row array when that is smaller (fewer than one
allowed row in 64), whose per-candidate test is a binary search.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .. import _core  # type: ignore[attr-defined, unused-ignore]
from .ids import IdMap

#: What ``filter=`` accepts (None: every id).
FilterLike = Union[None, range, Tuple[int, int], Sequence[int], npt.ArrayLike]

_INT64_MAX = int(np.iinfo(np.int64).max)


def _bound(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"filter {what} must be an int; got {type(value).__name__}")
    return max(-1, min(int(value), _INT64_MAX))


_Parsed = Tuple[str, int, int, npt.NDArray[Any]]
_NONE: npt.NDArray[Any] = np.empty(0, dtype=np.int64)


def _parse(filter: object) -> _Parsed:
    """("range", lo, hi, -) | ("mask", -, -, bool array) | ("ids", -, -, sorted unique int64
    array)."""
    if isinstance(filter, range):
        if filter.step != 1:
            raise ValueError(f"filter range must have step 1; got {filter!r}")
        return "range", _bound(filter.start, "start"), _bound(filter.stop, "stop"), _NONE
    if isinstance(filter, tuple) and len(filter) == 2:
        return "range", _bound(filter[0], "start"), _bound(filter[1], "stop"), _NONE
    if isinstance(filter, (str, bytes, dict, set)) or np.isscalar(filter):
        raise TypeError("filter must be a boolean mask over ids, an array of allowed ids or an "
                        f"id range (range or (start, stop)); got {type(filter).__name__}")
    arr = np.asarray(filter)
    if arr.ndim != 1:
        raise ValueError(f"filter must be 1-D (a mask or an array of ids); got shape "
                         f"{tuple(arr.shape)}")
    if arr.dtype == np.bool_:
        return "mask", 0, 0, arr
    if arr.size == 0:
        return "ids", 0, 0, _NONE
    if arr.dtype.kind not in "iu":
        raise TypeError(f"filter ids must be integers (or the filter a boolean mask); got "
                        f"dtype {arr.dtype}")
    if arr.dtype.kind == "i" and int(arr.min()) < 0:
        raise ValueError(f"filter ids must be >= 0; got {int(arr.min())}")
    if arr.dtype.kind == "u" and int(arr.max()) > _INT64_MAX:
        raise ValueError("filter ids must fit in int64")
    ids = arr.astype(np.int64, copy=False)
    if ids.shape[0] > 1 and bool(np.all(ids[1:] > ids[:-1])):
        return "ids", 0, 0, ids    # already sorted and unique: np.unique would sort again
    return "ids", 0, 0, np.unique(ids)


def _bitset(allowed: npt.NDArray[np.bool_]) -> "_core.IdFilter":
    n = allowed.shape[0]
    padded = np.zeros(-(-n // 64) * 64, dtype=bool)
    padded[:n] = allowed
    words = np.frombuffer(np.packbits(padded, bitorder="little").tobytes(), dtype="<u8")
    return _core.bitset_filter(np.ascontiguousarray(words, dtype=np.uint64), n)


#: Bitset words up to which a sparse row filter is still a bitset (1 MiB: 8M rows): a bitset
#: test costs one load where the sorted rows' binary search costs ~log2(count) mispredicted
#: branches (IVF at 1% of 200k as sorted rows: 8.8k q/s, as a bitset: 34k).
_BITSET_WORDS = 1 << 17


def _from_rows(rows: npt.NDArray[np.int64], n: int) -> "_core.IdFilter":
    """A bitset over n rows, or the sorted rows themselves where they are far smaller than
    a bitset past _BITSET_WORDS."""
    nwords = -(-n // 64)
    if rows.size * 64 < n and nwords > _BITSET_WORDS:
        return _core.sorted_filter(np.ascontiguousarray(rows, dtype=np.int64))
    if rows.size * 64 >= n:
        allowed = np.zeros(n, dtype=bool)
        allowed[rows] = True
        return _bitset(allowed)
    words = np.zeros(nwords, dtype=np.uint64)  # sparse: set the rows' bits, skip an n-byte mask
    np.bitwise_or.at(words, rows >> 6, np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64)))
    return _core.bitset_filter(words, n)


def row_filter(filter: object, idmap: IdMap) -> Optional["_core.IdFilter"]:
    """The native filter over the rows of an index whose row -> id map is ``idmap``, from a
    ``filter=`` over its user ids (None stays None; a native filter is taken as it is)."""
    if filter is None or isinstance(filter, _core.IdFilter):
        return filter
    kind, lo, hi, value = _parse(filter)
    n = idmap.n
    if idmap.ids is None:                       # row r holds id start + r
        start = idmap.start
        if kind == "range":
            return _core.IdFilter(min(max(lo - start, 0), n), min(max(hi - start, 0), n))
        if kind == "mask":
            allowed = np.zeros(n, dtype=bool)
            part = value[start:start + n]
            allowed[:part.shape[0]] = part
            return _bitset(allowed)
        rows = value[(value >= start) & (value < start + n)] - start
        return _from_rows(np.asarray(rows, dtype=np.int64), n)
    row_ids = idmap.ids
    keep: npt.NDArray[np.bool_]
    if kind == "range":
        keep = (row_ids >= lo) & (row_ids < hi)
    elif kind == "mask":
        inside = row_ids < value.shape[0]
        keep = np.zeros(n, dtype=bool)
        keep[inside] = value[row_ids[inside]]
    elif value.shape[0]:
        pos = np.minimum(np.searchsorted(value, row_ids), value.shape[0] - 1)
        keep = value[pos] == row_ids
    else:
        keep = np.zeros(n, dtype=bool)
    return _from_rows(np.flatnonzero(keep).astype(np.int64), n)


def id_filter(filter: object, n: int) -> Optional["_core.IdFilter"]:
    """The native filter of a quantizer-level search over ``n`` codes, whose ids are rows."""
    return row_filter(filter, IdMap(n, 0, None, n))
