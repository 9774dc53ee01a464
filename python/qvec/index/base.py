"""The protocol every index speaks, and the state it keeps.

    index.fit(x, *, seed=0, max_train=None, verbose=False)   # index.train(x) is an alias
    index.add(x, ids=None) -> ids         # int64 user ids; sequential by default
    index.remove(ids) -> int              # number of vectors removed
    index.search(q, k, rerank=None, filter=None)  # (distances float32 (nq, k), user ids int64 (nq, k))
    len(index), id in index, index.dim, index.metric, index.ids, repr(index)
    index.save(path); qvec.load(path, mmap=False); pickle.dumps(index)

**Threads.** An index holds one immutable :class:`State` (the trained model, the row arrays and
the row -> id map). A search reads the state once and works on it to the end; ``add``,
``remove`` and ``fit`` build a new state and swap it in under a lock (copy-on-write). So
searches never block and never see half a change, mutations are serialized (two threads adding
at once get distinct ids), and a search running while another thread adds or removes answers
for the index as it was when the search started. Encoding the new vectors in ``add`` happens
outside the lock, so adds from several threads encode in parallel.
"""
from __future__ import annotations

import abc
import functools
import os
import threading
from typing import (Any, Callable, ClassVar, Dict, Generic, Mapping, Optional, Tuple, TypeVar,
                    Union, cast)

import numpy as np
import numpy.typing as npt

from .._checks import as_float_matrix, check_int
from .._errors import NotTrainedError
from ..cuda import GpuIndex, gpu_device, search_rows as gpu_search_rows
from ..rerank import rerank_rows
from .filter import FilterLike, row_filter
from .ids import IdArray, IdMap, as_ids, check_new_ids
from .storage import Array, Rows, Templates

FloatArray = npt.NDArray[np.float32]
SearchResult = Tuple[FloatArray, IdArray]

#: Metrics of an index. "cosine" stores unit-normalized vectors, normalizes the queries and
#: reports cosine similarities (largest first); the codecs underneath see "ip".
METRICS = ("l2", "ip", "cosine")

ModelT = TypeVar("ModelT")
IndexT = TypeVar("IndexT", bound="Index[Any]")

_NORMALIZE_CHUNK = 1 << 16


def check_index_metric(metric: object) -> str:
    if not isinstance(metric, str) or metric.lower() not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    return metric.lower()


def codec_metric(metric: str) -> str:
    """The metric the codec searches with: cosine is inner product on unit vectors."""
    return "ip" if metric == "cosine" else metric


def unit_rows(x: FloatArray) -> FloatArray:
    """Rows of ``x`` scaled to unit L2 norm (norms in float64, so large finite values do not
    overflow); all-zero rows stay zero, so their cosine with anything is 0."""
    out = np.zeros_like(x)
    for s in range(0, x.shape[0], _NORMALIZE_CHUNK):
        part = x[s:s + _NORMALIZE_CHUNK]
        norms = np.sqrt(np.einsum("ij,ij->i", part, part, dtype=np.float64))[:, None]
        np.divide(part, norms, out=out[s:s + _NORMALIZE_CHUNK], where=norms > 0,
                  casting="same_kind")
    return out


class State(Generic[ModelT]):
    """One consistent state of an index: the model, the row arrays and the row -> id map.
    Never changed once built (``memo`` only caches data derived from it, such as the scan
    layout of the codes)."""

    __slots__ = ("model", "rows", "idmap", "memo")

    def __init__(self, model: ModelT, rows: Rows, idmap: IdMap) -> None:
        self.model = model
        self.rows = rows
        self.idmap = idmap
        self.memo: Dict[str, Any] = {}

    def changed(self, rows: Rows, idmap: IdMap) -> "State[ModelT]":
        return State(self.model, rows, idmap)


class Index(abc.ABC, Generic[ModelT]):
    """The shared index protocol (see the module docstring); subclasses are codecs."""

    kind: ClassVar[str] = ""
    _exact: ClassVar[bool] = False          # search is exact already: rerank changes nothing
    _filterable: ClassVar[bool] = False     # _search_rows takes filter= (qvec.index.filter)

    def __init__(self, dim: int, metric: str, model: ModelT, templates: Templates) -> None:
        self._dim = check_int(dim, "dim")
        self._metric = check_index_metric(metric)
        self._lock = threading.Lock()
        self._state: State[ModelT] = State(model, Rows(templates), IdMap())

    # -- what a codec provides -----------------------------------------------------------
    @abc.abstractmethod
    def _encode(self, model: ModelT, x: FloatArray) -> Dict[str, Array]:
        """Row arrays (one per template) for the float32 (n, dim) vectors ``x``."""

    @abc.abstractmethod
    def _search_rows(self, state: State[ModelT], queries: FloatArray,
                     k: int) -> Tuple[FloatArray, IdArray]:
        """(distances, rows) of the k best rows of ``state`` for (nq, dim) queries. Codecs
        with ``_filterable`` also take ``filter``: a native filter over rows, or None."""

    @abc.abstractmethod
    def _describe(self) -> str:
        """The constructor parameters, for repr()."""

    def _model_trained(self, model: ModelT) -> bool:
        return True

    def _changed(self, state: State[ModelT], rows: Rows, idmap: IdMap, *,
                 encoded: Optional[Mapping[str, Array]] = None,
                 removed: Optional[npt.NDArray[np.int64]] = None) -> State[ModelT]:
        """The state after an add (``encoded``: what _encode returned for the new rows) or a
        remove (``removed``: the sorted rows dropped), called under the lock. A codec that
        keeps data outside the row arrays (IVF's inverted lists) carries it over here."""
        return state.changed(rows, idmap)

    # -- properties ----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        """"l2", "ip" or "cosine"."""
        return self._metric

    @property
    def _codec_metric(self) -> str:
        return codec_metric(self._metric)

    @property
    def ntotal(self) -> int:
        return self._state.idmap.n

    def __len__(self) -> int:
        return self._state.idmap.n

    def __contains__(self, id: object) -> bool:
        """``id in index``: whether a vector with this user id is stored."""
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            return False
        if not 0 <= int(id) <= np.iinfo(np.int64).max:
            return False
        return bool(self._state.idmap.contains(np.array([id], dtype=np.int64))[0])

    def __repr__(self) -> str:
        state = self._state
        trained = "" if self._model_trained(state.model) else ", untrained"
        mapped = ", mmap" if state.rows.is_mapped() else ""
        return (f"{type(self).__name__}({self._describe()}, ntotal={state.idmap.n}"
                f"{trained}{mapped})")

    @property
    def ids(self) -> IdArray:
        """User ids of the stored vectors, int64 (n,), in row order."""
        return self._state.idmap.row_ids().copy()

    @property
    def _templates(self) -> Templates:
        return self._state.rows.templates

    @property
    def keeps_vectors(self) -> bool:
        return "vectors" in self._state.rows.templates

    @property
    def is_trained(self) -> bool:
        return self._model_trained(self._state.model)

    @property
    def bytes_per_vector(self) -> int:
        """Bytes stored per vector (codes, kept vectors and ids), excluding the model."""
        state = self._state
        return state.rows.row_bytes() + (0 if state.idmap.ids is None else 8)

    # -- training ------------------------------------------------------------------------
    def fit(self: IndexT, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False) -> IndexT:
        """Trains the model on (n, dim) vectors (at most ``max_train`` of them, a seeded
        sample; None: the codec's default); returns self. Codecs with a model train only while
        empty (stored codes would not match a new model): on a filled index they raise
        ValueError. FlatIndex has nothing to learn: a no-op."""
        return self

    def train(self: IndexT, x: npt.ArrayLike, **kwargs: Any) -> IndexT:
        """Alias of :meth:`fit`."""
        return self.fit(x, **kwargs)

    def _fit_input(self, x: npt.ArrayLike) -> npt.ArrayLike:
        """Training vectors as the model must see them: unit rows for metric="cosine"."""
        if self._metric != "cosine":
            return x                      # the quantizer checks and converts them
        return unit_rows(as_float_matrix(x, "x", self._dim))

    def _input_rows(self, x: Any, name: str) -> FloatArray:
        """Vectors passed to add() or search() as the codec takes them: float32 (n, dim),
        unit rows for metric="cosine". (An index of codes overrides it.)"""
        rows = as_float_matrix(x, name, self._dim)
        return unit_rows(rows) if self._metric == "cosine" else rows

    def _install_model(self, train: Callable[[], ModelT]) -> None:
        """Trains a new model with ``train()`` (outside the lock: searches and other threads go
        on) and swaps it in, if the index is still empty."""
        self._require_empty()
        model = train()
        with self._lock:
            self._require_empty()
            state = self._state
            self._state = State(model, state.rows, state.idmap)

    def _require_empty(self) -> None:
        n = len(self)
        if n:
            raise ValueError(
                f"{type(self).__name__}.fit(): the index holds {n} vectors encoded with the "
                f"current model, which a new one would make meaningless; remove them first "
                f"(index.remove(index.ids)) or train a new index")

    def _require_trained(self, state: State[ModelT]) -> None:
        if not self._model_trained(state.model):
            raise NotTrainedError(f"this {type(self).__name__} is not trained: call "
                                  f"fit(x) first")

    # -- adding and removing -------------------------------------------------------------
    def add(self, x: npt.ArrayLike, ids: Optional[npt.ArrayLike] = None) -> IdArray:
        """Adds (n, dim) vectors under ``ids`` (int64, unique, >= 0, not yet present) or under
        sequential ids continuing after the largest id ever used. Returns the ids. A failed
        add changes nothing. Safe beside searches and other adds (see the module docstring)."""
        state = self._state
        self._require_trained(state)
        vectors = self._input_rows(x, "x")
        wanted = None if ids is None else check_new_ids(ids, vectors.shape[0])
        encoded = self._encode(state.model, vectors)
        with self._lock:
            current = self._state
            if current.model is not state.model:      # fit() swapped the model meanwhile
                self._require_trained(current)
                encoded = self._encode(current.model, vectors)
            new = current.idmap.allocate(vectors.shape[0], wanted)
            self._state = self._changed(current, current.rows.appended(encoded),
                                        current.idmap.appended(new), encoded=encoded)
        return new

    def remove(self, ids: npt.ArrayLike) -> int:
        """Removes the vectors with these user ids (absent ids are ignored); returns how many
        were removed. The remaining rows keep their order."""
        wanted = as_ids(ids, -1)
        with self._lock:
            state = self._state
            if wanted.size == 0 or state.idmap.n == 0:
                return 0
            rows = np.unique(state.idmap.rows_of(wanted))
            if rows.size:
                self._state = self._changed(state, state.rows.without(rows),
                                            state.idmap.without_rows(rows), removed=rows)
        return int(rows.size)

    # -- searching -----------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int, rerank: Optional[int] = None,
               filter: FilterLike = None,
               device: str = "cpu") -> SearchResult:
        """The k best vectors for each query: (distances float32 (nq, k), user ids int64
        (nq, k)), best first: squared distances for "l2" (smallest first), inner products for
        "ip" and cosine similarities for "cosine" (largest first). A 1-D query (dim,) is one
        query and gives results of shape (k,). k > len(index) pads with id -1 and the worst
        value (+inf for "l2", -inf otherwise).

        rerank: when the index keeps its vectors, fetch the best ``rerank`` (>= k) by code
            distance and return the best k of them by exact distance.
        filter: only these user ids may be returned: a boolean mask over ids, an array of
            allowed ids or an id range (``range`` or ``(start, stop)``); see
            :mod:`qvec.index.filter`. Applied inside the scan: k results whenever k allowed
            ids are stored, fewer pad as above.
        device: "cpu", or "cuda" / "cuda:N" to scan on a GPU (:mod:`qvec.cuda`; the codes are
            uploaded on the first such search and stay there while the index is unchanged).
        """
        gpu = gpu_device(device)
        state = self._state
        self._require_trained(state)
        k = check_int(k, "k")
        arr = np.asarray(queries) if queries is not None else queries
        single = isinstance(arr, np.ndarray) and arr.ndim == 1
        q = self._input_rows(arr.reshape(1, -1) if single else arr, "queries")
        if rerank is not None:
            rerank = check_int(rerank, "rerank")
            if rerank < k:
                raise ValueError(f"rerank must be >= k = {k}; got {rerank}")
        if filter is not None and not self._filterable:
            raise TypeError(f"{type(self).__name__}.search does not take filter= yet")
        allowed = row_filter(filter, state.idmap)
        if allowed is not None and gpu is not None:
            raise ValueError("filter= does not work with device='cuda' yet; search on the CPU "
                             "(device='cpu')")
        # Only filterable codecs take the argument (their _search_rows has it).
        search_rows = (self._search_rows if allowed is None else
                       functools.partial(cast(Any, self._search_rows), filter=allowed))
        if state.idmap.n == 0:
            dist, rows = self._padded(q.shape[0], k)
        elif rerank is None or self._exact:
            dist, rows = search_rows(state, q, k) if gpu is None else self._rows(state, q, k, gpu)
        else:
            if "vectors" not in state.rows.templates:
                raise ValueError("rerank needs the original vectors: create the index with "
                                 "keep_vectors=True (factory suffix ',Refine')")
            _, rows = (search_rows(state, q, rerank) if gpu is None
                          else self._rows(state, q, rerank, gpu))
            vectors = cast(FloatArray, state.rows.get("vectors"))  # float32 (n, dim), as stored
            dist, rows = rerank_rows(q, rows, vectors, k, self._codec_metric)
        labels = state.idmap.map_rows(rows)
        return (dist[0], labels[0]) if single else (dist, labels)

    def _rows(self, state: State[ModelT], q: FloatArray, k: int,
              gpu: Optional[int]) -> Tuple[FloatArray, IdArray]:
        if gpu is None:
            return self._search_rows(state, q, k)
        return gpu_search_rows(self, state, q, k, gpu)

    def to_gpu(self, device: str = "cuda") -> GpuIndex:
        """This index searched on a GPU ("cuda" or "cuda:N"): uploads the codes now and keeps
        them there (see :class:`qvec.cuda.GpuIndex`)."""
        return GpuIndex(self, device)

    def _padded(self, nq: int, k: int) -> Tuple[FloatArray, IdArray]:
        worst = np.float32(np.inf if self._metric == "l2" else -np.inf)
        return (np.full((nq, k), worst, dtype=np.float32),
                np.full((nq, k), -1, dtype=np.int64))

    def reconstruct(self, ids: npt.ArrayLike) -> FloatArray:
        """The stored vectors of these ids (FlatIndex, or indexes that keep vectors; unit
        vectors for metric="cosine"). An absent id raises KeyError."""
        state = self._state
        if "vectors" not in state.rows.templates:
            raise ValueError(f"{type(self).__name__} does not keep vectors")
        wanted = as_ids(ids, -1)
        present = state.idmap.contains(wanted)
        if not present.all():
            raise KeyError(f"id {wanted[~present][0]} is not in the index")
        # rows_of keeps the order of the ids (all present)
        return np.array(state.rows.get("vectors")[state.idmap.rows_of(wanted)])

    # -- persistence (the layouts live in persistence.py) --------------------------------
    def save(self, path: Union[str, "os.PathLike[str]"]) -> int:
        """Saves the index to ``path`` atomically (a temporary file renamed over ``path``: a
        failed save leaves any previous file intact, and saving over a file that an index has
        memory-mapped is safe); returns the file size in bytes. Reload with
        :func:`qvec.load`."""
        from .persistence import save

        return save(self, path)

    def to_bytes(self) -> bytes:
        """The saved file's bytes."""
        from .persistence import to_bytes

        return to_bytes(self)

    def __getstate__(self) -> Dict[str, bytes]:
        return {"qvec_index": self.to_bytes()}

    def __setstate__(self, state: Mapping[str, bytes]) -> None:
        from .persistence import from_bytes

        self.__dict__.update(from_bytes(state["qvec_index"]).__dict__)

    def _restore_state(self, model: ModelT, rows: Rows, idmap: IdMap) -> None:
        """Sets the whole state (for persistence)."""
        self._state = State(model, rows, idmap)

