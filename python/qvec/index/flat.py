"""FlatIndex: the float32 vectors themselves, searched exactly."""
from __future__ import annotations

from typing import Dict, Optional, Tuple, cast

import numpy as np

# (the type checker needs python/qvec/_core.pyi to see _core; until then it is ignored)
from .. import _core  # type: ignore[attr-defined, unused-ignore]
from .._checks import check_int
from .base import FloatArray, Index, State
from .ids import IdArray
from .storage import Array


class FlatIndex(Index[None]):
    """Exact search over the stored float32 vectors.

    Args:
        dim: vector dimension.
        metric: "l2" (squared distances), "ip" (inner products) or "cosine" (vectors and
            queries normalized to unit length; cosine similarities, largest first).

    Safe to search from many threads while others add or remove (see :mod:`qvec.index.base`).

    Example:
        >>> index = qvec.FlatIndex(128, "l2")
        >>> index.add(base)
        >>> dist, ids = index.search(queries, k=10)
    """

    kind = "flat"
    _exact = True
    _filterable = True

    def __init__(self, dim: int, metric: str = "l2") -> None:
        dim = check_int(dim, "dim")
        super().__init__(dim, metric, None,
                         {"vectors": (np.dtype(np.float32), (dim,))})

    def _encode(self, model: None, x: FloatArray) -> Dict[str, Array]:
        return {"vectors": np.array(x)}

    def _search_rows(self, state: State[None], queries: FloatArray, k: int,
                     filter: Optional["_core.IdFilter"] = None) -> Tuple[FloatArray, IdArray]:
        # queries are checked by search(); stored vectors were checked when added
        dist: FloatArray
        rows: IdArray
        vectors = cast(FloatArray, state.rows.get("vectors"))
        dist, rows = _core.exact_search(queries, vectors, k, self._codec_metric, filter)
        return dist, rows

    def _describe(self) -> str:
        return f"dim={self._dim}, metric={self._metric!r}"
