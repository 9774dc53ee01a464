"""Product quantization: train codebooks, encode, decode, and search codes."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _core
from ._checks import as_codes, as_float_matrix, check_int, check_metric
from ._errors import NotTrainedError
from ._progress import progress_callback
from .fastscan import FastScanCodes

#: Bits per subquantizer code. 8: one byte per code, 256 centroids, exact ADC search.
#: 4: two codes per byte, 16 centroids, searched with the fast-scan (in-register lookup) kernels.
SUPPORTED_NBITS = (4, 8)


class ProductQuantizer:
    """Product quantizer: each vector is cut into ``m`` subvectors of ``dim // m`` values and
    each subvector is stored as the index of its nearest centroid among ``2**nbits``.

    Args:
        dim: vector dimension.
        m: number of subquantizers; must divide ``dim`` (any m, odd included). Code size is
            ``m`` bytes for nbits=8 and ``ceil(m / 2)`` bytes for nbits=4.
        nbits: bits per subquantizer code, one of ``SUPPORTED_NBITS`` = (4, 8). 8 stores one
            byte per subquantizer; 4 stores two codes per byte and searches them with the
            fast-scan kernels (16-entry tables held in SIMD registers), several times faster
            than 8-bit at the same code size.
        metric: "l2" (squared distances, smallest first) or "ip" (inner products, largest
            first). Codebooks are trained with k-means (L2) for both.

    Example:
        >>> pq = qvec.ProductQuantizer(128, m=16).fit(train)
        >>> codes = pq.encode(base)                  # uint8 (n, 16)
        >>> dist, ids = pq.search(queries, codes, k=100)
        >>> dist, ids = qvec.rerank(queries, ids, base, k=10)   # exact re-ranking

        >>> pq4 = qvec.ProductQuantizer(128, m=32, nbits=4).fit(train)
        >>> fast = pq4.pack(pq4.encode(base))        # FastScanCodes, packed once
        >>> dist, ids = pq4.search(queries, fast, k=10, rescore=4)
    """

    def __init__(self, dim: int, m: int, nbits: int = 8, metric: str = "l2"):
        dim = check_int(dim, "dim")
        m = check_int(m, "m")
        nbits = check_int(nbits, "nbits")
        if nbits not in SUPPORTED_NBITS:
            raise ValueError(f"nbits must be one of {SUPPORTED_NBITS}; got {nbits}")
        if dim % m != 0:
            raise ValueError(f"m must divide dim; got dim={dim}, m={m}")
        self._pq = _core.ProductQuantizer(dim, m, nbits, check_metric(metric))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._pq.dim

    @property
    def m(self) -> int:
        return self._pq.m

    @property
    def nbits(self) -> int:
        return self._pq.nbits

    @property
    def metric(self) -> str:
        return self._pq.metric

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        return self._pq.code_size

    @property
    def is_trained(self) -> bool:
        return self._pq.is_trained

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return (f"ProductQuantizer(dim={self.dim}, m={self.m}, nbits={self.nbits}, "
                f"metric={self.metric!r}, {state})")

    # -- training -----------------------------------------------------------------------------
    def fit(self, x, iters: int = 25, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False) -> "ProductQuantizer":
        """Trains the codebooks with k-means in each subspace (k-means++ seeding, empty
        clusters re-split). Deterministic for a given ``seed`` whatever the thread count.

        Args:
            x: (n, dim) training vectors, n >= 2**nbits.
            iters: Lloyd iterations per subspace.
            seed: random seed (sampling and initialisation).
            max_train: use at most this many vectors (a seeded sample); None means
                256 * 2**nbits, as FAISS does.
            verbose: show a progress bar (tqdm if installed) over subspaces.
        Returns:
            self
        """
        iters = check_int(iters, "iters")
        seed = check_int(seed, "seed", minimum=0)
        limit = 0 if max_train is None else check_int(max_train, "max_train")
        ksub = 1 << self.nbits
        if limit and limit < ksub:
            raise ValueError(f"max_train must be >= 2**nbits = {ksub}; got {limit}")
        x = as_float_matrix(x, "x", self.dim)
        if x.shape[0] < ksub:
            raise ValueError(f"x has {x.shape[0]} training vectors; nbits={self.nbits} needs at "
                             f"least 2**nbits = {ksub}")
        progress = progress_callback("qvec PQ training", verbose)
        self._pq.train(x, iters, seed, limit, progress)
        return self

    @property
    def codebooks(self) -> np.ndarray:
        """Codebooks, float32 (m, 2**nbits, dim // m) (a copy). Assign to bring your own, e.g.
        ``faiss.vector_to_array(index.pq.centroids).reshape(m, 256, dim // m)``."""
        self._require_trained()
        return self._pq.get_centroids()

    @codebooks.setter
    def codebooks(self, value) -> None:
        ksub, dsub = 1 << self.nbits, self.dim // self.m
        arr = np.asarray(value)
        if arr.shape != (self.m, ksub, dsub):
            raise ValueError(f"codebooks must have shape (m, 2**nbits, dim/m) = "
                             f"({self.m}, {ksub}, {dsub}); got {tuple(arr.shape)}")
        flat = as_float_matrix(arr.reshape(self.m * ksub, dsub), "codebooks")
        self._pq.set_centroids(flat.reshape(self.m, ksub, dsub))

    # -- codes --------------------------------------------------------------------------------
    def encode(self, x) -> np.ndarray:
        """Encodes (n, dim) vectors to uint8 codes of shape (n, code_size).

        nbits=8: ``codes[i, j]`` is the code of subquantizer j. nbits=4: packed nibbles,
        ``codes[i, j // 2] >> (4 * (j % 2)) & 15`` is the code of subquantizer j (even j in the
        low nibble; for odd m the last high nibble is 0)."""
        self._require_trained()
        return self._pq.encode(as_float_matrix(x, "x", self.dim))

    def decode(self, codes) -> np.ndarray:
        """Reconstructs float32 (n, dim) vectors from (n, code_size) uint8 codes."""
        self._require_trained()
        return self._pq.decode(as_codes(codes, "codes", self.code_size))

    def distance_tables(self, queries) -> np.ndarray:
        """Per-query lookup tables, float32 (nq, m, 2**nbits): squared subspace distances for
        "l2", subspace inner products for "ip". The ADC score of a code is the sum over j of
        ``tables[q, j, code[j]]``."""
        self._require_trained()
        tables = self._pq.compute_tables(as_float_matrix(queries, "queries", self.dim))
        if self.metric == "ip":
            np.negative(tables, out=tables)
        return tables

    def pack(self, codes) -> FastScanCodes:
        """nbits=4 only: rearranges (n, code_size) codes once into the scan-optimized layout
        (:class:`FastScanCodes`), which :meth:`search` then uses without repacking."""
        self._require_trained()
        if self.nbits != 4:
            raise ValueError(f"pack() needs a 4-bit quantizer (nbits=4); this one has "
                             f"nbits={self.nbits}")
        return FastScanCodes(as_codes(codes, "codes", self.code_size), self.m)

    # -- search -------------------------------------------------------------------------------
    def search(self, queries, codes, k: int,
               rescore: Union[int, str] = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Asymmetric distance (ADC) search: float queries against codes.

        Args:
            queries: (nq, dim) float vectors.
            codes: (n, code_size) uint8 codes from :meth:`encode`, or (nbits=4) the
                :class:`FastScanCodes` from :meth:`pack` (no repacking; raw 4-bit codes are
                packed on each call).
            k: results per query.
            rescore: nbits=4 only (8-bit search is always the exact ADC top-k).
                0: rank with the per-query tables quantized to uint8 (the fast-scan
                approximation; distances are the quantized sums converted back to float
                units). r >= 1: keep the best ``k * r`` by the quantized tables, re-score them
                with the float tables and return the best k (removes the table quantization
                error). "exact": the exact float ADC top-k (any candidate the quantization
                error bound cannot rule out is re-scored); slower for large m.

        Returns (distances float32 (nq, k), ids int64 (nq, k)) best-first (ties to the smaller
        id; k > n pads with id -1 and +inf / -inf). Ids are row numbers of ``codes``. To
        re-rank, search k' = 10 * k and pass the ids to :func:`qvec.rerank`.
        """
        self._require_trained()
        k = check_int(k, "k")
        if isinstance(rescore, str):
            if rescore != "exact":
                raise ValueError(f"rescore must be an integer >= 0 or 'exact'; got {rescore!r}")
            factor, exact = 0, True
        else:
            factor, exact = check_int(rescore, "rescore", minimum=0), False
        queries = as_float_matrix(queries, "queries", self.dim)
        if isinstance(codes, FastScanCodes):
            self._require_packed_match(codes)
            return self._pq.search_packed(queries, codes.data, codes.n, k, factor, exact)
        codes = as_codes(codes, "codes", self.code_size)
        return self._pq.search(queries, codes, k, factor, exact)

    def search_sdc(self, query_codes, codes, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Symmetric distance (SDC) search: encoded queries against codes, scored through
        centroid-to-centroid distances (the distance between the two reconstructions); exact
        for both nbits. ``codes`` may be a :class:`FastScanCodes` (nbits=4)."""
        self._require_trained()
        k = check_int(k, "k")
        query_codes = as_codes(query_codes, "query_codes", self.code_size)
        if isinstance(codes, FastScanCodes):
            self._require_packed_match(codes)
            decoded = self._pq.decode(query_codes)
            return self._pq.search_packed(decoded, codes.data, codes.n, k, 0, True)
        codes = as_codes(codes, "codes", self.code_size)
        return self._pq.search_sdc(query_codes, codes, k)

    def _require_packed_match(self, codes: FastScanCodes) -> None:
        if self.nbits != 4:
            raise TypeError(f"FastScanCodes hold 4-bit codes; this quantizer has "
                            f"nbits={self.nbits}: pass the (n, {self.code_size}) uint8 codes")
        if codes.m != self.m:
            raise ValueError(f"codes were packed with m={codes.m}; this quantizer has m={self.m}")

    # -- pickling -----------------------------------------------------------------------------
    def __getstate__(self):
        return {"dim": self.dim, "m": self.m, "nbits": self.nbits, "metric": self.metric,
                "codebooks": self._pq.get_centroids() if self.is_trained else None}

    def __setstate__(self, state):
        self.__init__(state["dim"], state["m"], state["nbits"], state["metric"])
        if state["codebooks"] is not None:
            self.codebooks = state["codebooks"]

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError("this ProductQuantizer is not trained: call fit(x) or assign "
                                  "codebooks first")
