"""Where a sharded index's rows come from: an array, vector files, parquet files or a
``ray.data.Dataset``, each cut into the contiguous row ranges of the shards (rows in source
order, so row i gets id i as in one index). Only what a shard must read travels to it: a slice
of the array, (path, start, stop) slices of the files, or a piece of the dataset.
"""
from __future__ import annotations

import os
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .. import io as qio
from .._checks import as_float_matrix
from ..index.base import Index
from ..index.factory import index_factory
from .core import shard_bounds
from .shard import FileSlice, file_shape

#: An index_factory description, or a callable dim -> empty index.
Factory = Union[str, Callable[[int], Index[Any]]]

_FILE_EXTENSIONS = (".npy", ".fvecs", ".fbin", ".parquet")


class SourcePlan(NamedTuple):
    """The rows of every shard: ``payloads[s]`` = (kind, payload) for ``Shard.load_rows``;
    ``dim`` None when only reading tells (a dataset)."""
    dim: Optional[int]
    payloads: List[Tuple[str, Any]]
    column: Optional[str]


def make_empty(factory: Factory, dim: int, metric: str) -> Index[Any]:
    """A new empty index from ``factory``."""
    if isinstance(factory, str):
        return index_factory(dim, factory, metric)
    if not callable(factory):
        raise TypeError(f"factory must be an index_factory description or a callable "
                        f"dim -> index; got {type(factory).__name__}")
    index = factory(dim)
    if not isinstance(index, Index):
        raise TypeError(f"factory({dim}) must return a qvec index; got "
                        f"{type(index).__name__}")
    if len(index):
        raise ValueError(f"factory({dim}) must return an empty index; it holds {len(index)}")
    return index


def plan_source(source: Any, num_shards: int, column: Optional[str]) -> SourcePlan:
    """Cuts ``source`` into ``num_shards`` contiguous row ranges (see the module docstring)."""
    if isinstance(source, (str, os.PathLike)):
        raise TypeError("source must be a list of paths (one path: pass [path])")
    if _is_dataset(source):
        return _plan_dataset(source, num_shards, column)
    if isinstance(source, (list, tuple)) and source and all(
            isinstance(p, (str, os.PathLike)) for p in source):
        return _plan_files([os.fspath(p) for p in source], num_shards, column)
    if isinstance(source, (list, tuple)) and not source:
        raise ValueError("source is an empty list")
    if isinstance(source, (list, tuple)) and any(isinstance(p, (str, os.PathLike))
                                                 for p in source):
        raise TypeError("source must be a list of paths, an array or a ray.data.Dataset; "
                        "got a list that mixes paths and other values")
    if column is not None:
        raise ValueError("column= applies to Dataset and parquet sources only")
    x = as_float_matrix(source, "source")
    bounds = shard_bounds(x.shape[0], num_shards)
    return SourcePlan(x.shape[1], [("array", x[bounds[s]:bounds[s + 1]])
                                   for s in range(num_shards)], None)


def _is_dataset(source: Any) -> bool:
    try:
        import ray.data  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return False
    return isinstance(source, ray.data.Dataset)


def _plan_dataset(dataset: Any, num_shards: int, column: Optional[str]) -> SourcePlan:
    import ray.data

    n = int(dataset.count())
    bounds = shard_bounds(n, num_shards)
    # Row i must get id i: split in the dataset's own order, not in block completion order.
    options = ray.data.DataContext.get_current().execution_options
    preserve, options.preserve_order = options.preserve_order, True
    try:
        pieces = dataset.split_at_indices([int(b) for b in bounds[1:-1]])
    finally:
        options.preserve_order = preserve
    return SourcePlan(None, [("dataset", piece) for piece in pieces], column)


def _plan_files(paths: Sequence[str], num_shards: int, column: Optional[str]) -> SourcePlan:
    exts = {os.path.splitext(p)[1].lower() for p in paths}
    bad = sorted(exts - set(_FILE_EXTENSIONS))
    if bad:
        raise ValueError(f"source files must be {', '.join(_FILE_EXTENSIONS)} or .parquet; "
                         f"got {', '.join(bad)}")
    if column is not None and ".parquet" not in exts:
        raise ValueError("column= applies to Dataset and parquet sources only")
    sizes, dim = [], None
    for path in paths:
        n, d = file_shape(path, column)             # the header only
        if dim is not None and d != dim:
            raise ValueError(f"{path} holds vectors of dim {d}; {paths[0]} of dim {dim}")
        sizes.append(n)
        dim = d
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    bounds = shard_bounds(int(starts[-1]), num_shards)
    payloads = [("files", file_slices(paths, starts, int(bounds[s]), int(bounds[s + 1])))
                for s in range(num_shards)]
    return SourcePlan(dim, payloads, column)


def file_slices(paths: Sequence[str], starts: np.ndarray, a: int, b: int) -> List[FileSlice]:
    """The (path, first, end) slices that hold global rows [a, b) of files whose first global
    rows are ``starts`` (with the total row count last)."""
    out: List[FileSlice] = []
    for f, path in enumerate(paths):
        lo, hi = max(a, int(starts[f])), min(b, int(starts[f + 1]))
        if lo < hi:
            out.append((path, lo - int(starts[f]), hi - int(starts[f])))
    return out
