"""Binary codes: Hamming search on packed bits, and a binary quantizer with asymmetric search."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _core
from ._checks import as_codes, as_float_matrix, check_int, check_metric
from ._errors import NotTrainedError

# Per-vector floats before the per-level scales: ||x_r||^2, <x - mean, mean>, rho.
_FIXED_FACTORS = 3

MAX_BITS = 8
MAX_QUERY_BITS = 8
ROTATIONS = (None, "random", "itq")


def _as_packed(codes, name: str, nbytes: Optional[int] = None) -> np.ndarray:
    """Returns packed codes (or a BinaryCodes' bits) as C-contiguous uint8 (n, nbytes)."""
    if isinstance(codes, BinaryCodes):
        codes = codes.codes
    return as_codes(codes, name, nbytes, kind="uint8 packed bits (numpy.packbits(bits, axis=1))")


def hamming_distances(a, b) -> np.ndarray:
    """All pairwise Hamming distances between two sets of packed codes.

    Args:
        a: uint8 (na, nbytes), bits packed as ``numpy.packbits(bits, axis=1)``; any
            nbytes >= 1 (not only multiples of 8 or 64).
        b: uint8 (nb, nbytes), same nbytes.

    Returns:
        int32 (na, nb): ``out[i, j]`` = number of differing bits between ``a[i]`` and ``b[j]``.
    """
    a = _as_packed(a, "a")
    b = _as_packed(b, "b", a.shape[1])
    return _core.hamming_distances(a, b)


def hamming_search(query_codes, codes, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """k nearest codes by Hamming distance (bring your own bits).

    Args:
        query_codes: uint8 (nq, nbytes), bits packed as ``numpy.packbits(bits, axis=1)``; any
            nbytes >= 1 (not only multiples of 8 or 64).
        codes: uint8 (n, nbytes), same nbytes.
        k: neighbours per query, >= 1.

    Returns:
        (distances int32 (nq, k), ids int64 (nq, k)), smallest distance first, ties to the
        smaller id; when k > n the missing slots hold id -1 and distance 2**31 - 1.
        Runs on all threads with the GIL released.
    """
    k = check_int(k, "k")
    query_codes = _as_packed(query_codes, "query_codes")
    codes = _as_packed(codes, "codes", query_codes.shape[1])
    return _core.hamming_search(query_codes, codes, k)


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

    Supports ``len()`` and row selection (``codes[10:20]``, ``codes[ids]``).
    """

    def __init__(self, codes, factors):
        factors_arr = np.asarray(factors)
        if factors_arr.ndim != 2 or factors_arr.shape[1] < _FIXED_FACTORS + 1:
            raise ValueError(f"factors must be float32 of shape (n, 3 + bits); got "
                             f"{tuple(factors_arr.shape)}")
        bits = factors_arr.shape[1] - _FIXED_FACTORS
        codes_arr = _as_packed(codes, "codes")
        if codes_arr.shape[1] % bits != 0:
            raise ValueError(f"codes has {codes_arr.shape[1]} bytes per vector, not a multiple of "
                             f"bits = {bits} (from factors)")
        self.codes = codes_arr
        self.factors = as_float_matrix(factors_arr, "factors")
        if self.factors.shape[0] != self.codes.shape[0]:
            raise ValueError(f"codes and factors must have the same number of rows; got "
                             f"{self.codes.shape[0]} and {self.factors.shape[0]}")

    @property
    def bits(self) -> int:
        return self.factors.shape[1] - _FIXED_FACTORS

    @property
    def shape(self) -> Tuple[int, int]:
        """(n, bytes of packed bits per vector), as ``codes.shape``."""
        return self.codes.shape

    @property
    def nbytes(self) -> int:
        """Memory held: packed bits plus the float32 factors."""
        return self.codes.nbytes + self.factors.nbytes

    def __len__(self) -> int:
        return self.codes.shape[0]

    def __getitem__(self, rows) -> "BinaryCodes":
        codes, factors = self.codes[rows], self.factors[rows]
        if codes.ndim == 1:
            codes, factors = codes[None], factors[None]
        return BinaryCodes(codes, factors)

    def __repr__(self) -> str:
        return f"BinaryCodes(n={len(self)}, bits={self.bits}, bytes={self.codes.shape[1]})"

    def __getstate__(self):
        """Row-aligned arrays: {"codes": uint8 (n, code_size), "factors": float32 (n, 3 + bits)}."""
        return {"codes": self.codes, "factors": self.factors}

    def __setstate__(self, state):
        self.__init__(state["codes"], state["factors"])


def _random_orthogonal(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))[None, :]


class BinaryQuantizer:
    """Binary quantizer: centre, optionally rotate, keep the sign bits, and (bits > 1) binarize
    the residual again at each further level.

    With ``x_r = (x - mean) @ R``, level 0 stores ``b_0 = [x_r > 0]``; level l stores the signs
    of what the previous levels left, with a least-squares scale per level and vector, so that
    ``x ~= mean + (sum_l alpha_l * (2 b_l - 1)) @ R.T`` (training-free recurrent
    binarization).

    :meth:`search` is asymmetric: the float query is rotated, quantized to ``query_bits`` bits
    per coordinate, and scored against the codes with AND + popcount over its bit planes; with
    the stored per-vector factors this gives an unbiased estimate of the inner product (RaBitQ),
    far more accurate than Hamming distance at the same code size.

    Args:
        dim: vector dimension.
        bits: levels per coordinate, 1..8; code size ``bits * ceil(dim / 8)`` bytes.
        metric: "ip" (inner products, largest first) or "l2" (squared distances, smallest
            first).
        rotate: None or False (no rotation), "random" or True (a seeded random orthogonal
            matrix) or "itq" (iterative quantization: a rotation learned on the training set
            that minimises the sign quantization error, started from the random one). "random" is the safe
            choice: the estimator is unbiased over random rotations. "itq" lowers the
            reconstruction error and helps with bits > 1, but a data-aligned rotation can bias
            the 1-bit estimate on strongly structured data (measure before using it).

    Example:
        >>> bq = qvec.BinaryQuantizer(384, bits=1, metric="ip", rotate="random").fit(base)
        >>> codes = bq.encode(base)                           # BinaryCodes, 48 bytes/vector
        >>> dist, ids = bq.search(queries, codes, k=10)       # asymmetric estimate
        >>> _, cand = bq.search(queries, codes, k=100)        # or re-rank a 10 * k shortlist
        >>> dist, ids = qvec.rerank(queries, cand, base, k=10, metric="ip")
    """

    def __init__(self, dim: int, bits: int = 1, metric: str = "ip",
                 rotate: Optional[str] = None):
        dim = check_int(dim, "dim")
        bits = check_int(bits, "bits")
        if bits > MAX_BITS:
            raise ValueError(f"bits must be in [1, {MAX_BITS}]; got {bits}")
        if isinstance(rotate, bool):  # True / False: a random rotation or none
            rotate = "random" if rotate else None
        if rotate not in ROTATIONS:
            raise ValueError(f"rotate must be one of {ROTATIONS} (or a bool); got {rotate!r}")
        self.rotate = rotate
        self._bq = _core.BinaryQuantizer(dim, bits, check_metric(metric))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._bq.dim

    @property
    def bits(self) -> int:
        return self._bq.bits

    @property
    def metric(self) -> str:
        return self._bq.metric

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector: ``bits * ceil(dim / 8)``."""
        return self._bq.code_size

    @property
    def is_trained(self) -> bool:
        return self._bq.is_trained

    @property
    def mean(self) -> np.ndarray:
        """Training mean, float32 (dim,)."""
        self._require_trained()
        return self._bq.get_mean()

    @property
    def rotation(self) -> Optional[np.ndarray]:
        """Orthogonal float32 (dim, dim) applied as ``(x - mean) @ rotation``, or None."""
        self._require_trained()
        return self._bq.get_rotation()

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return (f"BinaryQuantizer(dim={self.dim}, bits={self.bits}, metric={self.metric!r}, "
                f"rotate={self.rotate!r}, {state})")

    # -- training -----------------------------------------------------------------------------
    def fit(self, x, seed: int = 0, itq_iters: int = 20,
            max_train: Optional[int] = 10000) -> "BinaryQuantizer":
        """Learns the centre (training mean) and the rotation.

        Args:
            x: (n, dim) training vectors.
            seed: seeds the random rotation (also ITQ's starting point) and the training
                sample; results depend on the seed only.
            itq_iters: ITQ iterations (rotate="itq").
            max_train: ITQ trains on at most this many vectors (a seeded sample); None: all.
        Returns:
            self
        """
        seed = check_int(seed, "seed", minimum=0)
        itq_iters = check_int(itq_iters, "itq_iters")
        x = as_float_matrix(x, "x", self.dim)
        mean = x.mean(axis=0, dtype=np.float64)
        rotation = None
        if self.rotate is not None:
            rng = np.random.default_rng(seed)
            rot = _random_orthogonal(self.dim, rng)
            if self.rotate == "itq":
                sample = x
                if max_train is not None and x.shape[0] > check_int(max_train, "max_train"):
                    sample = x[np.sort(rng.choice(x.shape[0], max_train, replace=False))]
                rot = _itq((sample - mean).astype(np.float32), rot.astype(np.float32), itq_iters)
            rotation = np.ascontiguousarray(rot, dtype=np.float32)
        self._bq.set_transform(mean.astype(np.float32), rotation)
        return self

    # -- codes --------------------------------------------------------------------------------
    def encode(self, x) -> BinaryCodes:
        """Encodes (n, dim) vectors: :class:`BinaryCodes` with uint8 codes
        (n, bits * ceil(dim / 8)) and float32 factors (n, 3 + bits)."""
        self._require_trained()
        codes, factors = self._bq.encode(as_float_matrix(x, "x", self.dim))
        return BinaryCodes(codes, factors)

    def decode(self, codes: BinaryCodes) -> np.ndarray:
        """Float32 (n, dim) reconstructions ``mean + (sum_l alpha_l s_l) @ R.T``."""
        self._require_trained()
        codes = self._check_codes(codes, "codes")
        return self._bq.decode(codes.codes, codes.factors)

    # -- search -------------------------------------------------------------------------------
    def search(self, queries, codes: BinaryCodes, k: int,
               query_bits: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Asymmetric search: float queries against binary codes.

        Args:
            queries: (nq, dim) array-like.
            codes: :class:`BinaryCodes` from :meth:`encode`.
            k: neighbours per query, >= 1.
            query_bits: bits per query coordinate, 1..8; None picks 4 for bits=1 and 8 for
                bits > 1 (the query must then be finer than the codes). Costs grow in steps of
                4 bits: 1-4 cost the same, 5-8 twice as much.

        Returns:
            (distances float32 (nq, k), ids int64 (nq, k)), best first: estimated inner
            products (largest first) for "ip", estimated squared distances (smallest first) for
            "l2"; ties to the smaller id; k > n pads with id -1 and -inf / +inf. For top
            accuracy search ``10 * k`` and pass the ids to :func:`qvec.rerank`.
        """
        self._require_trained()
        k = check_int(k, "k")
        if query_bits is None:
            query_bits = 4 if self.bits == 1 else 8
        query_bits = check_int(query_bits, "query_bits")
        if query_bits > MAX_QUERY_BITS:
            raise ValueError(f"query_bits must be in [1, {MAX_QUERY_BITS}]; got {query_bits}")
        queries = as_float_matrix(queries, "queries", self.dim)
        codes = self._check_codes(codes, "codes")
        return self._bq.search(queries, codes.codes, codes.factors, k, query_bits)

    def search_symmetric(self, query_codes, codes, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Symmetric search: encoded queries against codes.

        For bits=1 this is Hamming search on the sign bits: (distances int32, ids int64),
        smallest first (``query_codes`` and ``codes`` may be :class:`BinaryCodes` or uint8
        arrays). For bits > 1 it scores ``<xhat, yhat>`` from the popcounts of every pair of
        levels, plus the exact norm / mean terms of both sides: (distances float32, ids int64)
        best first as in :meth:`search`; both arguments must be :class:`BinaryCodes`.
        """
        self._require_trained()
        k = check_int(k, "k")
        if self.bits == 1:
            nbytes = self._bq.level_bytes
            return hamming_search(_as_packed(query_codes, "query_codes", nbytes),
                                  _as_packed(codes, "codes", nbytes), k)
        query_codes = self._check_codes(query_codes, "query_codes")
        codes = self._check_codes(codes, "codes")
        return self._bq.search_symmetric(query_codes.codes, query_codes.factors, codes.codes,
                                         codes.factors, k)

    # -- pickling -----------------------------------------------------------------------------
    def __getstate__(self):
        trained = self.is_trained
        return {"dim": self.dim, "bits": self.bits, "metric": self.metric, "rotate": self.rotate,
                "mean": self._bq.get_mean() if trained else None,
                "rotation": self._bq.get_rotation() if trained else None}

    def __setstate__(self, state):
        self.__init__(state["dim"], state["bits"], state["metric"], state["rotate"])
        if state["mean"] is not None:
            self._bq.set_transform(state["mean"], state["rotation"])

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError("this BinaryQuantizer is not trained: call fit(x) first")

    def _check_codes(self, codes, name: str) -> BinaryCodes:
        if not isinstance(codes, BinaryCodes):
            raise TypeError(f"{name} must be BinaryCodes from BinaryQuantizer.encode; got "
                            f"{type(codes).__name__}")
        if codes.codes.shape[1] != self.code_size or codes.bits != self.bits:
            raise ValueError(f"{name} do not match this quantizer: expected bits={self.bits}, "
                             f"{self.code_size} bytes per vector; got bits={codes.bits}, "
                             f"{codes.codes.shape[1]} bytes")
        return codes


def _itq(v: np.ndarray, rotation: np.ndarray, iters: int) -> np.ndarray:
    """Iterative quantization (Gong & Lazebnik): alternately B = sign(V R) and the orthogonal
    Procrustes solution R = U W^T of V^T B = U S W^T, which minimises ||B - V R||_F."""
    for _ in range(iters):
        b = np.where(v @ rotation > 0, np.float32(1), np.float32(-1))
        u, _, wt = np.linalg.svd((v.T @ b).astype(np.float64))
        rotation = (u @ wt).astype(np.float32)
    return rotation
