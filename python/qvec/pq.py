"""Product quantization: train codebooks, encode, decode, and search codes."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core
from ._checks import as_codes, as_float_matrix, check_int, check_metric
from ._errors import NotTrainedError
from ._progress import progress_callback

SUPPORTED_NBITS = (8,)


class ProductQuantizer:
    """Product quantizer: each vector is cut into ``m`` subvectors of ``dim // m`` values and
    each subvector is stored as the index of its nearest centroid among ``2**nbits``.

    Args:
        dim: vector dimension.
        m: number of subquantizers; must divide ``dim``. Code size is ``m`` bytes (nbits=8).
        nbits: bits per subquantizer code; 8.
        metric: "l2" (squared distances, smallest first) or "ip" (inner products, largest
            first). Codebooks are trained with k-means (L2) for both.

    Example:
        >>> pq = qvec.ProductQuantizer(128, m=16).fit(train)
        >>> codes = pq.encode(base)                  # uint8 (n, 16)
        >>> dist, ids = pq.search(queries, codes, k=100)
        >>> dist, ids = qvec.rerank(queries, ids, base, k=10)   # exact re-ranking
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
        """Encodes (n, dim) vectors to uint8 codes of shape (n, code_size)."""
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

    # -- search -------------------------------------------------------------------------------
    def search(self, queries, codes, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Asymmetric distance (ADC) search: float queries against codes.

        Returns (distances float32 (nq, k), ids int64 (nq, k)) best-first: the exact ADC top-k
        (ties to the smaller id; k > n pads with id -1 and +inf / -inf). Ids are row numbers
        of ``codes``. To re-rank, search k' = 10 * k and pass the ids to :func:`qvec.rerank`.
        """
        self._require_trained()
        k = check_int(k, "k")
        queries = as_float_matrix(queries, "queries", self.dim)
        codes = as_codes(codes, "codes", self.code_size)
        return self._pq.search(queries, codes, k)

    def search_sdc(self, query_codes, codes, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Symmetric distance (SDC) search: encoded queries against codes, scored through
        centroid-to-centroid distances (the distance between the two reconstructions)."""
        self._require_trained()
        k = check_int(k, "k")
        query_codes = as_codes(query_codes, "query_codes", self.code_size)
        codes = as_codes(codes, "codes", self.code_size)
        return self._pq.search_sdc(query_codes, codes, k)

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
