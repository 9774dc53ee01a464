"""Row storage: the named row-aligned arrays of an index (codes, factors, kept vectors).

A :class:`Rows` never changes what it holds: appending or deleting returns a new one, so a
search holding one keeps reading the same arrays while another thread adds or removes. Appends
are kept as parts and joined on first read, so many small adds cost one concatenation, not one
each: successive ``Rows`` share one append-only list of parts, each seeing its own prefix, so
an append costs O(1). Arrays loaded with ``mmap=True`` are read-only ``numpy.memmap`` views of
the file; a change copies them into memory and the file is never written.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.generic]
#: name -> (dtype, shape of one row)
Templates = Mapping[str, Tuple[np.dtype, Tuple[int, ...]]]


class Rows:
    """Named arrays with the same number of rows, each of a fixed dtype and row shape."""

    __slots__ = ("templates", "_parts", "_joined")

    def __init__(self, templates: Templates,
                 parts: Optional[Mapping[str, Sequence[Array]]] = None) -> None:
        self.templates = templates
        given = parts or {}
        # name -> (parts list, how many of its first parts belong to these rows); the list is
        # shared with the Rows appended from this one and only ever grows
        self._parts: Dict[str, Tuple[List[Array], int]] = {}
        for name in templates:
            kept = [p for p in given.get(name, ()) if p.shape[0]]
            self._parts[name] = (kept, len(kept))
        self._joined: Dict[str, Array] = {}

    def _seen(self, name: str) -> List[Array]:
        parts, count = self._parts[name]
        return parts[:count]

    def get(self, name: str) -> Array:
        """The whole array ``name`` (joined once; every caller then gets the same object)."""
        parts, count = self._parts[name]
        if count == 1:
            return parts[0]
        joined = self._joined.get(name)
        if joined is None:
            if count:
                joined = np.concatenate(parts[:count])
            else:
                dtype, tail = self.templates[name]
                joined = np.empty((0,) + tail, dtype=dtype)
            # setdefault is atomic: threads joining at once all return the first one stored
            joined = self._joined.setdefault(name, joined)
        return joined

    def appended(self, arrays: Mapping[str, Array]) -> "Rows":
        """New rows with ``arrays`` (one per template, the same number >= 1 of rows) appended.
        O(1): the parts are joined on the next read. Called on the newest rows only (the
        index appends under its lock); any other branches off a copy of its parts."""
        out = Rows.__new__(Rows)
        out.templates, out._parts, out._joined = self.templates, {}, {}
        for name in self.templates:
            parts, count = self._parts[name]
            joined = self._joined.get(name)
            if joined is not None:
                parts, count = [joined], 1       # reuse the join: later reads extend it
            elif count != len(parts):
                parts = parts[:count]
            parts.append(arrays[name])
            out._parts[name] = (parts, count + 1)
        return out

    def without(self, rows: npt.NDArray[np.int64]) -> "Rows":
        """New rows without ``rows`` (sorted, unique); the others keep their order."""
        return Rows(self.templates,
                    {name: (np.delete(self.get(name), rows, axis=0),) for name in self.templates})

    def is_mapped(self) -> bool:
        return any(isinstance(p, np.memmap) for name in self.templates for p in self._seen(name))

    def row_bytes(self) -> int:
        """Bytes stored per row."""
        return sum(int(np.prod(tail)) * np.dtype(dtype).itemsize
                   for dtype, tail in self.templates.values())
