"""Row storage: the named row-aligned arrays of an index (codes, factors, kept vectors).

A :class:`Rows` never changes once built: appending or deleting returns a new one, so a search
holding one keeps reading the same arrays while another thread adds or removes. Appends are
kept as parts and joined on first read, so many small adds cost one concatenation, not one
each. Arrays loaded with ``mmap=True`` are read-only ``numpy.memmap`` views of the file; a
change copies them into memory and the file is never written.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.generic]
#: name -> (dtype, shape of one row)
Templates = Mapping[str, Tuple[np.dtype, Tuple[int, ...]]]


class Rows:
    """Named arrays with the same number of rows, each of a fixed dtype and row shape."""

    __slots__ = ("templates", "_parts", "_joined")

    def __init__(self, templates: Templates,
                 parts: Optional[Mapping[str, Tuple[Array, ...]]] = None) -> None:
        self.templates = templates
        given = parts or {}
        self._parts: Dict[str, Tuple[Array, ...]] = {
            name: tuple(p for p in given.get(name, ()) if p.shape[0]) for name in templates}
        self._joined: Dict[str, Array] = {}

    def get(self, name: str) -> Array:
        """The whole array ``name`` (joined once; every caller then gets the same object)."""
        parts = self._parts[name]
        if len(parts) == 1:
            return parts[0]
        joined = self._joined.get(name)
        if joined is None:
            if parts:
                joined = np.concatenate(parts)
            else:
                dtype, tail = self.templates[name]
                joined = np.empty((0,) + tail, dtype=dtype)
            # setdefault is atomic: threads joining at once all return the first one stored
            joined = self._joined.setdefault(name, joined)
        return joined

    def _current(self, name: str) -> Tuple[Array, ...]:
        joined = self._joined.get(name)
        return (joined,) if joined is not None else self._parts[name]

    def appended(self, arrays: Mapping[str, Array]) -> "Rows":
        """New rows with ``arrays`` (one per template, the same number >= 1 of rows) appended.
        Costs O(number of parts), not O(rows): the parts are joined on the next read."""
        out = Rows(self.templates)
        out._parts = {name: self._current(name) + (arrays[name],) for name in self.templates}
        return out

    def without(self, rows: npt.NDArray[np.int64]) -> "Rows":
        """New rows without ``rows`` (sorted, unique); the others keep their order."""
        return Rows(self.templates,
                    {name: (np.delete(self.get(name), rows, axis=0),) for name in self.templates})

    def is_mapped(self) -> bool:
        return any(isinstance(p, np.memmap) for parts in self._parts.values() for p in parts)

    def row_bytes(self) -> int:
        """Bytes stored per row."""
        return sum(int(np.prod(tail)) * np.dtype(dtype).itemsize
                   for dtype, tail in self.templates.values())
