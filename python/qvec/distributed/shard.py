"""One shard: a qvec index and the file it can be rebuilt from, as a plain class that any
engine can host (Ray runs it as an actor, see :mod:`qvec.distributed.ray`).

A shard is built in two steps so that training can see every shard's rows before any is
encoded: :meth:`Shard.load_rows` reads the shard's rows from its part of the source, the
engine gathers a training sample with :meth:`Shard.rows`, and :meth:`Shard.fill` receives the
trained empty index (qvec's own serialized bytes) and adds the rows under their global ids.
Every change is written to the shard's checkpoint file before the call returns, so a restarted
shard that loads the file has every change that was acknowledged.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from .. import io as qio
from ..index.base import Index, codec_metric, unit_rows
from ..index.ids import as_ids
from ..index.persistence import from_bytes, load
from ..rerank import rerank as rerank_exact

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
#: A slice of a vector file: (path, first row, end row).
FileSlice = Tuple[str, int, int]


def file_shape(path: str, column: Optional[str] = None) -> Tuple[int, int]:
    """(rows, dim) of a vector file, from its header (parquet: the footers, qvec.io)."""
    if not path.lower().endswith(".parquet"):
        n, d = qio.read_vectors(path, mmap=True).shape
        return int(n), int(d)
    return qio.parquet_shape(path, column)


def read_file_slices(slices: Sequence[FileSlice], column: Optional[str] = None) -> FloatArray:
    """The rows of several file slices, concatenated, as float32 (read through qvec.io, with
    only the sliced rows paged in; parquet through pyarrow)."""
    parts = [qio.parquet_rows(path, column, a, b) if path.lower().endswith(".parquet")
             else np.asarray(qio.read_vectors(path, mmap=True)[a:b], dtype=np.float32)
             for path, a, b in slices]
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


def dataset_rows(dataset: Any, column: Optional[str]) -> FloatArray:
    """The vectors of a ``ray.data.Dataset`` piece, in order, as float32 (n, d): the column
    ``column``, or the only column when None."""
    parts: List[FloatArray] = []
    for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
        name = column
        if name is None:
            if len(batch) != 1:
                raise ValueError(f"the dataset has columns {sorted(batch)}; pass column= to "
                                 f"say which one holds the vectors")
            name = next(iter(batch))
        if name not in batch:
            raise ValueError(f"column={name!r} is not in the dataset (columns: "
                             f"{sorted(batch)})")
        values = batch[name]
        if values.dtype == object:          # lists of numbers: one array per row
            values = np.stack([np.asarray(v, dtype=np.float32) for v in values])
        parts.append(np.asarray(values, dtype=np.float32).reshape(len(values), -1))
    if not parts:
        return np.empty((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


class Shard:
    """A shard of a sharded index (see the module docstring).

    Args:
        number: the shard's position (0-based), for messages.
        path: a shard file to load (a restart, or ``ShardedIndex.load``); None for a new
            shard, filled by :meth:`load_rows` and :meth:`fill`.
        mmap: map the loaded file's row arrays instead of reading them.
        threads: native threads for this shard's searches (None: qvec's default, all cores).
    """

    def __init__(self, number: int, path: Optional[str] = None, mmap: bool = True,
                 threads: Optional[int] = None) -> None:
        if threads is not None:
            from .. import set_num_threads

            set_num_threads(threads)
        self.number = number
        self.path = path
        self.index: Optional[Index[Any]] = None
        self.pending: Optional[FloatArray] = None
        if path is not None:
            self.index = load(path, mmap=mmap)

    # -- identity (for fault handling and tests) -----------------------------------------
    def pid(self) -> int:
        return os.getpid()

    def info(self) -> Dict[str, Any]:
        index = self._built()
        return {"ntotal": len(index), "next_id": index._state.idmap.next_id,
                "path": self.path, "kind": index.kind, "dim": index.dim,
                "metric": index.metric}

    # -- building ------------------------------------------------------------------------
    def load_rows(self, kind: str, payload: Any, column: Optional[str] = None) -> Tuple[int, int]:
        """Reads this shard's rows: ``kind`` "array" (payload: the rows), "files" (a list of
        :data:`FileSlice`) or "dataset" (a ``ray.data.Dataset`` piece). Returns (rows, dim)."""
        if kind == "array":
            rows = np.ascontiguousarray(payload, dtype=np.float32)
        elif kind == "files":
            rows = read_file_slices(payload, column)
        elif kind == "dataset":
            rows = dataset_rows(payload, column)
        else:
            raise ValueError(f"unknown source kind {kind!r}")
        self.pending = rows
        return int(rows.shape[0]), int(rows.shape[1])

    def rows(self, local: IdArray) -> FloatArray:
        """Rows of the loaded source at these local positions (the training sample)."""
        if self.pending is None:
            raise RuntimeError(f"shard {self.number}: no rows loaded")
        return np.ascontiguousarray(self.pending[local])

    def fill(self, trained: bytes, first_id: int, checkpoint: str) -> int:
        """Adds the loaded rows to the trained empty index ``trained`` (bytes of
        ``Index.to_bytes``) under ids first_id, first_id + 1, ...; writes the checkpoint."""
        if self.pending is None:
            raise RuntimeError(f"shard {self.number}: no rows loaded")
        index = from_bytes(trained)
        n = self.pending.shape[0]
        index.add(self.pending, ids=np.arange(first_id, first_id + n, dtype=np.int64))
        self.index, self.pending = index, None
        self._checkpoint(checkpoint)
        return len(index)

    # -- serving -------------------------------------------------------------------------
    def search(self, queries: FloatArray, k: int,
               params: Dict[str, Any]) -> Tuple[FloatArray, IdArray]:
        dist, ids = self._built().search(queries, k, **params)
        return dist, ids

    def rerank(self, queries: FloatArray, candidates: IdArray,
               k: int) -> Tuple[FloatArray, IdArray]:
        """The best k of the (nq, c) candidate ids this shard holds (others are skipped), by
        exact distance to the kept vectors: the second stage of a sharded ``rerank=`` search,
        done as one index does it (same vectors, same metric, ties to the smaller id)."""
        index = self._built()
        state = index._state
        if "vectors" not in state.rows.templates:
            raise ValueError("rerank needs the original vectors: create the index with "
                             "keep_vectors=True (factory suffix ',Refine')")
        q = unit_rows(queries) if index.metric == "cosine" else queries
        flat = np.asarray(candidates, dtype=np.int64).ravel()
        present = flat >= 0
        present[present] = state.idmap.contains(flat[present])
        rows = np.full(flat.shape, -1, dtype=np.int64)
        rows[present] = state.idmap.rows_of(flat[present])
        dist, best = rerank_exact(q, rows.reshape(candidates.shape), state.rows.get("vectors"),
                                  k, metric=codec_metric(index.metric))
        return dist, state.idmap.map_rows(best)

    def contains(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        return np.asarray(self._built()._state.idmap.contains(as_ids(ids, -1)))

    def add(self, x: FloatArray, ids: IdArray, checkpoint: str) -> int:
        """Adds rows under ``ids``; a retry of an add this shard already made (same ids, all
        present) changes nothing."""
        index = self._built()
        if ids.size and bool(self.contains(ids).all()):
            return len(index)
        index.add(x, ids=ids)
        self._checkpoint(checkpoint)
        return len(index)

    def remove(self, ids: IdArray, checkpoint: str) -> int:
        removed = self._built().remove(ids)
        if removed:
            self._checkpoint(checkpoint)
        return removed

    def save(self, path: str) -> int:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return self._built().save(path)

    def delete_checkpoint(self, checkpoint: str) -> None:
        """Removes this shard's scratch checkpoint (when the index is closed)."""
        if os.path.exists(checkpoint):
            os.remove(checkpoint)

    # -- internals -----------------------------------------------------------------------
    def _built(self) -> Index[Any]:
        if self.index is None:
            raise RuntimeError(f"shard {self.number} holds no index yet")
        return self.index

    def _checkpoint(self, checkpoint: str) -> None:
        os.makedirs(os.path.dirname(checkpoint) or ".", exist_ok=True)
        self._built().save(checkpoint)
        self.path = checkpoint
