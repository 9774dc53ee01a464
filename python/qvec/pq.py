"""Product quantization: train codebooks, encode, decode, and search codes."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core, cuda
from .cuda import gpu_device
from ._checks import (ByteMatrix, FloatMatrix, SearchResult, as_codes, as_float_matrix,
                      as_queries, as_query_codes, check_int, check_k, check_metric, core_metric,
                      normalized, one_row)
from ._errors import NotTrainedError
from ._progress import progress_callback
from .fastscan import FastScanCodes

#: Bits per subquantizer code (the core validates nbits): any of 1..8, bit-packed as faiss packs
#: them (``ceil(m * nbits / 8)`` bytes per vector). 8: one byte per code, 256 centroids, exact
#: ADC search; 5..7 are searched by the same kernels. 4: two codes per byte, 16 centroids,
#: searched with the fast-scan (in-register lookup) kernels, as are 1..3.
SUPPORTED_NBITS = (1, 2, 3, 4, 5, 6, 7, 8)


class ProductQuantizer:
    """Product quantizer: each vector is cut into ``m`` subvectors of ``dim // m`` values and
    each subvector is stored as the index of its nearest centroid among ``2**nbits``.

    Args:
        dim: vector dimension.
        m: number of subquantizers; must divide ``dim`` (any m, odd included). Code size is
            ``ceil(m * nbits / 8)`` bytes: ``m`` for nbits=8, ``ceil(m / 2)`` for nbits=4.
        nbits: bits per subquantizer code, 1..8 (``SUPPORTED_NBITS``). 8 stores one byte per
            subquantizer; 4 stores two codes per byte and searches them with the fast-scan
            kernels (16-entry tables held in SIMD registers), several times faster than 8-bit
            at the same code size. Other widths are bit-packed as faiss packs them (code j in
            bits ``[j * nbits, (j + 1) * nbits)`` of the row, lowest bit first) and searched
            by the 4-bit kernels (nbits 1..3) or the 8-bit ones (5..7).
        metric: "l2" (squared distances, smallest first; the default of every qvec search),
            "ip" (inner products, largest first) or "cosine" (cosine similarities, largest
            first: the quantizer normalizes a copy of every vector it trains on, encodes or
            searches with, and scores by inner product, so decode returns unit-norm
            reconstructions). Codebooks are trained with k-means (L2) for all three.
        opq: also learn an orthogonal rotation R with the codebooks (OPQ, Ge et al. 2013):
            vectors and queries are quantized as ``x @ R``, which spreads their variance over
            the subspaces; :attr:`rotation` holds R, :attr:`codebooks` live in the rotated
            space and :meth:`decode` rotates back. Costs one (dim, dim) product per vector.
        loss: what the codes minimise. "mse": the squared reconstruction error (nearest
            centroids). "anisotropic" ("ip" and "cosine" only; ScaNN's score-aware loss, Guo et
            al. 2020): the residual's part along x weighs ``eta`` times its orthogonal part,
            ``eta = (dim - 1) T**2 / (1 - T**2)`` for ``T = anisotropic_threshold``, which
            keeps the large inner products (the ones top-k search ranks) more accurate; codes
            are chosen by coordinate descent and the codebooks refined for that loss.
        anisotropic_threshold: T in (0, 1), the score (relative to ``||q|| ||x||``) whose
            accuracy matters; 0.2 as in ScaNN.

    Example:
        >>> pq = qvec.ProductQuantizer(128, m=16).fit(train)
        >>> codes = pq.encode(base)                  # uint8 (n, 16)
        >>> dist, ids = pq.search(queries, codes, k=100)
        >>> dist, ids = qvec.rerank(queries, ids, base, k=10)   # exact re-ranking

        >>> pq4 = qvec.ProductQuantizer(128, m=32, nbits=4).fit(train)
        >>> fast = pq4.pack(pq4.encode(base))        # FastScanCodes, packed once
        >>> dist, ids = pq4.search(queries, fast, k=10, rescore=4)
    """

    def __init__(self, dim: int, m: int, nbits: int = 8, metric: str = "l2", *,
                 opq: bool = False, loss: str = "mse",
                 anisotropic_threshold: float = 0.2) -> None:
        if not isinstance(opq, (bool, np.bool_)):
            raise TypeError(f"opq must be a bool; got {type(opq).__name__}")
        if loss not in ("mse", "anisotropic"):
            raise ValueError(f"loss must be 'mse' or 'anisotropic'; got {loss!r}")
        if loss == "anisotropic" and check_metric(metric, allow_cosine=True) == "l2":
            raise ValueError("loss='anisotropic' is for metric 'ip' or 'cosine' (it keeps inner "
                             "products accurate); use loss='mse' for 'l2'")
        threshold = float(anisotropic_threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"anisotropic_threshold must be in (0, 1); got {anisotropic_threshold!r}")
        self._loss, self._threshold = loss, threshold
        self._opq = bool(opq)
        self._rotation: Optional[FloatMatrix] = None
        dim = check_int(dim, "dim")
        m = check_int(m, "m")
        nbits = check_int(nbits, "nbits")
        self._metric = check_metric(metric, allow_cosine=True)
        # The core checks nbits in SUPPORTED_NBITS and that m divides dim.
        self._pq = _core.ProductQuantizer(dim, m, nbits, core_metric(self._metric))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._pq.dim

    @property
    def m(self) -> int:
        """Number of subquantizers."""
        return self._pq.m

    @property
    def nbits(self) -> int:
        """Bits per subquantizer code (4 or 8)."""
        return self._pq.nbits

    @property
    def metric(self) -> str:
        """"l2", "ip" or "cosine"."""
        return self._metric

    @property
    def loss(self) -> str:
        """"mse" or "anisotropic"."""
        return self._loss

    @property
    def anisotropic_threshold(self) -> float:
        """T of the anisotropic loss (unused with loss="mse")."""
        return self._threshold

    def _eta(self) -> float:
        return float(_core.anisotropic_eta(self._threshold, self.dim))

    @property
    def opq(self) -> bool:
        """Whether :meth:`fit` learns a rotation (OPQ)."""
        return self._opq

    @property
    def rotation(self) -> Optional[FloatMatrix]:
        """The OPQ rotation R, float32 (dim, dim) orthogonal, applied as ``x @ R`` (a copy);
        None without OPQ or before :meth:`fit`. Assign to bring your own (with codebooks)."""
        return None if self._rotation is None else self._rotation.copy()

    @rotation.setter
    def rotation(self, value: npt.ArrayLike) -> None:
        if not self._opq:
            raise ValueError("rotation applies to ProductQuantizer(..., opq=True) only")
        arr = np.asarray(value)
        if arr.shape != (self.dim, self.dim):
            raise ValueError(f"rotation must have shape (dim, dim) = ({self.dim}, {self.dim}); "
                             f"got {tuple(arr.shape)}")
        r = np.array(as_float_matrix(arr, "rotation"), dtype=np.float32)
        if not np.all(np.isfinite(r)):
            raise ValueError("rotation contains NaN or infinity")
        err = np.abs(r.astype(np.float64).T @ r - np.eye(self.dim)).max()
        if err > 1e-3:
            raise ValueError(f"rotation must be orthogonal (R^T R = I); off by {err:.3g}")
        r.setflags(write=False)
        self._rotation = r

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        return self._pq.code_size

    @property
    def is_trained(self) -> bool:
        """Whether codebooks exist (from :meth:`fit` or assigned)."""
        return self._pq.is_trained

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        opq = (", opq=True" if self._opq else "") + \
            (", loss='anisotropic'" if self._loss == "anisotropic" else "")
        return (f"ProductQuantizer(dim={self.dim}, m={self.m}, nbits={self.nbits}, "
                f"metric={self.metric!r}{opq}, {state})")

    # -- training -----------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False, iters: int = 25, opq_iters: int = 20) -> ProductQuantizer:
        """Trains the codebooks with k-means in each subspace (k-means++ seeding, empty
        clusters re-split). Deterministic for a given ``seed`` whatever the thread count.
        Every option is keyword-only (``fit(x, 10)`` is a TypeError; write ``iters=10``).

        Args:
            x: (n, dim) training vectors, n >= 2**nbits.
            seed: random seed (sampling and initialisation), >= 0.
            max_train: use at most this many vectors (a seeded sample); None means
                256 * 2**nbits, as FAISS does, or 100,000 with ``loss="anisotropic"``
                (ScaNN's AH sample: its codebook refinement needs more points than k-means).
            verbose: show a progress bar (tqdm if installed) over subspaces.
            iters: Lloyd iterations per subspace.
            opq_iters: with ``opq=True``, alternations of codebook refinement (4 warm-started
                Lloyd iterations) and rotation update (orthogonal Procrustes) before the final
                ``iters`` iterations; ignored otherwise.
        Returns:
            self
        """
        iters = check_int(iters, "iters")
        seed = check_int(seed, "seed", minimum=0)
        ksub = 1 << self.nbits
        if max_train is None:
            limit = max(_core.ANISOTROPIC_SAMPLE, 256 * ksub) if self._loss == "anisotropic" else 0
        else:
            limit = check_int(max_train, "max_train")
        if limit and limit < ksub:
            raise ValueError(f"max_train must be >= 2**nbits = {ksub}; got {limit}")
        opq_iters = check_int(opq_iters, "opq_iters", minimum=0)
        data = self._normalize(as_float_matrix(x, "x", self.dim))
        if data.shape[0] < ksub:
            raise ValueError(f"x has {data.shape[0]} training vectors; nbits={self.nbits} needs "
                             f"at least 2**nbits = {ksub}")
        if self._opq:
            rotation = _core.opq_train(self._pq, data, opq_iters, 4, iters, seed, limit)
            rotation.setflags(write=False)
            self._rotation = rotation
        else:
            progress = progress_callback("qvec PQ training", verbose, unit="subspace")
            self._pq.train(data, iters, seed, limit, progress)
        if self._loss == "anisotropic":
            rotated = data if self._rotation is None else np.ascontiguousarray(data @ self._rotation)
            _core.anisotropic_train(self._pq, rotated, self._eta(), 4, seed, limit)
        return self

    @property
    def codebooks(self) -> FloatMatrix:
        """Codebooks, float32 (m, 2**nbits, dim // m) (a copy). Assign to bring your own, e.g.
        ``faiss.vector_to_array(index.pq.centroids).reshape(m, 256, dim // m)``."""
        self._require_trained()
        return self._pq.get_centroids()

    @codebooks.setter
    def codebooks(self, value: npt.ArrayLike) -> None:
        ksub, dsub = 1 << self.nbits, self.dim // self.m
        arr = np.asarray(value)
        if arr.shape != (self.m, ksub, dsub):
            raise ValueError(f"codebooks must have shape (m, 2**nbits, dim/m) = "
                             f"({self.m}, {ksub}, {dsub}); got {tuple(arr.shape)}")
        flat = as_float_matrix(arr.reshape(self.m * ksub, dsub), "codebooks")
        self._pq.set_centroids(flat.reshape(self.m, ksub, dsub))

    # -- codes --------------------------------------------------------------------------------
    def encode(self, x: npt.ArrayLike) -> ByteMatrix:
        """Encodes (n, dim) vectors to the codes :meth:`search` takes: uint8 (n, code_size).

        nbits=8: ``codes[i, j]`` is the code of subquantizer j. nbits=4: packed nibbles,
        ``codes[i, j // 2] >> (4 * (j % 2)) & 15`` is the code of subquantizer j (even j in the
        low nibble; for odd m the last high nibble is 0). Other nbits: code j is bits
        ``[j * nbits, (j + 1) * nbits)`` of the row read as one little-endian bit string
        (faiss's layout); unused high bits of the last byte are 0. :meth:`pack` turns them
        into the scan layout (:class:`FastScanCodes`) once, for many searches."""
        self._require_trained()
        data = self._prepare(as_float_matrix(x, "x", self.dim))
        if self._loss == "anisotropic":
            return _core.anisotropic_encode(self._pq, data, self._eta())
        return self._pq.encode(data)

    def decode(self, codes: npt.ArrayLike) -> FloatMatrix:
        """Reconstructs float32 (n, dim) vectors from (n, code_size) uint8 codes (for
        "cosine", reconstructions of the normalized vectors)."""
        self._require_trained()
        out = self._pq.decode(as_codes(codes, "codes", self.code_size))
        return out if self._rotation is None else np.ascontiguousarray(out @ self._rotation.T)

    def distance_tables(self, queries: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Per-query lookup tables, float32 (nq, m, 2**nbits) ((m, 2**nbits) for a 1-D query):
        squared subspace distances for "l2", subspace inner products for "ip" (and for
        "cosine", of the normalized query). The ADC score of a code is the sum over j of
        ``tables[q, j, code[j]]``."""
        self._require_trained()
        q, single = as_queries(queries, "queries", self.dim)
        tables = self._pq.compute_tables(self._prepare(q))
        if self.metric != "l2":
            np.negative(tables, out=tables)
        return tables[0] if single else tables

    def pack(self, codes: npt.ArrayLike) -> FastScanCodes:
        """Rearranges (n, code_size) codes once into the scan layout (:class:`FastScanCodes`),
        which :meth:`search` and :meth:`search_sdc` then use without rearranging on each call.
        Worth it when the same codes are searched by many small query batches."""
        self._require_trained()
        return FastScanCodes(as_codes(codes, "codes", self.code_size), self.m, self.nbits)

    # -- search -------------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, codes: Union[npt.ArrayLike, FastScanCodes], k: int,
               rescore: Union[int, str] = 0, filter: object = None,
               device: str = "cpu") -> SearchResult:
        """Asymmetric distance (ADC) search: float queries against codes.

        Args:
            queries: (nq, dim) float vectors, or one query as a 1-D (dim,) array.
            codes: (n, code_size) uint8 codes from :meth:`encode`, or the
                :class:`FastScanCodes` from :meth:`pack` (used as is; raw codes are
                rearranged into the scan layout on each call).
            k: results per query, 1 <= k <= ``qvec.MAX_K``.
            rescore: nbits <= 4 only (the fast-scan kernels; search of nbits 5..8 is always
                the exact ADC top-k).
                0: rank with the per-query tables quantized to uint8 (the fast-scan
                approximation; distances are the quantized sums converted back to float
                units). r >= 1: keep the best ``k * r`` by the quantized tables, re-score them
                with the float tables and return the best k (removes the table quantization
                error). "exact": the exact float ADC top-k (any candidate the quantization
                error bound cannot rule out is re-scored); slower for large m.
            filter: only these ids (rows of ``codes``) may be returned: a boolean mask, an
                array of allowed ids or a range (see :mod:`qvec.index.filter`); tested inside
                the scan, before the top-k (also before the re-scored shortlist).
            device: "cpu", or "cuda" / "cuda:N" (:mod:`qvec.cuda`): float ADC on the GPU for
                nbits 4 and 8 (the CPU's exact ADC; ``rescore`` is ignored there), the codes
                uploaded for this call.

        Returns (distances float32 (nq, k), ids int64 (nq, k)) best-first: squared distances
        smallest first for "l2", inner products (cosine similarities for "cosine") largest
        first; ties to the smaller id; k > n pads with id -1 and +inf / -inf; shape (k,) each
        for a 1-D query. Ids are row numbers of ``codes``. To re-rank, search k' = 10 * k and
        pass the ids to :func:`qvec.rerank` with the same metric.
        """
        self._require_trained()
        k = check_k(k)
        if isinstance(rescore, str):
            if rescore != "exact":
                raise ValueError(f"rescore must be an integer >= 0 or 'exact'; got {rescore!r}")
            factor, exact = 0, True
        else:
            factor, exact = check_int(rescore, "rescore", minimum=0), False
        q, single = as_queries(queries, "queries", self.dim)
        q = self._prepare(q)
        result: SearchResult
        from .index.filter import id_filter   # (qvec.index imports this module)

        gpu = gpu_device(device)
        if gpu is not None:
            if filter is not None:
                raise ValueError("filter= does not work with device='cuda' yet; search on the CPU (device='cpu')")
            if self.nbits not in (4, 8):
                raise ValueError(f"device='cuda' searches nbits 4 and 8; this quantizer has "
                                 f"nbits={self.nbits}: search on the CPU (device='cpu')")
            if isinstance(codes, FastScanCodes):
                self._require_packed_match(codes)
                codes = codes.to_codes()
            raw = as_codes(codes, "codes", self.code_size)
            return one_row(cuda.pq_search(self._pq, q, raw, k, gpu), single)
        if isinstance(codes, FastScanCodes):
            self._require_packed_match(codes)
            result = self._pq.search_packed(q, codes.data, codes.n, k, factor, exact,
                                            id_filter(filter, codes.n))
        else:
            raw = as_codes(codes, "codes", self.code_size)
            result = self._pq.search(q, raw, k, factor, exact, id_filter(filter, raw.shape[0]))
        return one_row(result, single)

    def search_sdc(self, query_codes: npt.ArrayLike, codes: Union[npt.ArrayLike, FastScanCodes],
                   k: int) -> SearchResult:
        """Symmetric distance (SDC) search: encoded queries ((nq, code_size) uint8, or one
        (code_size,) code) against codes, scored through centroid-to-centroid distances (the
        distance between the two reconstructions); exact for both nbits. ``codes`` may be a
        :class:`FastScanCodes` from :meth:`pack`. Returns (float32, int64) as :meth:`search`.
        """
        self._require_trained()
        k = check_k(k)
        qcodes, single = as_query_codes(query_codes, "query_codes", self.code_size)
        result: SearchResult
        if isinstance(codes, FastScanCodes):
            self._require_packed_match(codes)
            decoded = self._pq.decode(qcodes)
            result = self._pq.search_packed(decoded, codes.data, codes.n, k, 0, True)
        else:
            result = self._pq.search_sdc(qcodes, as_codes(codes, "codes", self.code_size), k)
        return one_row(result, single)

    def _require_packed_match(self, codes: FastScanCodes) -> None:
        if codes.nbits != self.nbits or codes.m != self.m:
            raise ValueError(f"codes were packed for m={codes.m}, nbits={codes.nbits}; this "
                             f"quantizer has m={self.m}, nbits={self.nbits}")

    # -- pickling -----------------------------------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        return {"dim": self.dim, "m": self.m, "nbits": self.nbits, "metric": self.metric,
                "codebooks": self._pq.get_centroids() if self.is_trained else None,
                "opq": self._opq, "rotation": self._rotation, "loss": self._loss,
                "anisotropic_threshold": self._threshold}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["dim"], state["m"], state["nbits"], state["metric"],  # type: ignore[misc]
                      opq=state.get("opq", False), loss=state.get("loss", "mse"),
                      anisotropic_threshold=state.get("anisotropic_threshold", 0.2))
        if state["codebooks"] is not None:
            self.codebooks = state["codebooks"]
        if state.get("rotation") is not None:
            self.rotation = state["rotation"]

    def _normalize(self, x: FloatMatrix) -> FloatMatrix:
        """A normalized copy for "cosine", else x itself."""
        return normalized(x) if self._metric == "cosine" else x

    def _prepare(self, x: FloatMatrix) -> FloatMatrix:
        """x as the core sees it: normalized for "cosine", then rotated with OPQ."""
        x = self._normalize(x)
        return x if self._rotation is None else np.ascontiguousarray(x @ self._rotation)

    def _require_trained(self) -> None:
        if not self.is_trained or (self._opq and self._rotation is None):
            raise NotTrainedError("this ProductQuantizer is not trained: call fit(x) or assign "
                                  "codebooks first")
