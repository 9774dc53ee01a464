"""Int8 scalar quantization in sentence-transformers' convention: fit ranges, encode, decode,
and search int8 codes (asymmetric: float queries; symmetric: int8 query codes)."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._checks import (FloatMatrix, SearchResult, as_float_matrix, as_queries, check_int,
                      check_k, check_matrix_shape, check_metric, core_metric, normalized,
                      one_row)
from ._errors import NotTrainedError

__all__ = ["ScalarQuantizer", "as_int8_codes", "RANGES"]

#: The ways :class:`ScalarQuantizer` gets its calibration ranges besides a (2, dim) array.
RANGES = ("minmax", "quantile")
#: Largest dimension (int8 dot products of that many terms stay exact in int32).
MAX_DIM: int = int(_core.SQ8_MAX_DIM)

Int8Matrix = npt.NDArray[np.int8]
Ranges = Union[None, str, npt.ArrayLike]


def as_int8_codes(codes: npt.ArrayLike, name: str, dim: Optional[int] = None) -> Int8Matrix:
    """Returns codes as C-contiguous int8 (n, dim). Accepts sentence-transformers' "int8" codes
    as they are and its "uint8" codes (the same buckets, offset by 128) converted; a 1-D code is
    a ValueError (reshape(1, -1))."""
    shape = f"(n, {dim if dim is not None else 'dim'})"
    if codes is None:
        raise TypeError(f"{name} must be int8 (or uint8) codes of shape {shape}; got None")
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype not in (np.int8, np.uint8):
        raise TypeError(f"{name} must be int8 (or uint8) codes of shape {shape}; got "
                        f"{arr.dtype} {tuple(arr.shape)}")
    check_matrix_shape(arr, name, "int8 (or uint8)", shape, dim, "dimension", "code")
    if arr.dtype == np.uint8:  # uint8 bucket u is int8 code u - 128, i.e. the top bit flipped
        arr = (arr ^ np.uint8(0x80)).view(np.int8)
    out: Int8Matrix = np.ascontiguousarray(arr)
    return out


class ScalarQuantizer:
    """Int8 scalar quantizer: every dimension's calibration range ``[lo, hi]`` is cut into 255
    steps, exactly as sentence-transformers' ``quantize_embeddings(x, precision="int8",
    ranges=ranges)`` does::

        step = (hi - lo) / 255   (float32; 1 where hi == lo)
        code = clip(floor((x - lo) / step), 0, 255) - 128      int8
        decode(code) = lo + (code + 128) * step

    so its codes (and its "uint8" codes, which are ``code + 128``) decode and search here as
    codes from :meth:`encode` do.

    Args:
        dim: vector dimension, 1 .. ``MAX_DIM``.
        bits: bits per dimension; 8 (the only value).
        metric: "l2" (squared distances to the decoded vectors, smallest first), "ip" (inner
            products, largest first) or "cosine" (the quantizer normalizes a copy of every
            vector it fits, encodes or searches with and scores by inner product).
        ranges: None or "minmax" (:meth:`fit` takes each dimension's minimum and maximum, as
            sentence-transformers' calibration does), "quantile" (:meth:`fit` takes the
            ``quantile`` and ``1 - quantile`` quantiles, robust to outliers: values beyond are
            clipped to the end codes), or a (2, dim) array (row 0 minima, row 1 maxima; the
            quantizer is then ready without fit).
        quantile: the lower quantile of ``ranges="quantile"``, in [0, 0.5).

    Example:
        >>> sq = qvec.ScalarQuantizer(384, metric="ip").fit(corpus)
        >>> codes = sq.encode(corpus)                    # int8 (n, 384)
        >>> dist, ids = sq.search(queries, codes, k=10)  # float queries, exact to the codes
    """

    def __init__(self, dim: int, bits: int = 8, metric: str = "l2", ranges: Ranges = None,
                 quantile: float = 0.001) -> None:
        dim = check_int(dim, "dim")
        if dim > MAX_DIM:
            raise ValueError(f"dim must be <= {MAX_DIM}; got {dim}")
        if check_int(bits, "bits") != 8:
            raise ValueError(f"bits must be 8 (int8 codes); got {bits}")
        self._metric = check_metric(metric, allow_cosine=True)
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) \
                or not 0.0 <= float(quantile) < 0.5:
            raise ValueError(f"quantile must be a number in [0, 0.5); got {quantile!r}")
        self._quantile = float(quantile)
        self._sq = _core.ScalarQuantizer(dim, core_metric(self._metric))
        self._mode = "minmax"
        if ranges is None or isinstance(ranges, str):
            mode = "minmax" if ranges is None else ranges.lower()
            if mode not in RANGES:
                raise ValueError(f"ranges must be None, one of {RANGES} or a (2, {dim}) array; "
                                 f"got {ranges!r}")
            self._mode = mode
        else:
            self.ranges = ranges

    # -- parameters ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._sq.dim)

    @property
    def bits(self) -> int:
        """Bits per dimension (8)."""
        return 8

    @property
    def code_size(self) -> int:
        """Bytes per code (one int8 per dimension)."""
        return self.dim

    @property
    def metric(self) -> str:
        """"l2", "ip" or "cosine"."""
        return self._metric

    @property
    def is_trained(self) -> bool:
        """True once the ranges are set (by fit or given)."""
        return bool(self._sq.is_trained)

    @property
    def ranges(self) -> FloatMatrix:
        """float32 (2, dim): row 0 the minima, row 1 the maxima (sentence-transformers'
        ``ranges``). Assigning a (2, dim) array sets them."""
        self._require_trained()
        out: FloatMatrix = self._sq.get_ranges()
        return out

    @ranges.setter
    def ranges(self, value: npt.ArrayLike) -> None:
        arr = np.asarray(value)
        if arr.ndim != 2 or arr.shape != (2, self.dim) or arr.dtype.kind not in "fiu":
            raise ValueError(f"ranges must be a real array of shape (2, {self.dim}); got "
                             f"{arr.dtype} {tuple(arr.shape)}")
        self._sq.set_ranges(np.ascontiguousarray(arr, dtype=np.float32))

    # -- training -----------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike) -> "ScalarQuantizer":
        """Sets the ranges from (n, dim) calibration vectors (n >= 2 for "minmax" as
        sentence-transformers requires; the quantile mode as numpy.quantile computes it)."""
        data = self._prepare(as_float_matrix(x, "x", self.dim))
        if data.shape[0] < 2:
            raise ValueError("fit needs at least 2 calibration vectors; got 1")
        if self._mode == "minmax":
            self._sq.train_minmax(data)
        else:
            q = self._quantile
            self._sq.set_ranges(np.quantile(data, [q, 1.0 - q], axis=0).astype(np.float32))
        return self

    def train(self, x: npt.ArrayLike) -> "ScalarQuantizer":
        """Alias of :meth:`fit`."""
        return self.fit(x)

    # -- codes --------------------------------------------------------------------------------
    def encode(self, x: npt.ArrayLike) -> Int8Matrix:
        """int8 (n, dim) codes of (n, dim) vectors."""
        self._require_trained()
        out: Int8Matrix = self._sq.encode(self._prepare(as_float_matrix(x, "x", self.dim)))
        return out

    def decode(self, codes: npt.ArrayLike) -> FloatMatrix:
        """float32 (n, dim) reconstructions ``lo + (code + 128) * step`` of int8 (or
        sentence-transformers' uint8) codes."""
        self._require_trained()
        out: FloatMatrix = self._sq.decode(as_int8_codes(codes, "codes", self.dim))
        return out

    def pack(self, codes: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """The codes in the scan layout (docs/FORMAT.md, "sq8 scan layout"): what
        :meth:`search_packed` and ``_core.Sq8Queries`` range searches read."""
        self._require_trained()
        out: npt.NDArray[np.uint8] = self._sq.pack(as_int8_codes(codes, "codes", self.dim))
        return out

    # -- search -------------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, codes: npt.ArrayLike, k: int) -> SearchResult:
        """Asymmetric search: float queries against the decoded codes, exact to float32
        rounding.

        Returns (distances float32 (nq, k), ids int64 (nq, k)), best first: squared distances
        (smallest first) for "l2", inner products (largest first) for "ip" and "cosine"; ties
        to the smaller id; k > n pads with id -1 and +inf / -inf; shape (k,) each for a 1-D
        query.
        """
        self._require_trained()
        k = check_k(k)
        q, single = as_queries(queries, "queries", self.dim)
        result: SearchResult = self._sq.search(self._prepare(q),
                                               as_int8_codes(codes, "codes", self.dim), k)
        return one_row(result, single)

    def search_packed(self, queries: npt.ArrayLike, packed: npt.NDArray[np.uint8], n: int,
                      k: int) -> SearchResult:
        """:meth:`search` on the first ``n`` codes of :meth:`pack`'s output."""
        self._require_trained()
        k = check_k(k)
        q, single = as_queries(queries, "queries", self.dim)
        result: SearchResult = self._sq.search_packed(self._prepare(q), packed,
                                                      check_int(n, "n"), k)
        return one_row(result, single)

    def search_symmetric(self, query_codes: npt.ArrayLike, codes: npt.ArrayLike,
                         k: int) -> SearchResult:
        """Symmetric search: int8 query codes against int8 codes, scored on the codes as
        integer vectors (as usearch's "i8" metric and sentence-transformers' int8 search do):
        the exact squared distance of the codes for "l2" (smallest first), their exact dot
        product for "ip" and "cosine" (largest first). Needs no ranges. Returns float32
        distances and int64 ids of shape (nq, k), ties to the smaller id.
        """
        k = check_k(k)
        arr = query_codes if isinstance(query_codes, np.ndarray) else np.asarray(query_codes)
        single = arr.ndim == 1
        qc = as_int8_codes(arr.reshape(1, -1) if single else arr, "query_codes", self.dim)
        metric = core_metric(self._metric)
        d, i = _core.sq8_search_symmetric(qc, as_int8_codes(codes, "codes", self.dim), metric, k)
        if metric == "ip":
            d = -d
        return one_row((d, i), single)

    # -- pickling -----------------------------------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        return {"dim": self.dim, "metric": self.metric, "mode": self._mode,
                "quantile": self._quantile,
                "ranges": self.ranges if self.is_trained else None}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["dim"], 8, state["metric"], state["mode"],  # type: ignore[misc]
                      state["quantile"])
        if state["ranges"] is not None:
            self.ranges = state["ranges"]

    def __repr__(self) -> str:
        return (f"ScalarQuantizer(dim={self.dim}, bits=8, metric={self.metric!r}, "
                f"trained={self.is_trained})")

    def _prepare(self, x: FloatMatrix) -> FloatMatrix:
        return normalized(x) if self._metric == "cosine" else x

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError("this ScalarQuantizer has no ranges: call fit(x) or pass "
                                  "ranges=")
