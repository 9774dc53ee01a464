"""HammingIndex: packed binary codes that you bring (faiss ``IndexBinaryFlat``), searched
exactly by Hamming distance."""
from __future__ import annotations

from typing import Any, Dict, Tuple, cast

import numpy as np
import numpy.typing as npt

from .._checks import as_codes, check_int
from ..binary import hamming_search
from .base import FloatArray, Index, State
from .ids import IdArray
from .storage import Array

_PACKED = "uint8 packed bits (numpy.packbits(bits, axis=1))"


class HammingIndex(Index[None]):
    """Exact Hamming search over packed binary codes (the codes are the vectors: nothing is
    trained or encoded). The qvec counterpart of faiss ``IndexBinaryFlat``.

    Args:
        dim: bits per code, a multiple of 8; codes are uint8 (n, dim // 8), packed as
            ``numpy.packbits(bits, axis=1)``.

    ``add(codes, ids=None)`` and ``search(query_codes, k)`` take packed codes in place of float
    vectors; distances come back as float32 counts of differing bits (smallest first, ties to
    the smaller row), like every index search. ``metric`` is "hamming".

    Example:
        >>> index = qvec.HammingIndex(256)
        >>> index.add(np.packbits(base > 0, axis=1))
        >>> dist, ids = index.search(np.packbits(queries > 0, axis=1), k=10)
    """

    kind = "hamming"
    _exact = True

    def __init__(self, dim: int) -> None:
        dim = check_int(dim, "dim")
        if dim % 8:
            raise ValueError(f"dim (bits per code) must be a multiple of 8; got {dim}")
        self._nbytes = dim // 8
        # metric "l2" underneath: smallest distance first and +inf padding, as Hamming needs
        super().__init__(dim, "l2", None, {"codes": (np.dtype(np.uint8), (self._nbytes,))})

    @property
    def metric(self) -> str:
        return "hamming"

    @property
    def code_size(self) -> int:
        """Bytes per code (dim // 8)."""
        return self._nbytes

    @property
    def codes(self) -> npt.NDArray[np.uint8]:
        """The stored codes, uint8 (n, code_size), in row order (read-only view when mapped)."""
        return cast(npt.NDArray[np.uint8], self._state.rows.get("codes"))

    def _input_rows(self, x: Any, name: str) -> FloatArray:
        # The rows are packed codes, not floats; the codes flow through as they are.
        return cast(FloatArray, as_codes(x, name, self._nbytes, kind=_PACKED))

    def _encode(self, model: None, x: FloatArray) -> Dict[str, Array]:
        return {"codes": np.array(x)}

    def _search_rows(self, state: State[None], queries: FloatArray,
                     k: int) -> Tuple[FloatArray, IdArray]:
        counts, rows = hamming_search(queries, state.rows.get("codes"), k)
        dist = counts.astype(np.float32)
        dist[rows < 0] = np.inf
        return dist, rows

    def _describe(self) -> str:
        return f"dim={self._dim}"
