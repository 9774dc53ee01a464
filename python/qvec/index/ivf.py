"""IVFIndex: inverted lists over a coarse quantizer, each list holding one codec's codes (float32
vectors, 8-bit PQ, 4-bit fast-scan PQ or binary codes), so a search reads only the ``nprobe``
lists nearest each query.

Rows follow the index protocol (:mod:`qvec.index.base`): the row arrays hold each vector's
list (and kept vectors) in insertion order. The codes are held once, in the inverted lists
(each list's codes contiguous in the codec's scan layout, with its row numbers), as FAISS
keeps them: a state's memo "codes" is (lists, parts): lists covering its first rows (or None)
and the row-major codes of the rows added since, merged into new lists by the first search
(so many small adds cost one re-pack), or mapped from the file by ``qvec.load(path,
mmap=True)``. Codec "flat" builds its lists from the kept vectors.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from .. import _core  # type: ignore[attr-defined, unused-ignore]
from .._checks import as_float_matrix, check_int
from .._progress import progress_callback
from ..binary import DEFAULT_PRUNE_EPS, METHODS, BinaryQuantizer
from ..pq import ProductQuantizer
from ..scalar import ScalarQuantizer
from ..rerank import rerank as rerank_exact
from .base import FloatArray, Index, SearchResult, State, check_index_metric, codec_metric
from .ids import IdArray, IdMap
from .storage import Array, Rows

#: Codec names of IVFIndex, and the layout code the core uses for each.
CODECS = {"flat": 0, "pq8": 1, "pq4": 2, "binary": 3, "sq8": 4}
#: Vectors encoded per batch by add(); a progress bar is shown (verbose=True) per batch.
ADD_BATCH = 1 << 16
#: Coarse training: k-means iterations, and training vectors per list at most by default.
COARSE_ITERS = 10
COARSE_TRAIN_PER_LIST = 64
#: The codec trains on the residuals of at most this many training vectors (a seeded sample;
#: PQ: 256 * 2**nbits, the sample its own fit takes, as FAISS does; 8-bit scalar ranges:
#: all). Each residual needs the vector's list, an assignment costing a k-means iteration.
CODEC_TRAIN_MAX = 65536
#: The automatic rule's bounds: nlist = 4 * sqrt(n) rounded to a power of two, at most
#: n // MIN_PER_LIST and at most MAX_AUTO_NLIST, at least 1.
MIN_PER_LIST = 39
MAX_AUTO_NLIST = 1 << 16
#: The most lists whose numbers are stored as uint16 (assign_dtype); the automatic rule stays
#: within it.
UINT16_LISTS = 1 << 16
assert MAX_AUTO_NLIST <= UINT16_LISTS


def assign_dtype(nlist: Optional[int]) -> np.dtype:
    """The dtype of each row's list number ("assign"): uint16 when every list number fits
    (nlist <= UINT16_LISTS, or chosen by the automatic rule, which stays within it), 2 bytes
    a vector less than int32; int32 above."""
    return np.dtype(np.uint16 if nlist is None or nlist <= UINT16_LISTS else np.int32)


def auto_nlist(n: int) -> int:
    """The ``nlist`` of ``IVFIndex(dim, nlist=None)`` for n training vectors: 4 * sqrt(n)
    rounded to the nearest power of two, halved until it is at most max(1, min(n // 39, 65536)) (k-means wants
    about 39 or more points per centroid). 1M -> 4096, 200k -> 2048, 10k -> 256."""
    if n < 1:
        raise ValueError("the automatic nlist needs at least one training vector")
    power = 1 << max(0, round(math.log2(4.0 * math.sqrt(n))))
    limit = max(1, min(n // MIN_PER_LIST, MAX_AUTO_NLIST))
    while power > limit:
        power //= 2
    return power


class IvfModel:
    """The trained model of an IVFIndex: coarse centroids and the codec's quantizer. Never
    changed once built (setting centroids or codebooks builds a new one)."""

    __slots__ = ("centroids", "codec", "by_residual", "_pq_search", "_probes")

    def __init__(self, centroids: Optional[FloatArray], codec: Any, by_residual: bool) -> None:
        self.centroids = centroids
        self.codec = codec
        self.by_residual = by_residual
        self._pq_search: Any = None
        self._probes: Dict[str, Any] = {}

    @property
    def trained(self) -> bool:
        if self.centroids is None:
            return False
        return self.codec is None or self.codec.is_trained

    @property
    def coarse(self) -> FloatArray:
        """The centroids of a trained model."""
        assert self.centroids is not None     # callers checked that the model is trained
        return self.centroids

    def coarse_probe(self, metric: str) -> Any:
        """The core's coarse probe of these centroids (for L2 with their half-precision shadow,
        which a probe of few queries reads instead), built on first use."""
        probe = self._probes.get(metric)
        if probe is None:
            probe = self._probes.setdefault(metric, _core.IvfCoarseProbe(self.coarse, metric))
        return probe

    def pq_search(self) -> Any:
        """The core's IVF-PQ search (precomputed list terms), built on first use."""
        if self._pq_search is None:
            self._pq_search = _core.IvfPqSearch(self.codec._pq, self.coarse, self.by_residual)
        return self._pq_search


def filtered_nprobe(nprobe: int, nlist: int, allowed: int, total: int) -> int:
    """The lists a filtered search probes: ``nprobe`` doubled for every factor of 16 by which
    the allowed fraction ``allowed / total`` falls below 1/16 (at most ``nlist``). The k
    nearest allowed vectors lie among about the k / s nearest of all, s the fraction, which
    span more lists: 1% of 200k vectors at nprobe 32 reached recall@10 0.997 over the allowed
    set against 0.999 unfiltered; at nprobe 64, 0.999 (bench/filters.py)."""
    if total <= 0 or 16 * allowed >= total:
        return nprobe
    doublings = int(math.log2(total / max(allowed, 1))) // 4
    return min(nlist, nprobe << doublings)


class IVFIndex(Index[IvfModel]):
    """An inverted-file index: ``nlist`` k-means centroids partition the vectors; a search
    scans the ``nprobe`` lists whose centroids are nearest each query (queries probing the same
    list share one read of its codes; all cores; the GIL is released).

    Args:
        dim: vector dimension.
        nlist: number of lists; None picks it at :meth:`fit` from the training size
            (:func:`auto_nlist`: 4 * sqrt(n) rounded to a power of two, clamped).
        codec: "flat" (float32 vectors, exact distances), "pq8" / "pq4" (product quantization
            with ``m`` subquantizers of 8 bits / 4-bit fast-scan) or "binary" (``bits`` bits
            per dimension, :class:`qvec.BinaryQuantizer` with a random rotation) or "sq8"
            (int8 codes, :class:`qvec.ScalarQuantizer` with min/max ranges; exact float
            distances to the decoded codes, as FAISS ``IVF<n>,SQ8``).
        metric: "l2", "ip" or "cosine".
        m: PQ subquantizers (codec "pq8" / "pq4"); must divide dim.
        bits: binary levels (codec "binary").
        method: how binary codes of more than one bit are built (codec "binary"):
            "residual" (each level binarizes what the previous left) or "extended" (extended
            RaBitQ's grid codes: lower error, the same scan; factory ``IVF<n>,RaBitQ<bits>``).
            See :class:`qvec.BinaryQuantizer`.
        by_residual: encode x - (its list's centroid) instead of x. Default True, as FAISS
            does: PQ (L2 tables use the precomputed list terms), SQ8, binary (the RaBitQ
            setting: L2 scores q - c_l against the codes of x - c_l; inner products score q
            and add <q, c_l>).
        keep_vectors: also store the float32 vectors, for ``search(..., rerank=k')``.
        nprobe: the default lists probed per query (search's ``nprobe`` overrides it).

    ``fit`` trains the centroids (k-means on a seeded sample) then the codec on the training
    vectors' residuals; refused once the index holds vectors. ``centroids`` and ``codebooks``
    (PQ) can be read and set on an empty index, for centroids and codebooks trained elsewhere.

    Example:
        >>> index = qvec.IVFIndex(128, 4096, codec="pq4", m=64, keep_vectors=True)
        >>> index.fit(base[:300_000]); index.add(base)
        >>> dist, ids = index.search(queries, 10, nprobe=32, rerank=100)
    """

    kind = "ivf"
    _filterable = True      # _search_rows takes a native row filter (qvec.index.filter)

    def __init__(self, dim: int, nlist: Optional[int] = None, codec: str = "flat",
                 metric: str = "l2", *, m: Optional[int] = None, bits: int = 1,
                 by_residual: Optional[bool] = None, keep_vectors: bool = False,
                 nprobe: int = 8, method: str = "residual") -> None:
        dim = check_int(dim, "dim")
        self._nlist = None if nlist is None else check_int(nlist, "nlist")
        if not isinstance(codec, str) or codec.lower() not in CODECS:
            raise ValueError(f"codec must be one of {tuple(CODECS)}; got {codec!r}")
        self._codec = codec.lower()
        metric = check_index_metric(metric)
        self._m = self._bits = 0
        if self._codec in ("pq8", "pq4"):
            if m is None:
                raise ValueError(f"codec {self._codec!r} needs m (the PQ subquantizers)")
            self._m = check_int(m, "m")
        elif m is not None:
            raise ValueError(f"m applies to the PQ codecs only; got codec {self._codec!r}")
        if self._codec == "binary":
            self._bits = check_int(bits, "bits")
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {method!r}")
        if method != "residual" and self._codec != "binary":
            raise ValueError(f"method applies to the binary codec only; got codec {self._codec!r}")
        self._method = method
        if by_residual is None:
            by_residual = True
        self._by_residual = bool(by_residual) and self._codec != "flat"
        self._keep = bool(keep_vectors) or self._codec == "flat"
        self.nprobe = check_int(nprobe, "nprobe")
        self._call = threading.local()     # this thread's search / add options
        codec_obj = self._new_codec(dim, metric)
        templates: Dict[str, Tuple[np.dtype, Tuple[int, ...]]] = {
            "assign": (assign_dtype(self._nlist), ())}
        #: bytes of one row-major code (the kept vector for "flat")
        self._code_bytes = 4 * dim if self._codec == "flat" else self._row_bytes(dim, codec_obj)
        if self._keep:
            templates["vectors"] = (np.dtype(np.float32), (dim,))
        super().__init__(dim, metric, IvfModel(None, codec_obj, self._by_residual), templates)

    def _new_codec(self, dim: int, metric: str) -> Any:
        if self._codec in ("pq8", "pq4"):
            return ProductQuantizer(dim, self._m, 8 if self._codec == "pq8" else 4,
                                    codec_metric(metric))
        if self._codec == "binary":
            return BinaryQuantizer(dim, bits=self._bits, metric=codec_metric(metric),
                                   rotate="random", method=self._method)
        if self._codec == "sq8":
            return ScalarQuantizer(dim, metric=codec_metric(metric))
        return None

    @staticmethod
    def _row_bytes(dim: int, codec: Any) -> int:
        if isinstance(codec, (ProductQuantizer, ScalarQuantizer)):
            return int(codec.code_size)
        # ivf_binary_pack_rows: the code, zero up to a multiple of 4, the factors (of extended
        # codes past one bit alpha_0 alone of the level scales), then their sign dot
        return int(_core.ivf_binary_row_bytes(codec._bq))

    # -- parameters ------------------------------------------------------------------------
    @property
    def nlist(self) -> Optional[int]:
        """Lists (None until fit() when chosen automatically)."""
        centroids = self._state.model.centroids
        if centroids is None:
            return self._nlist
        return int(centroids.shape[0])

    @property
    def codec(self) -> str:
        return self._codec

    @property
    def by_residual(self) -> bool:
        return self._by_residual

    @property
    def method(self) -> str:
        """The binary codes' form: "residual" or "extended" (see the constructor)."""
        return self._method

    @property
    def quantizer(self) -> Any:
        """The codec's quantizer (ProductQuantizer, BinaryQuantizer, ScalarQuantizer, or None for
        "flat"), shared;
        set PQ codebooks through :attr:`codebooks`, not on it."""
        return self._state.model.codec

    @property
    def centroids(self) -> FloatArray:
        """Coarse centroids, float32 (nlist, dim) (a copy)."""
        centroids = self._state.model.centroids
        if centroids is None:
            raise ValueError("this IVFIndex has no centroids yet: fit() or set them")
        return np.array(centroids)

    @centroids.setter
    def centroids(self, value: npt.ArrayLike) -> None:
        arr = as_float_matrix(value, "centroids", self._dim)
        if self._nlist is not None and arr.shape[0] != self._nlist:
            raise ValueError(f"centroids must have nlist = {self._nlist} rows; got "
                             f"{arr.shape[0]}")
        if arr.shape[0] > UINT16_LISTS and self._nlist is None:
            # the list numbers of an index built with nlist=None are uint16 (assign_dtype)
            raise ValueError(f"centroids of an IVFIndex(nlist=None) are at most "
                             f"{UINT16_LISTS} rows; got {arr.shape[0]}: give nlist")
        arr = np.array(arr)
        arr.setflags(write=False)
        self._swap_model(lambda model: IvfModel(arr, model.codec, model.by_residual))

    @property
    def codebooks(self) -> FloatArray:
        """PQ codebooks, float32 (m, 2**nbits, dim // m) (a copy)."""
        return self._pq_codec().codebooks

    @codebooks.setter
    def codebooks(self, value: npt.ArrayLike) -> None:
        old = self._pq_codec()
        pq = ProductQuantizer(self._dim, old.m, old.nbits, old.metric)
        pq.codebooks = value
        self._swap_model(lambda model: IvfModel(model.centroids, pq, model.by_residual))

    def _pq_codec(self) -> ProductQuantizer:
        codec = self._state.model.codec
        if not isinstance(codec, ProductQuantizer):
            raise ValueError(f"codebooks apply to the PQ codecs; this index is {self._codec!r}")
        return codec

    def _swap_model(self, build: Any) -> None:
        self._require_empty()
        with self._lock:
            self._require_empty()
            state = self._state
            self._state = State(build(state.model), state.rows, state.idmap)

    def _model_trained(self, model: IvfModel) -> bool:
        return model.trained

    # -- training --------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False, iters: int = COARSE_ITERS) -> "IVFIndex":
        """Trains the coarse centroids (k-means with ``iters`` iterations on at most
        ``max_train`` vectors, a seeded sample; None: 64 per list; for ``ip`` and ``cosine``
        spherical k-means, unit-norm centroids, as FAISS trains them) and then the codec on the
        residuals of a seeded sample of them (PQ: 256 * 2**nbits vectors, as FAISS takes;
        binary: CODEC_TRAIN_MAX; 8-bit scalar: all); returns self.
        Raises ValueError if the index holds vectors or x has fewer rows than nlist."""
        seed = check_int(seed, "seed", minimum=0)
        iters = check_int(iters, "iters")
        limit = None if max_train is None else check_int(max_train, "max_train")

        def train() -> IvfModel:
            data = as_float_matrix(self._fit_input(x), "x", self._dim)
            n = data.shape[0]
            nlist = self._nlist if self._nlist is not None else auto_nlist(n)
            if n < nlist:
                raise ValueError(f"fit needs at least nlist = {nlist} training vectors; got {n}")
            sample = limit if limit is not None else COARSE_TRAIN_PER_LIST * nlist
            progress = progress_callback("qvec IVF coarse training", verbose, unit="step")
            centroids = _core.ivf_train_centroids(data, nlist, max(sample, nlist), iters, seed,
                                                  spherical=self._metric != "l2")
            centroids.setflags(write=False)
            if progress is not None:
                progress(1, 1)
            codec = self._new_codec(self._dim, self._metric)
            if codec is not None:
                cx = _codec_sample(data, codec, seed)
                cx = _residuals(cx, centroids) if self._by_residual else cx
                if isinstance(codec, ProductQuantizer):
                    codec.fit(cx, seed=seed, verbose=verbose)
                elif isinstance(codec, ScalarQuantizer):
                    codec.fit(cx)
                else:
                    codec.fit(cx, seed=seed)
            return IvfModel(centroids, codec, self._by_residual)

        self._install_model(train)
        return self

    # -- adding ----------------------------------------------------------------------------
    def add(self, x: npt.ArrayLike, ids: Optional[npt.ArrayLike] = None, *,
            verbose: bool = False) -> IdArray:
        """Adds vectors (see :meth:`Index.add`); they are encoded in batches of ADD_BATCH,
        with a progress bar when ``verbose``."""
        self._call.verbose = verbose
        try:
            return super().add(x, ids)
        finally:
            self._call.verbose = False

    def _encode(self, model: IvfModel, x: FloatArray) -> Dict[str, Array]:
        n = x.shape[0]
        assign = np.empty(n, dtype=self._templates["assign"][0])
        codes = None if self._codec == "flat" else np.empty((n, self._code_bytes), dtype=np.uint8)
        report = progress_callback("qvec IVF add", getattr(self._call, "verbose", False),
                                   unit="vector")
        for s in range(0, n, ADD_BATCH):
            part = x[s:s + ADD_BATCH]
            if isinstance(model.codec, ProductQuantizer) and codes is not None:
                # assignment, residuals and encoding in one native pass (no (n, dim) temporaries)
                a, c = _core.ivf_encode_pq(model.codec._pq, model.coarse, part,
                                           self._by_residual)
                assign[s:s + part.shape[0]] = a
                codes[s:s + part.shape[0]] = c
            elif codes is not None and self._by_residual:
                a, cx = _core.ivf_residuals(part, model.coarse)
                assign[s:s + part.shape[0]] = a
                codes[s:s + part.shape[0]] = self._codes(model.codec, cx)
            else:
                assign[s:s + part.shape[0]] = _core.ivf_assign(part, model.coarse)
                if codes is not None:
                    codes[s:s + part.shape[0]] = self._codes(model.codec, part)
            if report is not None:
                report(s + part.shape[0], n)
        out: Dict[str, Array] = {"assign": assign}
        if codes is not None:
            out["codes"] = codes
        if self._keep:
            out["vectors"] = np.array(x)
        return out

    @staticmethod
    def _codes(codec: Any, x: FloatArray) -> Array:
        if isinstance(codec, ProductQuantizer):
            return codec.encode(x)
        if isinstance(codec, ScalarQuantizer):
            return codec.encode(x).view(np.uint8)
        encoded = codec.encode(x)
        rows: Array = _core.ivf_binary_pack_rows(codec._bq, encoded.codes, encoded.factors,
                                                 encoded.sign_dots)
        return rows

    # -- searching -------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int, rerank: Optional[int] = None,
               filter: Any = None, device: str = "cpu", *, nprobe: Optional[int] = None,
               query_bits: Optional[int] = None, exact: bool = False,
               vectors: Optional[npt.ArrayLike] = None) -> SearchResult:
        """The k best vectors for each query (see :meth:`Index.search`), probing ``nprobe``
        lists per query (default: the index's ``nprobe``; more lists, higher recall, slower).
        rerank: re-rank the best ``rerank`` (>= k) by exact distance from the kept vectors
            (in memory, or in the file when loaded with mmap=True), or from ``vectors``.
        vectors: the caller's (N, dim) float32 vectors indexed by user id, e.g. a
            ``numpy.memmap`` of the dense vectors on disk while the codes stay in memory; only
            the candidates' rows are read. Needs ``rerank``.
        filter: only these user ids may be returned (a boolean mask over ids, an array of
            ids, or an id range; :mod:`qvec.index.filter`), tested inside each list's scan.
            A filter that allows a fraction s < 1/16 of the vectors doubles ``nprobe`` for
            every factor of 16 below (:func:`filtered_nprobe`): the k nearest allowed vectors
            lie among about the k / s nearest, which span more lists.
        exact: codec "pq4": rank by exact float ADC (as ``PQIndex``'s ``rescore="exact"``)
            instead of the quantized tables (each query's tables share one scale, so its lists
            compare; distances are then the quantized approximations). Codec "binary":
            score every code with the float query, in full (:meth:`BinaryQuantizer.search`'s
            exact). Other codecs: ignored (8-bit PQ is always exact ADC).
        query_bits: the binary codec's query. None: method="extended" codes of more than
            one bit score the float query (the extended search of
            :meth:`BinaryQuantizer.search`: each code's sign-bit estimate first, the code in
            full only when its RaBitQ bound can still enter the top k); other codes 4-bit
            (1-bit codes: as accurate as the float query there, and faster on short lists)
            or 8-bit query planes. A number (1..8): the bit-plane estimator of the query
            quantized to that many bits."""
        self._call.nprobe = self.nprobe if nprobe is None else check_int(nprobe, "nprobe")
        if exact and self._codec == "binary" and self._bits > 1 and self._method != "extended":
            raise ValueError("exact=True scores the float query, which needs method='extended' "
                             "or bits=1 binary codes; this index has method='residual', "
                             f"bits={self._bits}")
        self._call.exact = bool(exact)
        float_query = query_bits is None and (
            bool(exact) or (self._method == "extended" and self._bits > 1))
        self._call.query_bits = (0 if float_query else (4 if self._bits == 1 else 8)
                                 if query_bits is None else check_int(query_bits, "query_bits"))
        # filter= is forwarded only when given, so this works with and without the index
        # protocol's filter support
        extra: Dict[str, Any] = {} if filter is None else {"filter": filter}
        if device != "cpu":
            extra["device"] = device     # the base class says which devices this index has
        if vectors is None:
            return super().search(queries, k, rerank, **extra)
        if rerank is None:
            raise ValueError("vectors= is the re-ranking source: pass rerank=k' (>= k) too")
        k = check_int(k, "k")
        if check_int(rerank, "rerank") < k:
            raise ValueError(f"rerank must be >= k = {k}; got {rerank}")
        _, cand = super().search(queries, rerank, **extra)
        return rerank_exact(queries, cand, vectors, k, metric=self._metric)

    @property
    def bytes_per_vector(self) -> int:
        """Bytes stored per vector, excluding the model: the row arrays (list number, kept
        vectors), user ids, and the lists' code and row number of each vector (block padding
        of the scan layouts aside)."""
        return super().bytes_per_vector + self._code_bytes + 8

    def lists(self) -> Any:
        """The inverted lists of the current state (the core's IvfListArrays)."""
        return self._lists(self._state)

    def _lists(self, state: State[IvfModel]) -> Any:
        if self._codec == "flat":
            lists = state.memo.get("lists")
            if lists is None:
                lists = state.memo.setdefault("lists", self._build_lists(
                    state, state.rows.get("vectors").view(np.uint8)))
            return lists
        base, parts = _code_parts(state)
        if base is not None and not parts:
            return base
        lists = self._build_lists(state, self._row_codes(state))
        # one assignment: a reader sees the old (base, parts) or the new lists, never a mix
        state.memo["codes"] = (lists, ())
        return lists

    def _build_lists(self, state: State[IvfModel], codes: Array) -> Any:
        model = state.model
        built = _core.ivf_build_lists(CODECS[self._codec], self._m, np.ascontiguousarray(codes),
                                      np.asarray(state.rows.get("assign"), dtype=np.int32),
                                      int(model.coarse.shape[0]))
        arrays = _core.IvfListArrays(*built)
        if self._codec == "sq8":     # the block headers: decoded norms, for L2
            _core.ivf_sq8_fill_norms(arrays, model.codec._sq)
        return arrays

    def _row_codes(self, state: State[IvfModel]) -> Array:
        """Every row's code, row-major (n, code bytes), in row order: unpacked from the lists
        (what a re-pack, a remove and a FAISS export read)."""
        if self._codec == "flat":
            return state.rows.get("vectors").view(np.uint8)
        base, parts = _code_parts(state)
        pieces: list[Array] = [] if base is None else [
            _core.ivf_unpack_lists(CODECS[self._codec], self._code_bytes, self._m, base)]
        pieces += [p for p in parts if p.shape[0]]
        if len(pieces) == 1:
            return pieces[0]
        if not pieces:
            return np.empty((0, self._code_bytes), dtype=np.uint8)
        return np.concatenate(pieces)

    def _changed(self, state: State[IvfModel], rows: Rows, idmap: IdMap, *,
                 encoded: Optional[Mapping[str, Array]] = None,
                 removed: Optional[npt.NDArray[np.int64]] = None) -> State[IvfModel]:
        out = state.changed(rows, idmap)
        if self._codec == "flat":
            return out
        if removed is not None:
            out.memo["codes"] = (None, (np.delete(self._row_codes(state), removed, axis=0),))
        else:
            assert encoded is not None       # base.add passes what _encode returned
            base, parts = _code_parts(state)
            out.memo["codes"] = (base, parts + (encoded["codes"],))
        return out

    def _restore_codes(self, lists: Any = None, codes: Optional[Array] = None) -> None:
        """Sets the codes of the state just restored (persistence, FAISS import): its
        inverted lists as read from a file, or row-major codes to build them from."""
        if self._codec == "flat":
            if lists is not None:
                self._state.memo["lists"] = lists
            return
        self._state.memo["codes"] = (lists, () if codes is None else (codes,))

    def _search_rows(self, state: State[IvfModel], queries: FloatArray, k: int,
                     filter: Any = None) -> Tuple[FloatArray, IdArray]:
        model = state.model
        lists = self._lists(state)
        centroids = model.coarse
        nlist = int(centroids.shape[0])
        nprobe = min(getattr(self._call, "nprobe", self.nprobe), nlist)
        if filter is not None:
            total = state.idmap.n
            nprobe = filtered_nprobe(nprobe, nlist, filter.count_below(total), total)
        dist: FloatArray
        rows: IdArray
        if self._codec in ("pq8", "pq4"):       # the probe runs inside the scan's call
            dist, rows = model.pq_search().search_nearest(
                model.codec._pq, lists, queries, nprobe, k, getattr(self._call, "exact", False),
                filter)
            return dist, rows
        coarse, probe = model.coarse_probe(self._codec_metric).probe(queries, nprobe)
        if self._codec == "flat":
            dist, rows = _core.ivf_search_flat(lists, queries, self._codec_metric, probe, coarse,
                                               k, filter)
        elif self._codec == "binary":
            # query_bits 0: the float query, pruned with eps (exact: every code in full)
            dist, rows = _core.ivf_search_binary(
                lists, model.codec._bq, centroids if model.by_residual else None,
                model.codec._prepare(queries), probe, coarse, k,
                getattr(self._call, "query_bits", 4),
                math.inf if getattr(self._call, "exact", False) else DEFAULT_PRUNE_EPS, filter)
        else:
            dist, rows = _core.ivf_search_sq8(
                lists, model.codec._sq, centroids if model.by_residual else None, queries, probe,
                coarse, k, filter)
        return dist, rows

    def _describe(self) -> str:
        extra = (f", m={self._m}" if self._m else "") + (f", bits={self._bits}"
                                                         if self._bits else "")
        if self._method != "residual":
            extra += f", method={self._method!r}"
        return (f"dim={self._dim}, nlist={self.nlist}, codec={self._codec!r}{extra}, "
                f"metric={self._metric!r}, by_residual={self._by_residual}, "
                f"keep_vectors={self._keep}")


def _code_parts(state: State[IvfModel]) -> Tuple[Any, Tuple[Array, ...]]:
    """(lists or None, row-major code parts) of a non-flat state (see the module docstring)."""
    parts: Tuple[Any, Tuple[Array, ...]] = state.memo.get("codes", (None, ()))
    return parts


def _codec_sample(x: FloatArray, codec: Any, seed: int) -> FloatArray:
    """The rows of x the codec trains on (see CODEC_TRAIN_MAX), in input order."""
    if isinstance(codec, ScalarQuantizer):
        return x
    size = (256 << codec.nbits) if isinstance(codec, ProductQuantizer) else CODEC_TRAIN_MAX
    if x.shape[0] <= size:
        return x
    rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], size, replace=False))
    return x[rows]


def _residuals(x: FloatArray, centroids: FloatArray) -> FloatArray:
    residuals: FloatArray = _core.ivf_residuals(x, centroids)[1]
    return residuals
