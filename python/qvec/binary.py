"""Binary codes: Hamming search on packed bits, and a binary quantizer with asymmetric search."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core, cuda
from .cuda import gpu_device
from ._checks import (ROTATIONS, ByteMatrix, FloatMatrix, IdMatrix, Rotation, SearchResult,
                      as_codes, as_float_matrix, as_packed_bits, as_queries, as_query_bits,
                      check_int, check_k, check_metric, check_rotate, core_metric, normalized,
                      one_row)
from ._errors import NotTrainedError
from ._progress import progress_callback

__all__ = ["BIT_ORDER", "BinaryCodes", "BinaryQuantizer", "DEFAULT_PRUNE_EPS", "hamming_distances", "hamming_search", "MAX_BITS",
           "MAX_QUERY_BITS", "METHODS", "ROTATIONS"]

#: How a :class:`BinaryQuantizer` builds codes of ``bits`` > 1 levels.
METHODS = ("residual", "extended")

# Per-vector floats before the per-level scales: ||x_r||^2, <x - mean, mean>, rho.
_FIXED_FACTORS: int = int(_core.BINARY_FIXED_FACTORS)

#: Largest ``bits`` of a BinaryQuantizer (the core's limit).
MAX_BITS: int = int(_core.BINARY_MAX_BITS)
#: The default ``eps`` of the pruned extended-RaBitQ search (RaBitQ's and rabitqlib's).
DEFAULT_PRUNE_EPS = 1.9
#: Largest ``query_bits`` of an asymmetric search (the core's limit).
MAX_QUERY_BITS: int = int(_core.BINARY_MAX_QUERY_BITS)
#: Hamming search: (distances int32 (nq, k), ids int64 (nq, k)).
HammingResult = Tuple[npt.NDArray[np.int32], IdMatrix]
#: How the Hamming entry points read packed bits, which is ``numpy.packbits(bits, axis=1)``'s
#: order (and sentence-transformers' "ubinary" / "binary" precisions, which call it): bit j of
#: a vector is bit ``7 - j % 8`` (the most significant first) of byte ``j // 8``; a dimension
#: that is not a multiple of 8 is padded with zero bits at the end of the last byte, so codes
#: of ``dim`` bits are ``ceil(dim / 8)`` bytes and the padding never adds to a distance. int8
#: codes ("binary": ``packbits(x > 0) - 128`` stored as int8) are the same bytes with the top
#: bit flipped; they are flipped back, so a distance between an int8 and a uint8 code is the
#: distance of their bits.
BIT_ORDER = "numpy.packbits, big-endian within each byte, zero padding at the end"
_PACKED = ("uint8 packed bits (numpy.packbits(bits, axis=1)), or int8 packed bits - 128 "
           "(sentence-transformers' \"binary\")")


def _as_packed(codes: Union[npt.ArrayLike, BinaryCodes], name: str,
               nbytes: Optional[int] = None) -> ByteMatrix:
    """Returns packed codes (or a BinaryCodes' bits) as C-contiguous uint8 (n, nbytes)."""
    if isinstance(codes, BinaryCodes):
        codes = codes.codes
    return as_packed_bits(codes, name, nbytes, kind=_PACKED)


def hamming_distances(a: Union[npt.ArrayLike, BinaryCodes],
                      b: Union[npt.ArrayLike, BinaryCodes]) -> npt.NDArray[np.int32]:
    """All pairwise Hamming distances between two sets of packed codes.

    Args:
        a: uint8 (na, nbytes), bits packed as ``numpy.packbits(bits, axis=1)``, or one code as
            a 1-D (nbytes,) array; any nbytes >= 1 (not only multiples of 8 or 64). Also int8
            codes in sentence-transformers' "binary" precision (``packbits - 128``); see
            :data:`BIT_ORDER`.
        b: uint8 (nb, nbytes) (or int8 "binary"), same nbytes.

    Returns:
        int32 (na, nb): ``out[i, j]`` = number of differing bits between ``a[i]`` and ``b[j]``;
        (nb,) for a 1-D ``a``.
    """
    if isinstance(a, BinaryCodes):
        a = a.codes
    left, single = as_query_bits(a, "a", kind=_PACKED)
    out = _core.hamming_distances(left, _as_packed(b, "b", left.shape[1]))
    return out[0] if single else out


def default_query_bits(bits: int) -> int:
    """query_bits of a search that names none: the query finer than the codes."""
    return 4 if bits == 1 else 8


def hamming_search(query_codes: Union[npt.ArrayLike, BinaryCodes],
                   codes: Union[npt.ArrayLike, BinaryCodes], k: int,
                   device: str = "cpu") -> HammingResult:
    """k nearest codes by Hamming distance (bring your own bits).

    The one search in qvec whose distances are not float32: Hamming distances are counts, so
    they come back as int32.

    Args:
        query_codes: uint8 (nq, nbytes), bits packed as ``numpy.packbits(bits, axis=1)``, or
            one query code as a 1-D (nbytes,) array; any nbytes >= 1 (not only multiples of 8
            or 64).
        codes: uint8 (n, nbytes), same nbytes. Either argument may be int8 codes in
            sentence-transformers' "binary" precision (``packbits - 128``); see
            :data:`BIT_ORDER`.
        k: neighbours per query, 1 <= k <= ``qvec.MAX_K``.

    Returns:
        (distances int32 (nq, k), ids int64 (nq, k)), smallest distance first, ties to the
        smaller id; when k > n the missing slots hold id -1 and distance 2**31 - 1; shape (k,)
        each for a 1-D query code. Runs on all threads with the GIL released.
        device: "cpu", or "cuda" / "cuda:N" (:mod:`qvec.cuda`; the same results).
    """
    k = check_k(k)
    gpu = gpu_device(device)
    if isinstance(query_codes, BinaryCodes):
        query_codes = query_codes.codes
    qcodes, single = as_query_bits(query_codes, "query_codes", kind=_PACKED)
    packed = _as_packed(codes, "codes", qcodes.shape[1])
    result: HammingResult = (_core.hamming_search(qcodes, packed, k) if gpu is None
                             else cuda.hamming_search(qcodes, packed, k, gpu))
    return one_row(result, single)


class BinaryCodes:
    """Vectors encoded by a :class:`BinaryQuantizer`: the packed bits and the per-vector
    factors the estimators need.

    Attributes:
        codes: uint8 (n, bits * ceil(dim / 8)); level l of vector i is
            ``codes[i, l * nb:(l + 1) * nb]`` with ``nb = ceil(dim / 8)``, packed as
            ``numpy.packbits``. Level 0 holds the sign bits (bit 1 for a positive coordinate of
            the centred, rotated vector), so ``codes[:, :nb]`` is a plain sign-bit code usable
            with :func:`hamming_search`.
        factors: float32 (n, 3 + bits): ``[||x_r||^2, <x - mean, mean>, rho, alpha_0, ...,
            alpha_{bits-1}]`` where ``alpha_l`` is the least-squares scale of level l and ``rho`` the correction
            that makes the inner-product estimate unbiased.
        sign_dots: float32 (n,) or None: ``||x_r||_1`` of each vector, the 1-bit factor that
            lets the search of extended codes prune with the sign bits first (encode writes it
            for method="extended"; without it that search scores every code).

    Supports ``len()`` and row selection (``codes[10:20]``, ``codes[ids]``).
    """

    codes: ByteMatrix
    factors: FloatMatrix
    sign_dots: Optional[npt.NDArray[np.float32]]

    def __init__(self, codes: npt.ArrayLike, factors: npt.ArrayLike,
                 sign_dots: Optional[npt.ArrayLike] = None) -> None:
        factors_arr = np.asarray(factors)
        if factors_arr.ndim != 2 or factors_arr.shape[1] < _FIXED_FACTORS + 1:
            raise ValueError(f"factors must be float32 of shape (n, 3 + bits); got "
                             f"{tuple(factors_arr.shape)}")
        bits = factors_arr.shape[1] - _FIXED_FACTORS
        # Quantizer codes, not bring-your-own bits: no int8 "binary" convention here.
        codes_arr = as_codes(codes, "codes",
                             kind="uint8 packed bits (numpy.packbits(bits, axis=1))")
        if codes_arr.shape[1] % bits != 0:
            raise ValueError(f"codes has {codes_arr.shape[1]} bytes per vector, not a multiple of "
                             f"bits = {bits} (from factors)")
        self.codes = codes_arr
        self.factors = as_float_matrix(factors_arr, "factors")
        if self.factors.shape[0] != self.codes.shape[0]:
            raise ValueError(f"codes and factors must have the same number of rows; got "
                             f"{self.codes.shape[0]} and {self.factors.shape[0]}")
        self.sign_dots = None
        if sign_dots is not None:
            dots = np.ascontiguousarray(sign_dots, dtype=np.float32)
            if dots.shape != (self.codes.shape[0],):
                raise ValueError(f"sign_dots must have shape ({self.codes.shape[0]},); got "
                                 f"{tuple(dots.shape)}")
            self.sign_dots = dots

    @property
    def bits(self) -> int:
        """Levels per coordinate."""
        return int(self.factors.shape[1]) - _FIXED_FACTORS

    @property
    def shape(self) -> Tuple[int, int]:
        """(n, bytes of packed bits per vector), as ``codes.shape``."""
        return int(self.codes.shape[0]), int(self.codes.shape[1])

    @property
    def nbytes(self) -> int:
        """Memory held: packed bits plus the float32 factors."""
        extra = 0 if self.sign_dots is None else self.sign_dots.nbytes
        return int(self.codes.nbytes + self.factors.nbytes + extra)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, rows: Any) -> BinaryCodes:
        codes, factors = self.codes[rows], self.factors[rows]
        dots = None if self.sign_dots is None else self.sign_dots[rows]
        if codes.ndim == 1:
            codes, factors = codes[None], factors[None]
            dots = None if dots is None else np.atleast_1d(dots)
        return BinaryCodes(codes, factors, dots)

    def __repr__(self) -> str:
        return f"BinaryCodes(n={len(self)}, bits={self.bits}, bytes={self.codes.shape[1]})"

    def __getstate__(self) -> Dict[str, Any]:
        """Row-aligned arrays: {"codes": uint8 (n, code_size), "factors": float32 (n, 3 + bits),
        "sign_dots": float32 (n,) or None}."""
        return {"codes": self.codes, "factors": self.factors, "sign_dots": self.sign_dots}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["codes"], state["factors"],  # type: ignore[misc]
                      state.get("sign_dots"))


class BinaryQuantizer:
    """Binary quantizer: centre, optionally rotate, keep the sign bits, and (bits > 1) add
    further levels, either binarizing the residual again at each one ("residual") or as
    extended RaBitQ ("extended").

    With ``x_r = (x - mean) @ R``, level 0 stores the sign bits ``b_0 = [x_r > 0]``, and with a
    scale per level and vector ``x ~= mean + (sum_l alpha_l * (2 b_l - 1)) @ R.T``.
    method="residual": level l stores the signs of what the previous levels left, with a
    least-squares scale (training-free recurrent binarization). method="extended" (extended
    RaBitQ, Gao et al., SIGMOD 2025): the code is the ``bits``-bit integer grid vector
    ``c - (2**bits - 1) / 2`` (``c`` in ``[0, 2**bits - 1]`` per coordinate) whose direction is
    closest to ``x_r``'s (the cosine maximized over all rescalings of ``x_r``), stored as its
    bit planes, most significant (= the sign bits) first, ``alpha_l = scale * 2**(bits - 2 - l)``.
    Both forms share the code layout, the factors and every search; at bits=1 they are the
    same code. "extended" has the lower error at bits >= 2.

    :meth:`search` is asymmetric: the float query is rotated, quantized to ``query_bits`` bits
    per coordinate, and scored against the codes with AND + popcount over its bit planes; with
    the stored per-vector factors this gives an unbiased estimate of the inner product (RaBitQ),
    far more accurate than Hamming distance at the same code size.

    Args:
        dim: vector dimension.
        bits: levels per coordinate, 1..``MAX_BITS`` (8); code size ``bits * ceil(dim / 8)``
            bytes.
        metric: "l2" (estimated squared distances, smallest first; the default of every qvec
            search), "ip" (estimated inner products, largest first) or "cosine" (estimated
            cosine similarities, largest first: the quantizer normalizes a copy of every
            vector it trains on, encodes or searches with, and scores by inner product).
            (In 0.1.0 the default was "ip".)
        rotate: None (no rotation), "random" (a seeded random orthogonal matrix) or "itq"
            (iterative quantization: a rotation learned on the training set that minimises
            the sign quantization error, started from the random one); True and False are
            accepted for "random" and None. "random" is the safe choice: the estimator is
            unbiased over random rotations. "itq" lowers the reconstruction error and helps
            with bits > 1, but a data-aligned rotation can bias the 1-bit estimate on strongly
            structured data (measure before using it).
        method: "residual" (the default, as in 0.1.0) or "extended" (extended RaBitQ; pair it
            with rotate="random", which its estimator's unbiasedness assumes). Encoding is
            slower (a search per vector over the code's scale), searching the same.

    Example:
        >>> bq = qvec.BinaryQuantizer(384, bits=1, metric="ip", rotate="random").fit(base)
        >>> codes = bq.encode(base)                           # BinaryCodes, 48 bytes/vector
        >>> dist, ids = bq.search(queries, codes, k=10)       # asymmetric estimate
        >>> _, cand = bq.search(queries, codes, k=100)        # or re-rank a 10 * k shortlist
        >>> dist, ids = qvec.rerank(queries, cand, base, k=10, metric="ip")
    """

    def __init__(self, dim: int, bits: int = 1, metric: str = "l2",
                 rotate: Rotation = None, method: str = "residual") -> None:
        dim = check_int(dim, "dim")
        bits = check_int(bits, "bits")
        if bits > MAX_BITS:
            raise ValueError(f"bits must be in [1, {MAX_BITS}]; got {bits}")
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {method!r}")
        self._rotate = check_rotate(rotate)
        self._metric = check_metric(metric, allow_cosine=True)
        self._bq = _core.BinaryQuantizer(dim, bits, core_metric(self._metric), method)

    # -- parameters ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._bq.dim

    @property
    def bits(self) -> int:
        """Levels per coordinate."""
        return self._bq.bits

    @property
    def metric(self) -> str:
        """"l2", "ip" or "cosine"."""
        return self._metric

    @property
    def method(self) -> str:
        """How codes of bits > 1 are built: "residual" or "extended"."""
        return self._bq.method

    @property
    def rotate(self) -> Optional[str]:
        """The rotation: None, "random" or "itq"."""
        return self._rotate

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector: ``bits * ceil(dim / 8)``."""
        return self._bq.code_size

    @property
    def is_trained(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self._bq.is_trained

    @property
    def mean(self) -> npt.NDArray[np.float32]:
        """Training mean, float32 (dim,)."""
        self._require_trained()
        return self._bq.get_mean()

    @property
    def rotation(self) -> Optional[FloatMatrix]:
        """Orthogonal float32 (dim, dim) applied as ``(x - mean) @ rotation``, or None."""
        self._require_trained()
        return self._bq.get_rotation()

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return (f"BinaryQuantizer(dim={self.dim}, bits={self.bits}, metric={self.metric!r}, "
                f"rotate={self.rotate!r}, method={self.method!r}, {state})")

    # -- training -----------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = 10000,
            verbose: bool = False, itq_iters: int = 20) -> BinaryQuantizer:
        """Learns the centre (training mean) and the rotation. Every option is keyword-only
        (``fit(x, 3)`` is a TypeError; write ``seed=3``).

        Args:
            x: (n, dim) training vectors.
            seed: seeds the random rotation (also ITQ's starting point) and the training
                sample, >= 0; results depend on the seed only.
            max_train: ITQ trains on at most this many vectors (a seeded sample); None: all.
                The mean is always taken over all of x.
            verbose: report the training step (tqdm if installed); the native training has
                no per-iteration progress.
            itq_iters: ITQ iterations (rotate="itq").
        Returns:
            self
        """
        seed = check_int(seed, "seed", minimum=0)
        itq_iters = check_int(itq_iters, "itq_iters")
        limit = None if max_train is None else check_int(max_train, "max_train")
        data = self._prepare(as_float_matrix(x, "x", self.dim))
        # The C++ core trains (mean, seeded random rotation, ITQ), so C++ programs train the
        # same quantizer; it reports no progress, so verbose marks the one native step.
        label = "ITQ" if self.rotate == "itq" else (self.rotate or "mean")
        progress = progress_callback(f"qvec {label} training", verbose, unit="step")
        self._bq.train(data, rotation=self.rotate or "none", seed=seed, itq_iters=itq_iters,
                       max_train=limit)
        if progress is not None:
            progress(1, 1)
        return self

    # -- codes --------------------------------------------------------------------------------
    def encode(self, x: npt.ArrayLike) -> BinaryCodes:
        """Encodes (n, dim) vectors to the codes :meth:`search` takes: :class:`BinaryCodes`
        with uint8 codes (n, bits * ceil(dim / 8)) and float32 factors (n, 3 + bits), and for
        method="extended" the sign-bit factors ``sign_dots`` (n,) of the pruned search."""
        self._require_trained()
        data = self._prepare(as_float_matrix(x, "x", self.dim))
        codes, factors = self._bq.encode(data)
        dots = (self._bq.sign_dots(data) if self.method == "extended" and self.bits > 1
                else None)
        return BinaryCodes(codes, factors, dots)

    def decode(self, codes: BinaryCodes) -> FloatMatrix:
        """Float32 (n, dim) reconstructions ``mean + (sum_l alpha_l s_l) @ R.T`` (for
        "cosine", of the normalized vectors)."""
        self._require_trained()
        checked = self._check_codes(codes, "codes")
        return self._bq.decode(checked.codes, checked.factors)

    # -- search -------------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, codes: BinaryCodes, k: int,
               query_bits: Optional[int] = None, filter: object = None,
               device: str = "cpu", exact: bool = False,
               eps: float = DEFAULT_PRUNE_EPS) -> SearchResult:
        """Asymmetric search: float queries against binary codes.

        Args:
            queries: (nq, dim) array-like, or one query as a 1-D (dim,) array.
            codes: :class:`BinaryCodes` from :meth:`encode`.
            k: neighbours per query, 1 <= k <= ``qvec.MAX_K``.
            query_bits: bits per query coordinate, 1..``MAX_QUERY_BITS`` (8), for the
                bit-plane scan of the quantized query. None on the CPU: 1-bit codes (either
                method) and method="extended" codes are scored with the float query (see
                exact, eps); otherwise (and on the GPU) None picks 4 for bits=1 and 8 for
                bits > 1 (the query must then be finer than the codes).
                At the avx512 level costs grow in steps of 4 bits (1-4 cost the same, 5-8
                twice as much); below it, with every bit.
            filter: only these ids (rows of ``codes``) may be returned: a boolean mask, an
                array of allowed ids or a range (see :mod:`qvec.index.filter`).
            device: "cpu", or "cuda" / "cuda:N" (:mod:`qvec.cuda`): the same estimator on the
                GPU, the same distances bit for bit (the codes are uploaded for this call).
            exact, eps: method="extended" codes searched with query_bits=None on the CPU are
                scored with the float (unquantized) rotated query, as extended RaBitQ does.
                With the codes' ``sign_dots`` (from :meth:`encode`) the search first takes
                each code's 1-bit estimate from its sign bits and scores the code in full only
                when that estimate minus ``eps`` times its RaBitQ error (the standard deviation
                over random rotations, see :meth:`error_bounds`, plus the 4-bit query's
                rounding) could still enter the top k. That bound holds with high probability,
                not always (eps = 1.9 is RaBitQ's choice): where it held, the result equals
                the exhaustive scan's, which exact=True runs (every code scored in full).
                Codes without ``sign_dots`` (and explicit query_bits) take the bit-plane scan
                of the quantized query. 1-bit codes (either method: they are the same) take
                the same path without ``sign_dots``: the sign-bit estimate with the 4-bit query
                is the float one up to the query's rounding, so only the rounding term is
                bounded, and the float estimate of the survivors is what is returned.

        Returns:
            (distances float32 (nq, k), ids int64 (nq, k)), best first: estimated squared
            distances (smallest first) for "l2", estimated inner products (largest first) for
            "ip", estimated cosine similarities (largest first) for "cosine"; ties to the
            smaller id; k > n pads with id -1 and +inf / -inf; shape (k,) each for a 1-D
            query. For top accuracy search ``10 * k`` and pass the ids to
            :func:`qvec.rerank` with the same metric.
        """
        self._require_trained()
        k = check_k(k)
        gpu = gpu_device(device)
        explicit_bits = query_bits
        if query_bits is None:
            query_bits = default_query_bits(self.bits)
        query_bits = check_int(query_bits, "query_bits")
        if query_bits > MAX_QUERY_BITS:
            raise ValueError(f"query_bits must be in [1, {MAX_QUERY_BITS}]; got {query_bits}")
        q, single = as_queries(queries, "queries", self.dim)
        checked = self._check_codes(codes, "codes")
        from .index.filter import id_filter   # (qvec.index imports this module)

        if not isinstance(exact, bool):
            raise TypeError(f"exact must be a bool; got {type(exact).__name__}")
        if not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be a positive number; got {eps!r}")
        one_bit = self.bits == 1
        extended = explicit_bits is None and gpu is None and (one_bit or (
            self.method == "extended" and (exact or checked.sign_dots is not None)))
        if extended:
            pruned: SearchResult = self._bq.search_extended(
                self._prepare(q), checked.codes, checked.factors,
                None if exact or one_bit else checked.sign_dots, k,
                math.inf if exact else float(eps), id_filter(filter, checked.codes.shape[0]))
            return one_row(pruned, single)
        if gpu is not None:
            if filter is not None:
                raise ValueError("filter= does not work with device='cuda' yet; search on the CPU (device='cpu')")
            return one_row(cuda.binary_search(self._bq, self._prepare(q), checked.codes,
                                              checked.factors, k, query_bits, gpu), single)
        result: SearchResult = self._bq.search(self._prepare(q), checked.codes, checked.factors,
                                               k, query_bits,
                                               id_filter(filter, checked.codes.shape[0]))
        return one_row(result, single)

    def error_bounds(self, queries: npt.ArrayLike, codes: BinaryCodes, ids: npt.ArrayLike,
                     eps: float = 1.9) -> FloatMatrix:
        """RaBitQ's error bound of the estimates :meth:`search` returns, for re-ranking
        decisions: ``|estimate - exact| <= bound`` with high probability over the random
        rotation.

        For ``x_r`` and ``q_r = (q - mean) @ R``, the estimate of ``<x_r, q_r>`` errs by
        ``||x_r|| * <e, q_r> * tan(theta)``, with theta the angle between ``x_r`` and its code and
        ``e`` a unit vector orthogonal to ``x_r``, uniformly distributed under a random
        rotation, so ``<e, q_r>`` has standard deviation ``||q_r|| / sqrt(dim - 1)`` and
        ``bound = eps * ||x_r|| * ||q_r|| * tan(theta) / sqrt(dim - 1)`` (twice that for "l2",
        whose estimate is ``||x_r||^2 + ||q_r||^2 - 2 <x_r, q_r>``). eps = 1.9 (RaBitQ's
        choice) covers about 94% of the estimates, eps = 3 about 99.7%. The query's own
        quantization (``query_bits``) adds a little on top: use 8 query bits where the bound
        matters. Meaningful with rotate="random" (for "itq" or None it is a heuristic).

        Args:
            queries: (nq, dim), or one (dim,) query, as given to :meth:`search`.
            codes: :class:`BinaryCodes` from :meth:`encode`.
            ids: int (nq, m) rows of ``codes`` (e.g. the ids :meth:`search` returned); -1
                entries get +inf.
            eps: the bound's multiple of the estimate's standard deviation, > 0.

        Returns:
            float32 (nq, m) half-widths in the units of :meth:`search`'s distances.
        """
        self._require_trained()
        if not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be a positive number; got {eps!r}")
        q, single = as_queries(queries, "queries", self.dim)
        checked = self._check_codes(codes, "codes")
        rows = np.asarray(ids)
        if rows.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers; got {rows.dtype}")
        rows = rows.reshape(1, -1) if single else rows
        if rows.ndim != 2 or rows.shape[0] != q.shape[0]:
            raise ValueError(f"ids must have shape (nq, m) with nq = {q.shape[0]}; got "
                             f"{tuple(np.shape(ids))}")
        n = len(checked)
        if np.any(rows >= n) or np.any(rows < -1):
            raise IndexError(f"ids must be in [-1, {n}); got values outside")
        valid = rows >= 0
        unique, inverse = np.unique(rows[valid], return_inverse=True)
        tan = self._code_tangents(checked[unique]) if len(unique) else np.zeros(0)
        f = checked.factors
        centred = self._prepare(q).astype(np.float64) - self.mean.astype(np.float64)
        qnorm = np.linalg.norm(centred, axis=1)
        per_id = np.sqrt(np.maximum(f[unique, 0].astype(np.float64), 0.0)) * tan
        out = np.full(rows.shape, np.inf)
        out[valid] = (per_id[inverse] * np.broadcast_to(qnorm[:, None], rows.shape)[valid])
        out *= eps / np.sqrt(max(self.dim - 1, 1)) * (2.0 if self.metric == "l2" else 1.0)
        result = out.astype(np.float32)
        return result[0] if single else result

    def _code_tangents(self, codes: BinaryCodes) -> npt.NDArray[np.float64]:
        """tan of the angle between each x_r and its code xhat = sum_l alpha_l s_l, from
        cos^2 = ||x_r||^2 / (rho^2 ||xhat||^2) (rho = ||x_r||^2 / <xhat, x_r>)."""
        nb = (self.dim + 7) // 8
        f = codes.factors.astype(np.float64)
        xhat = np.zeros((len(codes), self.dim))
        for level in range(self.bits):
            plane = np.unpackbits(codes.codes[:, level * nb:(level + 1) * nb], axis=1)
            xhat += f[:, _FIXED_FACTORS + level, None] * (2.0 * plane[:, :self.dim] - 1.0)
        xhat_sq = (xhat ** 2).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos2 = np.clip(f[:, 0] / (f[:, 2] ** 2 * xhat_sq), 0.0, 1.0)
            tan: npt.NDArray[np.float64] = np.where(cos2 > 0, np.sqrt((1 - cos2) / cos2), np.inf)
        return tan

    def search_symmetric(self, query_codes: BinaryCodes, codes: BinaryCodes,
                         k: int) -> SearchResult:
        """Symmetric search: encoded queries against codes, for every ``bits``.

        Scores ``<xhat, yhat>`` from the popcounts of every pair of levels, plus the exact
        norm / mean terms of both sides, and returns (distances float32 (nq, k), ids int64
        (nq, k)) best first in the units of :meth:`search` (estimated squared distances for
        "l2", inner products for "ip", cosine similarities for "cosine"). Both arguments are
        :class:`BinaryCodes` from :meth:`encode`. (In 0.1.0, bits=1 returned int32 Hamming
        distances of the sign bits; for those, call
        ``qvec.hamming_search(query_codes.codes, codes.codes, k)``.)
        """
        self._require_trained()
        k = check_k(k)
        qc = self._check_codes(query_codes, "query_codes")
        cc = self._check_codes(codes, "codes")
        result: SearchResult = self._bq.search_symmetric(qc.codes, qc.factors, cc.codes,
                                                         cc.factors, k)
        return result

    # -- pickling -----------------------------------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        trained = self.is_trained
        return {"dim": self.dim, "bits": self.bits, "metric": self.metric, "rotate": self.rotate,
                "method": self.method,
                "mean": self._bq.get_mean() if trained else None,
                "rotation": self._bq.get_rotation() if trained else None}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["dim"], state["bits"], state["metric"],  # type: ignore[misc]
                      state["rotate"], state.get("method", "residual"))
        if state["mean"] is not None:
            self._bq.set_transform(state["mean"], state["rotation"])

    def _prepare(self, x: FloatMatrix) -> FloatMatrix:
        """x as the core sees it: a normalized copy for "cosine", else x itself."""
        return normalized(x) if self._metric == "cosine" else x

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError("this BinaryQuantizer is not trained: call fit(x) first")

    def _check_codes(self, codes: Any, name: str) -> BinaryCodes:
        if not isinstance(codes, BinaryCodes):
            hint = (" (for Hamming distances of raw packed bits use qvec.hamming_search)"
                    if isinstance(codes, np.ndarray) else "")
            raise TypeError(f"{name} must be BinaryCodes from BinaryQuantizer.encode; got "
                            f"{type(codes).__name__}{hint}")
        if codes.codes.shape[1] != self.code_size or codes.bits != self.bits:
            raise ValueError(f"{name} do not match this quantizer: expected bits={self.bits}, "
                             f"{self.code_size} bytes per vector; got bits={codes.bits}, "
                             f"{codes.codes.shape[1]} bytes")
        return codes
