"""Multi-vector late-interaction search (ColBERT / ColPali style): each document and query is a
bag of token (or patch) embeddings, and a document's score is

    MaxSim(Q, D) = sum over query tokens q of max over document tokens x of <q, x>

computed from the compressed token codes with per-query-token tables (ADC); documents are
never decoded to floats.

    index = qvec.MultiVectorIndex(384, codec="PQ48x8")      # or "PQ96x4fs", "KM256", "BIN1", "Flat"
    index.train(sample_tokens)                              # (n, 384) token vectors
    index.add(docs)                                         # list of (n_i, 384) arrays
    index.add(tokens, offsets=offsets, weights=w, keep=0.4) # or one (T, 384) array + offsets
    scores, ids = index.search(query_tokens, k=10)          # one (t, 384) query -> (k,) each
    scores, ids = index.search([q1, q2], k=10)              # a batch -> (nq, k) each

Codecs (``codec=``): ``"PQ<m>x8"`` (``"PQ<m>"``) 8-bit product quantization, m bytes per token;
``"PQ<m>x4fs"`` 4-bit fast-scan PQ, ceil(m / 2) bytes; ``"KM<K>"`` one k-means codebook of
K <= 256 centroids over the whole vector, 1 byte per token (the table of a query token is its K
centroid similarities); ``"BIN<bits>"`` binary codes (:class:`qvec.BinaryQuantizer`, ``bits``
levels of sign bits), scored as the inner product with the decoded token; ``"Flat"`` float32
tokens, exact. ``"RQ<a>+PQ<m>x8"`` the residual codec (PLAID / ColBERTv2 style, see
:mod:`qvec.index.multivector_residual`): ``a`` levels of 256 full-dimensional k-means
centroids, then PQ<m>x8 of the residual, a + m bytes; its two-stage search takes each query
token's candidates from the best coarse cells (the first one or two levels), not from a scan
of every token. The 8-bit PQ codec takes the options of :class:`qvec.ProductQuantizer`:
``"OPQ<m>,PQ<m>x8"`` learns a rotation, ``",aniso"`` trains for inner products (ScaNN's
anisotropic loss), e.g. ``"OPQ48,PQ48x8,aniso"``.

Search modes: ``mode="exhaustive"`` scores every document (the reference); the default
``mode="two-stage"`` first finds each query token's ``kprime`` best tokens with the codec's own
scanner (8-bit ADC, fast-scan, binary or exact search over all token codes), then scores only
the documents holding them, exactly over their codes; with ``rescore=r`` the best ``r * k`` of
those are re-scored by exact float MaxSim, from the float tokens kept in the index
(``keep_floats=True``: 4 * dim more bytes per token in memory) or from the caller's
``vectors=`` (e.g. a ``numpy.memmap``: the floats stay on disk, the codes in memory). For a
RQ<a>+PQ<m>x8 codec, ``mode="centroid"`` is PLAID's centroid interaction: every document is
scored by MaxSim over its tokens' ``coarse_bytes`` first code bytes (default the a coarse
levels: a table lookups per token instead of a + m), and only the best ``candidates`` are
scored exactly over their codes (then re-scored with ``rescore``, as above); with candidates
>= the document count it is the exhaustive search. For a KM<K> codec, many tokens share each
code, so a query token's kprime best tokens are an arbitrary part (the smallest rows) of its
best centroid's tokens: use ``mode="exhaustive"`` with KM<K> (1 byte per token, already the
cheapest scan). ``hamming=True`` (KM<K> only) scores
with the ceil(log2 K)-bit strings of the centroid indices: a query token becomes its nearest
centroid's bits and sim = bits - Hamming distance.

Rules: scores float32 descending, ties to the smaller id, missing results id -1 and -inf.
An empty document or an empty query is refused (ValueError); a document may hold one token.
``metric`` is "ip" (or "cosine": tokens and queries normalized to unit length).
"""
from __future__ import annotations

import math
import os
import re
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

from .. import _core, _format
from .._checks import as_float_matrix, check_int, check_k
from .._errors import FormatError, NotTrainedError
from ..binary import BinaryCodes, BinaryQuantizer
from ..pq import ProductQuantizer
from .base import unit_rows
from .ids import IdArray, IdMap, as_ids, check_new_ids
from .multivector_residual import ResidualCodec

FloatArray = npt.NDArray[np.float32]
Offsets = npt.NDArray[np.int64]
Bags = Union[Sequence[npt.ArrayLike], npt.ArrayLike]
PathLike = Union[str, "os.PathLike[str]"]

KIND = "multivector"
LAYOUT = 1
MODES = ("two-stage", "centroid", "exhaustive")
_HELP = "'PQ<m>x8', 'PQ<m>x4fs', 'KM<K>' (K <= 256), 'BIN<bits>', 'RQ<a>+PQ<m>x8' or 'Flat'"
_SIGNS = np.array([[1.0 if (c >> (7 - u)) & 1 else -1.0 for u in range(8)]
                   for c in range(256)], dtype=np.float32)          # (256, 8): packbits order


def parse_codec(codec: object) -> Tuple[str, int, int]:
    """(family, a, b): ("pq", m, nbits), ("km", K, 0), ("bin", bits, 0), ("rq", levels, m)
    or ("flat", 0, 0)."""
    if not isinstance(codec, str):
        raise TypeError(f"codec must be a string ({_HELP}); got {type(codec).__name__}")
    text = codec.strip()
    pq = re.fullmatch(r"PQ(\d+)(?:x(4|8))?(fs)?", text, flags=re.IGNORECASE)
    km = re.fullmatch(r"KM(\d+)", text, flags=re.IGNORECASE)
    binary = re.fullmatch(r"BIN(\d+)", text, flags=re.IGNORECASE)
    rq = re.fullmatch(r"RQ(\d+)\+PQ(\d+)(?:x8)?", text, flags=re.IGNORECASE)
    if rq:
        return "rq", int(rq.group(1)), int(rq.group(2))
    if pq:
        nbits = int(pq.group(2) or (4 if pq.group(3) else 8))
        if pq.group(3) and nbits != 4:
            raise ValueError(f"codec {codec!r}: fast-scan ('fs') codes are 4-bit")
        return "pq", int(pq.group(1)), nbits
    if km:
        k = int(km.group(1))
        if not 2 <= k <= 256:
            raise ValueError(f"codec {codec!r}: K must be in [2, 256] (1-byte codes)")
        return "km", k, 0
    if binary:
        return "bin", int(binary.group(1)), 0
    if text.lower() == "flat":
        return "flat", 0, 0
    raise ValueError(f"unknown codec {codec!r}; expected {_HELP}")


def pq_options(codec: str) -> Tuple[bool, bool, str]:
    """(opq, anisotropic, the codec without them) of "[OPQ<m>,]PQ<m>x<b>[,aniso]": a learned
    rotation (OPQ) and ScaNN's score-aware loss, as :class:`qvec.ProductQuantizer` offers."""
    parts = [p.strip() for p in codec.split(",")]
    opq = len(parts) > 1 and re.fullmatch(r"OPQ\d+", parts[0], flags=re.IGNORECASE) is not None
    if opq:
        parts = parts[1:]
    aniso = len(parts) > 1 and parts[-1].lower() == "aniso"
    if aniso:
        parts = parts[:-1]
    base = ",".join(parts)
    if opq or aniso:
        family, m, _ = parse_codec(base)
        if family != "pq":
            raise ValueError(f"codec {codec!r}: 'OPQ<m>,' and ',aniso' go with a PQ codec")
        if opq and codec.split(",")[0].strip().upper() != f"OPQ{m}":
            raise ValueError(f"codec {codec!r}: the OPQ token must match the PQ's m "
                             f"(write 'OPQ{m},{base}')")
    return opq, aniso, base


def _bags(docs: Bags, dim: int, offsets: Optional[npt.ArrayLike],
          name: str) -> Tuple[FloatArray, Offsets]:
    """(tokens float32 (T, dim), offsets int64 (n + 1,)) of a list of (n_i, dim) arrays or of one
    (T, dim) array with offsets. Refuses empty bags."""
    if offsets is None:
        if isinstance(docs, np.ndarray) and docs.ndim == 2:
            raise ValueError(f"{name}: a single (T, dim) array needs offsets=; for one bag pass "
                             f"[{name}]")
        if isinstance(docs, (str, bytes)) or not hasattr(docs, "__len__"):
            raise TypeError(f"{name} must be a list of (n_i, {dim}) arrays")
        parts = []
        for i, bag in enumerate(docs):  # type: ignore[arg-type]
            arr = np.asarray(bag)
            if arr.ndim != 2 or arr.shape[1] != dim:
                raise ValueError(f"{name}[{i}] must be float32 of shape (n_i, {dim}); got "
                                 f"{arr.dtype} {arr.shape}")
            if arr.shape[0] == 0:
                raise ValueError(f"{name}[{i}] has no tokens (empty bags are refused)")
            parts.append(arr)
        if not parts:
            raise ValueError(f"{name} is empty")
        sizes = np.array([p.shape[0] for p in parts], dtype=np.int64)
        tokens = as_float_matrix(np.concatenate(parts), name, dim)
    else:
        tokens = as_float_matrix(cast(npt.ArrayLike, docs), name, dim)
        off = np.asarray(offsets)
        if off.ndim != 1 or off.dtype.kind not in "iu" or off.size < 2:
            raise ValueError(f"offsets must be a 1-D integer array of n + 1 >= 2 entries; got "
                             f"{off.dtype} {off.shape}")
        off = off.astype(np.int64)
        if off[0] != 0 or off[-1] != tokens.shape[0]:
            raise ValueError(f"offsets must start at 0 and end at len({name}) = "
                             f"{tokens.shape[0]}; got {off[0]} .. {off[-1]}")
        sizes = np.diff(off)
        if (sizes < 0).any():
            raise ValueError("offsets must be non-decreasing")
        if (sizes == 0).any():
            raise ValueError(f"{name}: bag {int(np.argmax(sizes == 0))} has no tokens (empty "
                             f"bags are refused)")
    out = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return tokens, out


def prune(offsets: Offsets, weights: npt.NDArray[np.float32], keep: float) -> npt.NDArray[np.int64]:
    """Rows of the tokens to keep: in each bag of n tokens the ceil(keep * n) (at least 1) of
    largest weight, ties to the earlier token, in their original order."""
    rows: List[npt.NDArray[np.int64]] = []
    for b in range(offsets.size - 1):
        s, e = int(offsets[b]), int(offsets[b + 1])
        n = e - s
        want = max(1, math.ceil(keep * n - 1e-9))
        order = np.argsort(-weights[s:e], kind="stable")[:want]
        rows.append(np.sort(order) + s)
    return np.concatenate(rows).astype(np.int64)


class _State:
    """One consistent state: the row arrays (token codes, float tokens, factors), the document
    offsets and the document ids. Never changed once built; ``memo`` caches derived arrays
    (scan layouts, token -> document map)."""

    __slots__ = ("codes", "factors", "floats", "offsets", "idmap", "memo")
    codes: Any          # uint8 (T, code_size), or None for Flat / before the first add
    factors: Any        # float32 (T, 3 + bits) for BIN, else None
    floats: Any         # float32 (T, dim) for Flat / keep_floats, else None

    def __init__(self, codes: Optional[np.ndarray], factors: Optional[np.ndarray],
                 floats: Optional[np.ndarray], offsets: Offsets, idmap: IdMap) -> None:
        self.codes, self.factors, self.floats = codes, factors, floats
        self.offsets, self.idmap = offsets, idmap
        self.memo: Dict[str, Any] = {}

    @property
    def ntokens(self) -> int:
        return int(self.offsets[-1])


def _concat(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if b is None:
        return a
    return b if a is None or a.shape[0] == 0 else np.concatenate([a, b])


class MultiVectorIndex:
    """Bags of token embeddings, compressed, searched by MaxSim (see the module docstring).

    Args:
        dim: token dimension.
        codec: "PQ<m>x8", "PQ<m>x4fs", "KM<K>", "BIN<bits>" or "Flat".
        metric: "ip" or "cosine".
        keep_floats: also keep the float32 tokens, for ``search(..., rescore=r)``.
    """

    kind = KIND

    def __init__(self, dim: int, codec: str = "PQ32x8", metric: str = "ip",
                 keep_floats: bool = False) -> None:
        self._dim = check_int(dim, "dim")
        if not isinstance(codec, str):
            raise TypeError(f"codec must be a string ({_HELP}); got {type(codec).__name__}")
        self._opq, self._aniso, base = pq_options(codec)
        self._family, self._a, self._b = parse_codec(base)
        if not isinstance(metric, str) or metric.lower() not in ("ip", "cosine"):
            raise ValueError(f"metric must be 'ip' or 'cosine' (MaxSim sums similarities); "
                             f"got {metric!r}")
        self._metric = metric.lower()
        self._keep_floats = bool(keep_floats) or self._family == "flat"
        self._model: Any = None
        if self._family == "pq":
            self._new_pq()                                     # checks m divides dim
        elif self._family == "bin":
            BinaryQuantizer(dim, self._a, "ip")                # checks bits
        elif self._family == "rq":
            ResidualCodec(dim, self._a, self._b)               # checks levels and m
        self._lock = threading.Lock()
        self._state = _State(None, None, None, np.zeros(1, dtype=np.int64), IdMap())

    # -- properties ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def codec(self) -> str:
        f, a, b = self._family, self._a, self._b
        if f == "pq" and (self._opq or self._aniso):
            return (f"OPQ{a}," if self._opq else "") + f"PQ{a}x{b}" + ("fs" if b == 4 else "") \
                + (",aniso" if self._aniso else "")
        return {"pq": f"PQ{a}x{b}" + ("fs" if b == 4 else ""), "km": f"KM{a}",
                "bin": f"BIN{a}", "rq": f"RQ{a}+PQ{b}x8", "flat": "Flat"}[f]

    @property
    def is_trained(self) -> bool:
        return self._family == "flat" or self._model is not None

    @property
    def ntotal(self) -> int:
        """Number of documents."""
        return self._state.idmap.n

    @property
    def ntokens(self) -> int:
        return self._state.ntokens

    @property
    def ids(self) -> IdArray:
        """The document ids, in insertion order (a copy)."""
        return self._state.idmap.row_ids().copy()

    @property
    def code_size(self) -> int:
        """Bytes of one token's code (float32 tokens for Flat)."""
        f, a, b = self._family, self._a, self._b
        if f == "pq":
            return a if b == 8 else (a + 1) // 2
        if f == "km":
            return 1
        if f == "bin":
            return a * ((self._dim + 7) // 8)
        if f == "rq":
            return a + b
        return 4 * self._dim

    def bytes_per_token(self) -> float:
        """Stored bytes per token: the code, plus the per-token factors (BIN) and the kept
        float tokens (keep_floats); the document offsets and ids are per document."""
        extra = 4 * (3 + self._a) if self._family == "bin" else 0
        floats = 4 * self._dim if self._keep_floats and self._family != "flat" else 0
        return float(self.code_size + extra + floats)

    def __len__(self) -> int:
        return self._state.idmap.n

    def __contains__(self, id: object) -> bool:
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)) or int(id) < 0:
            return False
        return bool(self._state.idmap.contains(np.array([id], dtype=np.int64))[0])

    def __repr__(self) -> str:
        return (f"MultiVectorIndex(dim={self._dim}, codec={self.codec!r}, "
                f"metric={self._metric!r}, ndocs={self.ntotal}, ntokens={self.ntokens}"
                + ("" if self.is_trained else ", untrained") + ")")

    # -- training --------------------------------------------------------------------------
    def train(self, tokens: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
              iters: int = 25) -> "MultiVectorIndex":
        """Trains the codec on a sample of token vectors, float (n, dim). Refused once
        documents are stored (their codes would no longer match)."""
        x = self._prepare(as_float_matrix(tokens, "tokens", self._dim))
        seed = check_int(seed, "seed", minimum=0)
        if self.ntotal:
            raise ValueError("train: the index already holds documents; train a new index")
        f = self._family
        if f == "pq":
            self._model = self._new_pq().fit(x, seed=seed, max_train=max_train, iters=iters)
        elif f == "km":
            self._model = self._km_model(self._km_train(x, seed, max_train, iters))
        elif f == "bin":
            self._model = BinaryQuantizer(self._dim, self._a, "ip").fit(x, seed=seed)
        elif f == "rq":
            if max_train is not None and x.shape[0] > check_int(max_train, "max_train"):
                rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_train,
                                                                  replace=False))
                x = np.ascontiguousarray(x[rows])
            self._model = ResidualCodec(self._dim, self._a, self._b).fit(
                x, seed, check_int(iters, "iters"))
        return self

    fit = train

    def empty_like(self, keep_floats: Optional[bool] = None) -> "MultiVectorIndex":
        """A new empty index with this one's trained codec (to add the same documents pruned
        differently, or another collection, without training again)."""
        other = MultiVectorIndex(self._dim, self.codec, self._metric,
                                 self._keep_floats if keep_floats is None else keep_floats)
        other._model = self._model          # never changed once trained: safe to share
        return other

    def _km_train(self, x: FloatArray, seed: int, max_train: Optional[int],
                  iters: int) -> FloatArray:
        k = self._a
        if x.shape[0] < k:
            raise ValueError(f"tokens has {x.shape[0]} vectors; KM{k} needs at least {k}")
        limit = 256 * k if max_train is None else check_int(max_train, "max_train")
        if x.shape[0] > limit:
            rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], limit, replace=False))
            x = np.ascontiguousarray(x[rows])
        return _core.kmeans(x, k, check_int(iters, "iters"), seed)

    def _km_model(self, centroids: FloatArray) -> Tuple[ProductQuantizer, FloatArray]:
        """One codebook is a 1-subquantizer 8-bit PQ; slots past K repeat centroid 0, so
        encoding (ties to the smaller index) never picks them."""
        pq = ProductQuantizer(self._dim, 1, 8, "ip")
        padded = np.repeat(centroids[:1], 256, axis=0)
        padded[:centroids.shape[0]] = centroids
        pq.codebooks = padded[None]
        return pq, np.ascontiguousarray(centroids, dtype=np.float32)

    def _new_pq(self) -> ProductQuantizer:
        return ProductQuantizer(self._dim, self._a, self._b, "ip", opq=self._opq,
                                loss="anisotropic" if self._aniso else "mse")

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"MultiVectorIndex({self.codec}) is not trained: call "
                                  f"train(tokens) first")

    def _prepare(self, x: FloatArray) -> FloatArray:
        return unit_rows(x) if self._metric == "cosine" else x

    # -- adding and removing ---------------------------------------------------------------
    def _encode(self, x: FloatArray) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        f = self._family
        if f == "pq":
            return self._model.encode(x), None
        if f == "km":
            return self._model[0].encode(x), None
        if f == "rq":
            return self._model.encode(x), None
        if f == "bin":
            codes = self._model.encode(x)
            return codes.codes, codes.factors
        return None, None

    def add(self, docs: Bags, ids: Optional[npt.ArrayLike] = None, *,
            offsets: Optional[npt.ArrayLike] = None, weights: Optional[Bags] = None,
            keep: Optional[float] = None) -> IdArray:
        """Adds documents: a list of (n_i, dim) arrays, or one (T, dim) array with ``offsets``
        (int, n + 1 entries from 0 to T). ids: int64 user ids (default sequential). Pruning:
        ``weights`` (per-token salience, a list of (n_i,) arrays or one (T,) array) with
        ``keep`` in (0, 1] keeps the ceil(keep * n_i) (at least 1) tokens of largest weight of
        each document (ties to the earlier token). Returns the ids."""
        self._require_trained()
        tokens, off = _bags(docs, self._dim, offsets, "docs")
        tokens, off = self._pruned(tokens, off, weights, keep)
        x = self._prepare(tokens)
        codes, factors = self._encode(x)
        floats = x if self._keep_floats else None
        n = off.size - 1
        new_ids = None if ids is None else check_new_ids(as_ids(ids, n), n)
        with self._lock:
            state = self._state
            assigned = state.idmap.allocate(n, new_ids)
            base = state.offsets[-1]
            self._state = _State(_concat(state.codes, codes), _concat(state.factors, factors),
                                 _concat(state.floats, floats),
                                 np.concatenate([state.offsets, base + off[1:]]),
                                 state.idmap.appended(assigned))
        return assigned

    def _pruned(self, tokens: FloatArray, off: Offsets, weights: Optional[Bags],
                keep: Optional[float]) -> Tuple[FloatArray, Offsets]:
        if keep is None and weights is None:
            return tokens, off
        if keep is None or weights is None:
            raise ValueError("pruning needs both weights= and keep=")
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
            raise ValueError(f"keep must be a fraction in (0, 1]; got {keep!r}")
        if isinstance(weights, np.ndarray) and weights.ndim == 1:
            w = weights
        else:
            w = np.concatenate([np.asarray(x).reshape(-1) for x in weights])  # type: ignore[union-attr]
        w = np.asarray(w, dtype=np.float32)
        if w.shape != (tokens.shape[0],) or not np.isfinite(w).all():
            raise ValueError(f"weights must hold one finite weight per token "
                             f"({tokens.shape[0]}); got shape {w.shape}")
        rows = prune(off, w, float(keep))
        sizes = np.array([max(1, math.ceil(keep * int(n) - 1e-9)) for n in np.diff(off)],
                         dtype=np.int64)
        new_off = np.zeros(off.size, dtype=np.int64)
        np.cumsum(sizes, out=new_off[1:])
        return np.ascontiguousarray(tokens[rows]), new_off

    def remove(self, ids: npt.ArrayLike) -> int:
        """Removes the documents with these ids (unknown ids are ignored); returns how many."""
        wanted = as_ids(ids, -1)
        with self._lock:
            state = self._state
            rows = np.unique(state.idmap.rows_of(wanted[state.idmap.contains(wanted)]))
            if rows.size == 0:
                return 0
            gone = np.zeros(state.idmap.n, dtype=bool)
            gone[rows] = True
            sizes = np.diff(state.offsets)
            token_kept = np.repeat(~gone, sizes)
            new_off = np.zeros(int((~gone).sum()) + 1, dtype=np.int64)
            np.cumsum(sizes[~gone], out=new_off[1:])

            def cut(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
                return None if a is None else np.ascontiguousarray(a[token_kept])
            self._state = _State(cut(state.codes), cut(state.factors), cut(state.floats),
                                 new_off, state.idmap.without_rows(rows))
            return int(rows.size)

    # -- search ----------------------------------------------------------------------------
    def search(self, queries: Bags, k: int = 10, *, offsets: Optional[npt.ArrayLike] = None,
               mode: str = "two-stage", kprime: int = 64, rescore: Optional[int] = None,
               hamming: bool = False, filter: Optional[npt.ArrayLike] = None,
               vectors: Optional[np.ndarray] = None, candidates: int = 512,
               coarse_bytes: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """MaxSim top-k. queries: one (t, dim) query -> (scores float32 (k,), ids int64 (k,));
        a list of (t_i, dim) arrays, or one (T, dim) array with ``offsets`` -> (nq, k) each.
        mode: "two-stage" (candidates from each query token's ``kprime`` best tokens, then
        exact MaxSim over their codes), "centroid" (RQ codecs: every document scored by MaxSim
        over its tokens' coarse centroid bytes alone, then exact MaxSim over the codes of the
        best ``candidates`` documents; ``coarse_bytes``: the code bytes per token that first
        stage reads, by default the a coarse levels, more adds the first PQ bytes of the
        residual: a finer and costlier first stage) or "exhaustive". rescore=r: re-score the
        best r * k
        with the kept float tokens (keep_floats=True). hamming: KM<K> only, score with the
        centroid-index bit strings. filter: the document ids allowed (an integer array; ids
        not in the index are ignored): only they are scored (in two-stage mode, among the
        documents the query tokens' hits point to). vectors: the float tokens to re-score with
        instead of the kept ones, float32 C-contiguous (ntokens, dim) in the index's token
        order (the added tokens after pruning, less removed documents; unit rows for
        "cosine"), e.g. a ``numpy.memmap`` so the floats stay on disk while the codes stay in
        memory: only the re-scored documents' rows are read. Needs ``rescore``."""
        self._require_trained()
        k = check_k(k)
        single = offsets is None and isinstance(queries, np.ndarray) and queries.ndim == 2
        bag_list = cast(Bags, [queries] if single else queries)
        q, qoff = _bags(bag_list, self._dim, offsets, "queries")
        q = self._prepare(q)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        if hamming and self._family != "km":
            raise ValueError(f"hamming=True needs a KM<K> codec; this index is {self.codec}")
        if mode == "centroid" and self._family != "rq":
            raise ValueError(f"mode='centroid' needs a residual codec 'RQ<a>+PQ<m>x8' (its "
                             f"coarse centroid bytes); this index is {self.codec}")
        candidates = check_int(candidates, "candidates")
        prefix = self._a if coarse_bytes is None else check_int(coarse_bytes, "coarse_bytes")
        if mode == "centroid" and prefix > self.code_size:
            raise ValueError(f"coarse_bytes must be in [1, {self.code_size}] (the code size); "
                             f"got {prefix}")
        if rescore is not None:
            rescore = check_int(rescore, "rescore")
        state = self._state
        floats = self._rescore_floats(state, rescore, vectors)
        if state.idmap.n == 0:
            nq = qoff.size - 1
            scores = np.full((nq, k), -np.inf, dtype=np.float32)
            ids = np.full((nq, k), -1, dtype=np.int64)
        else:
            allowed = None if filter is None else self._allowed_rows(state, filter)
            width = (candidates, prefix) if mode == "centroid" else check_int(kprime, "kprime")
            scores, ids = self._search(state, q, qoff, k, mode, width, rescore, hamming,
                                       allowed, floats)
        return (scores[0], ids[0]) if single else (scores, ids)

    def _rescore_floats(self, state: _State, rescore: Optional[int],
                        vectors: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """The float tokens the re-scoring reads: the caller's ``vectors`` or the kept ones."""
        if vectors is None:
            if rescore is not None and not self._keep_floats:
                raise ValueError("rescore needs the float tokens: build with keep_floats=True "
                                 "or pass vectors=")
            return cast(Optional[np.ndarray], state.floats)
        if rescore is None:
            raise ValueError("vectors= is read only to re-score: pass rescore= too")
        shape = (state.ntokens, self._dim)
        if (not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32
                or vectors.shape != shape or not vectors.flags.c_contiguous):
            got = (f"{vectors.dtype} {vectors.shape}" if isinstance(vectors, np.ndarray)
                   else type(vectors).__name__)
            raise ValueError(f"vectors must be a C-contiguous float32 array of shape {shape} "
                             f"(one row per stored token; a copy would read it all); got {got}")
        return vectors

    @staticmethod
    def _allowed_rows(state: _State, filter: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Boolean mask over the document rows of the allowed ids."""
        ids = as_ids(filter, -1, "filter")
        mask = np.zeros(state.idmap.n, dtype=bool)
        mask[state.idmap.rows_of(ids[state.idmap.contains(ids)])] = True
        return mask

    def _search(self, state: _State, q: FloatArray, qoff: Offsets, k: int, mode: str,
                kprime: Union[int, Tuple[int, int]], rescore: Optional[int], hamming: bool,
                allowed: Optional[npt.NDArray[np.bool_]] = None,
                floats: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """kprime: the per-token hits of "two-stage"; (candidates, coarse bytes) of
        "centroid"."""
        doc_ids = state.idmap.row_ids()
        cand: Tuple[Optional[np.ndarray], Optional[np.ndarray]] = (None, None)
        nq = qoff.size - 1
        tables = None
        if isinstance(kprime, tuple):                       # mode "centroid"
            tables = self._tables(q, hamming)
            cand = self._centroid_candidates(state, tables[0], qoff, kprime, allowed)
            allowed = None                                  # the first stage applied it
        elif mode == "two-stage":
            hits = self._token_hits(state, q, min(kprime, state.ntokens), hamming)
            cand = _core.maxsim_candidates(hits, qoff, self._doc_of_token(state), state.idmap.n)
        elif allowed is not None:
            rows = np.flatnonzero(allowed).astype(np.int64)
            cand = (np.tile(rows, nq), np.arange(nq + 1, dtype=np.int64) * rows.size)
        if allowed is not None and mode == "two-stage":
            docs, coff = cast(Tuple[np.ndarray, np.ndarray], cand)
            keep = allowed[docs]
            kept = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
            new_off = np.ascontiguousarray(kept[coff], dtype=np.int64)
            cand = (np.ascontiguousarray(docs[keep]), new_off)
        depth = k if rescore is None else k * rescore
        scores, ids = self._score(state, q, qoff, depth, cand, doc_ids, hamming, tables)
        if rescore is None:
            return scores, ids
        valid = ids.reshape(-1) >= 0
        rows = np.full(ids.size, -1, dtype=np.int64)
        rows[valid] = state.idmap.rows_of(ids.reshape(-1)[valid])
        rows = np.sort(rows.reshape(ids.shape), axis=1)
        coff = np.arange(0, rows.size + 1, depth, dtype=np.int64)
        return _core.maxsim_search_float(q, qoff, cast(FloatArray, floats), state.offsets,
                                         doc_ids, rows.reshape(-1), coff, k)

    def _centroid_candidates(self, state: _State, tables: FloatArray, qoff: Offsets,
                             width: Tuple[int, int], allowed: Optional[npt.NDArray[np.bool_]]
                             ) -> Tuple[np.ndarray, np.ndarray]:
        """PLAID's centroid interaction: each document scored by MaxSim over the first p code
        bytes of its tokens (the coarse levels: p table lookups per token instead of a + m),
        the best n kept per query, as ascending document rows (-1 pads, skipped).
        width: (n, p); tables: the full tables (t, a + m, 256), of which the first p serve."""
        n, p = width
        coarse = self._memo(state, f"coarse{p}", lambda: np.ascontiguousarray(
            state.codes[:, :p]))
        rows = np.arange(state.idmap.n, dtype=np.int64)
        nq = qoff.size - 1
        c0: Optional[np.ndarray] = None
        c1: Optional[np.ndarray] = None
        if allowed is not None:
            kept = np.flatnonzero(allowed).astype(np.int64)
            c0, c1 = np.tile(kept, nq), np.arange(nq + 1, dtype=np.int64) * kept.size
        keep = max(1, min(n, state.idmap.n))
        top = _core.maxsim_search_codes(np.ascontiguousarray(tables[:, :p]), None, 1, qoff,
                                        coarse, None, state.offsets, rows, c0, c1, keep)[1]
        top = np.sort(top, axis=1)
        return (np.ascontiguousarray(top.reshape(-1)),
                np.arange(nq + 1, dtype=np.int64) * keep)

    def _score(self, state: _State, q: FloatArray, qoff: Offsets, k: int,
               cand: Tuple[Optional[np.ndarray], Optional[np.ndarray]], doc_ids: IdArray,
               hamming: bool, made: Optional[Tuple[FloatArray, Optional[FloatArray], int]] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        if self._family == "flat":
            return _core.maxsim_search_float(q, qoff, state.floats, state.offsets, doc_ids,
                                             cand[0], cand[1], k)
        tables, bias, groups = self._tables(q, hamming) if made is None else made
        weights = self._memo(state, "alphas", lambda: np.ascontiguousarray(
            state.factors[:, 3:3 + self._a])) if self._family == "bin" else None
        return _core.maxsim_search_codes(tables, bias, groups, qoff, state.codes, weights,
                                         state.offsets, doc_ids, cand[0], cand[1], k)

    def tables(self, queries: npt.ArrayLike, hamming: bool = False
               ) -> Tuple[FloatArray, Optional[FloatArray], int]:
        """The per-query-token tables the scorer uses: (tables float32 (t, code bytes, 256),
        bias (t,) or None, groups); sim(q_i, token) = sum_g weight_g * sum of the token's
        table entries in run g, plus bias[i]."""
        self._require_trained()
        return self._tables(self._prepare(as_float_matrix(queries, "queries", self._dim)),
                            hamming)

    def _tables(self, q: FloatArray, hamming: bool) -> Tuple[FloatArray, Optional[FloatArray], int]:
        f = self._family
        if f == "km" and hamming:
            bits = self._centroid_bits()
            qc = self._model[0].encode(q)[:, 0].astype(np.int64)
            c = np.arange(256)
            diff = np.bitwise_xor(qc[:, None], c[None, :])
            pop = np.unpackbits(diff.astype(np.uint8)[..., None], axis=-1).sum(-1)
            return np.ascontiguousarray((bits - pop)[:, None, :], dtype=np.float32), None, 1
        if f == "rq":
            return self._model.tables(q), None, 1
        if f in ("pq", "km"):
            pq = self._model if f == "pq" else self._model[0]
            t = pq.distance_tables(q)
            if f == "pq" and self._b == 4:
                t = _pair_tables(t)
            return np.ascontiguousarray(t, dtype=np.float32), None, 1
        bq: BinaryQuantizer = self._model
        rotated = q if bq.rotation is None else q @ bq.rotation
        lb = (self._dim + 7) // 8
        padded = np.zeros((q.shape[0], lb * 8), dtype=np.float32)
        padded[:, :self._dim] = rotated
        level = padded.reshape(q.shape[0], lb, 8) @ _SIGNS.T          # (t, lb, 256)
        tables = np.ascontiguousarray(np.tile(level, (1, self._a, 1)), dtype=np.float32)
        bias = np.ascontiguousarray(q @ bq.mean, dtype=np.float32)
        return tables, bias, self._a

    def _centroid_bits(self) -> int:
        return max(1, math.ceil(math.log2(self._a)))

    def centroid_bit_codes(self) -> npt.NDArray[np.uint8]:
        """KM<K>: each token's centroid index as a ceil(log2 K)-bit string, packed as
        numpy.packbits (uint8 (ntokens, 1)); searchable with :func:`qvec.hamming_search`."""
        if self._family != "km":
            raise ValueError(f"centroid bit codes need a KM<K> codec; this index is {self.codec}")
        state = self._state
        bits: npt.NDArray[np.uint8] = self._memo(
            state, "bits", lambda: self._bit_strings(state.codes[:, 0]))
        return bits

    def _bit_strings(self, centroid: np.ndarray) -> npt.NDArray[np.uint8]:
        shifted = np.left_shift(centroid.astype(np.uint16), 8 - self._centroid_bits())
        return np.ascontiguousarray(shifted.astype(np.uint8)[:, None])

    def _token_hits(self, state: _State, q: FloatArray, kprime: int,
                    hamming: bool) -> npt.NDArray[np.int64]:
        """Each query token's kprime best tokens (rows), from the codec's scanner."""
        f = self._family
        if f == "flat":
            return _core.exact_search(q, state.floats, kprime, "ip")[1]
        if f == "bin":
            codes = BinaryCodes(state.codes, state.factors)
            return cast(npt.NDArray[np.int64], self._model.search(q, codes, kprime)[1])
        if f == "rq":
            cells = self._memo(state, "cells", lambda: self._model.cell_index(state.codes))
            return cast(npt.NDArray[np.int64],
                        self._model.cell_hits(self._model.tables(q), cells, kprime))
        if f == "km" and hamming:
            qbits = self._bit_strings(self._model[0].encode(q)[:, 0])
            return _core.hamming_search(qbits, self.centroid_bit_codes(), kprime)[1]
        pq = self._model if f == "pq" else self._model[0]
        packed = self._memo(state, "packed", lambda: pq.pack(state.codes))
        return cast(npt.NDArray[np.int64], pq.search(q, packed, kprime)[1])

    def _doc_of_token(self, state: _State) -> npt.NDArray[np.int64]:
        return cast(npt.NDArray[np.int64], self._memo(state, "doc_of_token", lambda: np.repeat(
            np.arange(state.idmap.n, dtype=np.int64), np.diff(state.offsets))))

    @staticmethod
    def _memo(state: _State, key: str, build: Any) -> Any:
        value = state.memo.get(key)
        if value is None:
            value = state.memo[key] = build()
        return value

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: PathLike) -> int:
        """Writes the index (docs/FORMAT.md, kind "multivector"); returns the bytes written.
        Load with :func:`qvec.load` (``mmap=True`` maps the token arrays)."""
        return _format.save_atomic(path, *layout(self))

    @staticmethod
    def load(path: PathLike, mmap: bool = False) -> "MultiVectorIndex":
        from .persistence import load
        index = load(path, mmap=mmap)
        if not isinstance(index, MultiVectorIndex):
            raise FormatError(f"{os.fspath(path)}: holds a {type(index).__name__}, not a "
                              f"MultiVectorIndex")
        return index


def _pair_tables(t: FloatArray) -> FloatArray:
    """4-bit tables (t, m, 16) -> byte tables (t, ceil(m / 2), 256) over the nibble pairs of
    the codes: entry b of byte j is t[2j][b & 15] + t[2j + 1][b >> 4]."""
    nt, m, _ = t.shape
    if m % 2:
        t = np.concatenate([t, np.zeros((nt, 1, 16), dtype=t.dtype)], axis=1)
    lo, hi = t[:, 0::2, :], t[:, 1::2, :]
    b = np.arange(256)
    return lo[:, :, b & 15] + hi[:, :, b >> 4]


# ------------------------------------------------------------------------------------------
# file layout (docs/FORMAT.md, "multivector"); registered in persistence.py
# ------------------------------------------------------------------------------------------
def layout(index: MultiVectorIndex) -> Tuple[str, Dict[str, Any], List[Tuple[str, np.ndarray]]]:
    state = index._state
    params: Dict[str, Any] = {
        "layout": LAYOUT, "dim": index.dim, "codec": index.codec, "metric": index.metric,
        "keep_floats": index._keep_floats, "trained": index.is_trained, "ndocs": state.idmap.n,
        "ntokens": state.ntokens, "next_id": state.idmap.next_id}
    arrays: List[Tuple[str, np.ndarray]] = []
    f, model = index._family, index._model
    if model is not None:
        if f == "pq":
            arrays.append(("codebooks", model.codebooks))
            if model.rotation is not None:
                arrays.append(("rotation", model.rotation))
        elif f == "km":
            arrays.append(("centroids", model[1]))
        elif f == "rq":
            arrays += model.arrays()
        elif f == "bin":
            arrays.append(("mean", model.mean))
            if model.rotation is not None:
                arrays.append(("rotation", model.rotation))
            params["rotate"] = model.rotate
    arrays.append(("offsets", state.offsets))
    arrays.append(("ids", state.idmap.row_ids()))
    for name, arr in (("codes", state.codes), ("factors", state.factors),
                      ("vectors", state.floats)):
        if arr is not None:
            arrays.append((name, arr))
    return KIND, params, arrays


def _array(arrays: Dict[str, Any], name: str, dtype: type, shape: Tuple[int, ...]) -> np.ndarray:
    arr = arrays.get(name)
    if arr is None or arr.dtype != np.dtype(dtype) or arr.shape != shape:
        got = None if arr is None else f"{arr.dtype} {arr.shape}"
        raise FormatError(f"array {name!r} must be {np.dtype(dtype)} {shape}; got {got}")
    return cast(np.ndarray, arr)


def _int(params: Dict[str, Any], key: str) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 63:
        raise FormatError(f"parameter {key!r} missing or out of range ({value!r})")
    return value


def read(params: Dict[str, Any], arrays: Dict[str, Any], version: int) -> MultiVectorIndex:
    """The reader persistence.load dispatches to for kind "multivector"."""
    if params.get("layout") != LAYOUT:
        raise FormatError(f"multivector layout {params.get('layout')!r} is not {LAYOUT}")
    dim, ndocs, ntokens = _int(params, "dim"), _int(params, "ndocs"), _int(params, "ntokens")
    if dim < 1:
        raise FormatError("parameter 'dim' must be >= 1")
    index = MultiVectorIndex(dim, params.get("codec"), params.get("metric"),   # type: ignore[arg-type]
                             keep_floats=bool(params.get("keep_floats")))
    f, a = index._family, index._a
    if params.get("trained") is True and f != "flat":
        if f == "pq":
            pq = index._new_pq()
            pq.codebooks = _array(arrays, "codebooks", np.float32, (a, 1 << index._b, dim // a))
            if index._opq:
                pq.rotation = _array(arrays, "rotation", np.float32, (dim, dim))
            index._model = pq
        elif f == "km":
            index._model = index._km_model(np.asarray(_array(arrays, "centroids", np.float32,
                                                              (a, dim))))
        elif f == "rq":
            rq = ResidualCodec(dim, a, index._b)
            index._model = rq.restore(
                _array(arrays, "rq_centroids", np.float32, (a, 256, dim)),
                _array(arrays, "codebooks", np.float32, (index._b, 256, rq.padded // index._b)))
        else:
            bq = BinaryQuantizer(dim, a, "ip")
            rotate = params.get("rotate")
            rotation = None if rotate is None else _array(arrays, "rotation", np.float32,
                                                           (dim, dim))
            bq.__setstate__({"dim": dim, "bits": a, "metric": "ip", "rotate": rotate,
                             "mean": _array(arrays, "mean", np.float32, (dim,)),
                             "rotation": rotation})
            index._model = bq
    elif ntokens and f != "flat":
        raise FormatError("untrained multivector index with stored tokens")
    offsets = np.array(_array(arrays, "offsets", np.int64, (ndocs + 1,)))
    sizes = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != ntokens or (sizes < 1).any():
        raise FormatError("document offsets are not bags of >= 1 token ending at ntokens")
    ids = _array(arrays, "ids", np.int64, (ndocs,))
    next_id = _int(params, "next_id")
    if ndocs and (int(ids.min()) < 0 or int(ids.max()) >= next_id or np.unique(ids).size != ndocs):
        raise FormatError("ids are negative, duplicated or beyond next_id")
    codes = factors = floats = None
    if f != "flat" and ntokens:
        codes = _array(arrays, "codes", np.uint8, (ntokens, index.code_size))
        if f == "bin":
            factors = _array(arrays, "factors", np.float32, (ntokens, 3 + a))
    if index._keep_floats and ntokens:
        floats = _array(arrays, "vectors", np.float32, (ntokens, dim))
    index._state = _State(codes, factors, floats, offsets,
                          IdMap(ndocs, 0, np.asarray(ids, dtype=np.int64), next_id))
    return index
