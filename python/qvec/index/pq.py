"""PQIndex: product-quantization codes (8-bit, or 4-bit fast-scan), optionally with the
float32 vectors for exact re-ranking."""
from __future__ import annotations

from typing import Dict, Optional, Tuple, cast

import numpy as np
import numpy.typing as npt

from .._checks import check_int
from ..fastscan import FastScanCodes
from ..pq import ProductQuantizer
from .base import FloatArray, Index, State, check_index_metric, codec_metric
from .ids import IdArray
from .storage import Array


def code_size(m: int, nbits: int) -> int:
    """Bytes per code: ceil(m * nbits / 8), i.e. m for nbits=8 and ceil(m / 2) for nbits=4
    (ProductQuantizer.encode)."""
    return (m * nbits + 7) // 8


class PQIndex(Index[Optional[ProductQuantizer]]):
    """Product-quantized codes (``m`` subquantizers of ``nbits`` bits), searched by
    asymmetric distance; optionally keeps the float32 vectors for exact re-ranking.

    Args:
        dim: vector dimension; ``m`` must divide it.
        m: subquantizers; code size is ceil(m * nbits / 8) bytes (m for nbits=8).
        nbits: 1..8 (see :class:`qvec.ProductQuantizer`; 4 and below are fast-scan codes).
        metric: "l2", "ip" or "cosine" (unit-normalized vectors and queries, searched by
            inner product; cosine similarities, largest first).
        keep_vectors: also store the float32 vectors, so ``search(..., rerank=k')`` can
            re-rank the best k' candidates with exact distances.

    ``fit`` trains a new quantizer and is refused (ValueError) once the index holds vectors:
    their codes belong to the old codebooks. Searches are safe beside adds and removes from
    other threads (copy-on-write states, see :mod:`qvec.index.base`).

    Example:
        >>> index = qvec.PQIndex(128, m=16, metric="l2", keep_vectors=True)
        >>> index.fit(base[:50_000]); index.add(base)
        >>> dist, ids = index.search(queries, k=10, rerank=100)
    """

    kind = "pq"
    _filterable = True

    def __init__(self, dim: int, m: int, nbits: int = 8, metric: str = "l2",
                 keep_vectors: bool = False) -> None:
        dim = check_int(dim, "dim")
        m = check_int(m, "m")
        nbits = check_int(nbits, "nbits")
        metric = check_index_metric(metric)
        # the quantizer validates (dim, m, nbits)
        model = self._quantizer(dim, m, nbits, codec_metric(metric))
        self._setup(dim, m, nbits, metric, keep_vectors, model)

    def _setup(self, dim: int, m: int, nbits: int, metric: str, keep_vectors: bool,
               model: Optional[ProductQuantizer]) -> None:
        self._m, self._nbits, self._keep = m, nbits, bool(keep_vectors)
        templates: Dict[str, Tuple[np.dtype, Tuple[int, ...]]] = {
            "codes": (np.dtype(np.uint8), (code_size(m, nbits),))}
        if self._keep:
            templates["vectors"] = (np.dtype(np.float32), (dim,))
        super().__init__(dim, metric, model, templates)

    @classmethod
    def _unbuilt(cls, dim: int, m: int, nbits: int, metric: str,
                 keep_vectors: bool) -> "PQIndex":
        """An untrained index whose quantizer is built on first use (loading an untrained
        file then allocates nothing, whatever its ``dim``). The caller validated the
        parameters."""
        index = cls.__new__(cls)
        index._setup(dim, m, nbits, metric, keep_vectors, None)
        return index

    @staticmethod
    def _quantizer(dim: int, m: int, nbits: int, metric: str) -> ProductQuantizer:
        """A new, untrained quantizer of this index's kind (OPQIndex: with a rotation)."""
        return ProductQuantizer(dim, m, nbits, metric)

    # -- parameters ------------------------------------------------------------------------
    @property
    def pq(self) -> ProductQuantizer:
        """The current quantizer (shared, not a copy; :meth:`fit` replaces it with a new one).
        Setting its codebooks directly bypasses the check that protects stored codes."""
        model = self._state.model
        if model is None:
            with self._lock:
                state = self._state
                model = state.model
                if model is None:
                    model = self._quantizer(self._dim, self._m, self._nbits,
                                            self._codec_metric)
                    self._state = State(model, state.rows, state.idmap)
        return model

    @property
    def m(self) -> int:
        return self._m

    @property
    def nbits(self) -> int:
        return self._nbits

    @property
    def code_size(self) -> int:
        return code_size(self._m, self._nbits)

    @property
    def codes(self) -> npt.NDArray[np.uint8]:
        """The stored codes, uint8 (n, code_size), in row order (read-only view when mapped)."""
        return cast(npt.NDArray[np.uint8], self._state.rows.get("codes"))

    def _model_trained(self, model: Optional[ProductQuantizer]) -> bool:
        return model is not None and model.is_trained

    # -- training --------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False, iters: int = 25) -> "PQIndex":
        """Trains new codebooks (see :meth:`ProductQuantizer.fit`: at most ``max_train``
        vectors, None meaning 256 * 2**nbits, k-means with ``iters`` iterations); returns
        self. Raises ValueError if the index holds vectors."""
        def train() -> ProductQuantizer:
            pq = self._quantizer(self._dim, self._m, self._nbits, self._codec_metric)
            return pq.fit(self._fit_input(x), iters=iters, seed=seed, max_train=max_train, verbose=verbose)

        self._install_model(train)
        return self

    def train(  # type: ignore[override]  # the 0.1.0 positional signature
            self, x: npt.ArrayLike, iters: int = 25, seed: int = 0,
            max_train: Optional[int] = None, verbose: bool = False) -> "PQIndex":
        """Alias of :meth:`fit` (with its 0.1.0 signature)."""
        return self.fit(x, seed=seed, max_train=max_train, verbose=verbose, iters=iters)

    # -- codec -----------------------------------------------------------------------------
    def _encode(self, model: Optional[ProductQuantizer], x: FloatArray) -> Dict[str, Array]:
        assert model is not None       # add() checked that the index is trained
        out: Dict[str, Array] = {"codes": model.encode(x)}
        if self._keep:
            out["vectors"] = np.array(x)
        return out

    def _search_rows(self, state: State[Optional[ProductQuantizer]], queries: FloatArray,
                     k: int, filter: object = None) -> Tuple[FloatArray, IdArray]:
        model = state.model
        assert model is not None       # search() checked that the index is trained
        codes = state.rows.get("codes")
        if isinstance(codes, np.memmap):
            # Packing would read mapped codes into memory; search them as they lie instead.
            return model.search(queries, codes, k, filter=filter)
        # The scan layout is built once per state (any add or remove makes a new one), so a
        # stream of small query batches does not rearrange the codes every time.
        packed: Optional[FastScanCodes] = state.memo.get("packed")
        if packed is None:
            packed = state.memo.setdefault("packed", model.pack(codes))
        return model.search(queries, packed, k, filter=filter)

    def _describe(self) -> str:
        return (f"dim={self._dim}, m={self._m}, nbits={self._nbits}, metric={self._metric!r}, "
                f"keep_vectors={self._keep}")
