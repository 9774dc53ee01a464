"""Ray as the engine of a sharded index: one actor per shard keeps its index resident across
queries; a search is scattered to every actor at once and the answers merged exactly
(:func:`qvec.distributed.core.merge_topk`).

Faults: a shard actor that dies (its process killed, its node lost) is restarted from its
shard file, on the node it ran on while that node lives, and the call is retried once. A shard
that cannot be restarted raises :class:`ShardError` naming it; a search with
``allow_partial=True`` instead returns what the other shards answered and says which did.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt
import ray  # type: ignore[import-untyped, import-not-found, unused-ignore]
from ray.util.scheduling_strategies import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    NodeAffinitySchedulingStrategy)

from .._checks import as_float_matrix, check_int, check_k
from .._errors import FormatError
from ..index.base import Index
from ..index.ids import as_ids, check_new_ids
from .core import merge_topk, sample_rows, shard_bounds, split_rows
from .shard import Shard
from .sources import Factory, SourcePlan, make_empty, plan_source

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
PathLike = Union[str, "os.PathLike[str]"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "qvec-sharded-index"
MANIFEST_VERSION = 1
#: Errors that mean the actor process is gone (not that the call raised).
_DEAD = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)



class _RayShard(Shard):
    """A shard that also says which Ray node it runs on."""

    def info(self) -> Dict[str, Any]:
        return {**super().info(), "node": ray.get_runtime_context().get_node_id()}

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


_RemoteShard = ray.remote(_RayShard)


class ShardError(RuntimeError):
    """A shard failed and could not be restarted; ``shard`` is its number."""

    def __init__(self, shard: int, message: str) -> None:
        super().__init__(message)
        self.shard = shard


def shard_file(number: int) -> str:
    return f"shard-{number:05d}.qvec"


def _ensure_ray(address: Optional[str]) -> None:
    """Connects to the cluster at ``address`` (None: an existing connection, else a new
    local cluster)."""
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


class _Slot:
    """The driver's record of one shard: its actor, the node it runs on and its file."""

    __slots__ = ("handle", "node", "path")

    def __init__(self, handle: Any, node: Optional[str], path: Optional[str]) -> None:
        self.handle, self.node, self.path = handle, node, path


class PendingSearch:
    """A search scattered to every shard; :meth:`result` gathers, recovers and merges.

    With ``rerank=r`` in the parameters the search has two rounds, as in one index: every
    shard returns its best r by code distance, the merged best r are the candidates, and each
    shard re-ranks the candidates it holds by exact distance (merged again into the best k).
    Re-ranking each shard's own best r instead would see more candidates than one index does,
    and answer differently."""

    def __init__(self, index: "ShardedIndex", queries: Any, k: int, params: Dict[str, Any],
                 single: bool, allow_partial: bool) -> None:
        self._index, self._queries, self._k = index, queries, k
        self._single, self._partial = single, allow_partial
        self._params = dict(params)
        self._rerank = self._params.pop("rerank", None)
        if self._rerank is not None:
            self._rerank = check_int(self._rerank, "rerank")
            if self._rerank < k:
                raise ValueError(f"rerank must be >= k = {k}; got {self._rerank}")
        first = (queries, self._rerank or k, self._params)
        self._calls: Dict[int, Tuple[str, Tuple[Any, ...]]] = {
            s: ("search", first) for s in range(index.num_shards)}
        self._futures = self._scatter()

    def _scatter(self) -> Dict[int, Any]:
        slots = self._index._slots
        return {s: getattr(slots[s].handle, method).remote(*args)
                for s, (method, args) in self._calls.items()}

    def _gather(self) -> Dict[int, Tuple[FloatArray, IdArray]]:
        answers: Dict[int, Tuple[FloatArray, IdArray]] = {}
        for s, future in self._futures.items():
            method, args = self._calls[s]
            try:
                answers[s] = ray.get(future)
            except _DEAD as e:
                try:
                    answers[s] = self._index._retry(s, e, method, *args)
                except ShardError:
                    if not self._partial:
                        raise
        if not answers:
            raise ShardError(-1, "no shard answered the search")
        return answers

    def result(self) -> Any:
        """(distances, ids), or (distances, ids, answered shard numbers) with
        ``allow_partial=True``."""
        metric = self._index.metric
        answers = self._gather()
        if self._rerank is not None:
            _, candidates = merge_topk(list(answers.values()), self._rerank, metric)
            self._calls = {s: ("rerank", (self._queries, candidates, self._k))
                           for s in answers}
            self._futures = self._scatter()
            answers = self._gather()
        answered = tuple(sorted(answers))
        dist, ids = merge_topk([answers[s] for s in answered], self._k, metric)
        if self._single:
            dist, ids = dist[0], ids[0]
        return (dist, ids, answered) if self._partial else (dist, ids)


class ShardedIndex:
    """An index split into shards that live in Ray actors, searched as one index: for the same
    data, training and parameters, ``search`` returns the ids and distances one index holding
    every code returns (ties to the smaller id, as one index gives them when ids follow the
    insertion order, which sequential ids do).

    Build with :meth:`build` or :meth:`load`; ``close()`` (or a ``with`` block) ends the
    actors and removes the scratch checkpoints. Calls from several driver threads are
    serialized.
    """

    def __init__(self, slots: List[_Slot], dim: int, metric: str, kind: str, next_id: int,
                 scratch: str, mmap: bool, options: Dict[str, Any],
                 threads: Optional[int]) -> None:
        self._slots, self._dim, self._metric, self._kind = slots, dim, metric, kind
        self._next_id, self._scratch, self._mmap = next_id, scratch, mmap
        self._options, self._threads = options, threads
        self._lock = threading.RLock()
        #: How many shard actors were restarted after a fault (for monitoring and tests).
        self.restarts = 0

    # -- construction --------------------------------------------------------------------
    @classmethod
    def build(cls, source: Any, factory: Factory, num_shards: int, *, metric: str = "l2",
              train_size: Optional[int] = None, seed: int = 0,
              trained: Optional[Index[Any]] = None, column: Optional[str] = None,
              address: Optional[str] = None, actor_options: Optional[Dict[str, Any]] = None,
              threads: Optional[int] = None) -> "ShardedIndex":
        """Builds a sharded index from ``source``.

        Args:
            source: a ``ray.data.Dataset``, a list of ``.npy`` / ``.fvecs`` / ``.fbin`` /
                ``.parquet`` paths (rows in list order), or an (n, dim) array.
            factory: an :func:`qvec.index_factory` description ("PQ16x8", "BIN1", "Flat"...)
                or a callable ``dim -> empty index``.
            num_shards: shards (actors), 1 <= num_shards <= rows; contiguous row ranges.
            metric: "l2", "ip" or "cosine" (for a factory description).
            train_size: rows of the seeded training sample gathered from the shards (None:
                every row); the index's own ``fit`` may subsample further with ``seed``.
            seed: seed of the sample and of ``fit``.
            trained: an already trained, empty index to use instead of training one.
            column: the vector column of a Dataset or parquet source (None: the only one).
            address: the Ray cluster (``ray.init(address=...)``) when not yet connected;
                None starts a local one.
            actor_options: ``.options(...)`` of the shard actors (default: spread over the
                nodes).
            threads: native threads per shard (None: each shard uses all its node's cores).

        Row i of the source gets id i, as in one index.
        """
        num_shards = check_int(num_shards, "num_shards")
        check_int(seed, "seed", minimum=0)
        if train_size is not None:
            check_int(train_size, "train_size")
        _ensure_ray(address)
        plan = plan_source(source, num_shards, column)
        if plan.dim is not None:                     # bad arguments fail before any actor
            if trained is None:
                make_empty(factory, plan.dim, metric)
            else:
                _check_trained(trained, plan.dim)
        options = dict(actor_options or {"scheduling_strategy": "SPREAD"})
        scratch = tempfile.mkdtemp(prefix="qvec-shards-")
        slots = [cls._start(s, None, True, options, threads) for s in range(num_shards)]
        index = cls(slots, plan.dim or 0, metric, "", 0, scratch, False, options, threads)
        try:
            index._fill(plan, factory, metric, trained, train_size, seed)
        except BaseException:
            index.close()
            raise
        return index

    def _fill(self, plan: SourcePlan, factory: Factory, metric: str,
              trained: Optional[Index[Any]], train_size: Optional[int], seed: int) -> None:
        """Loads every shard's rows, trains once, and fills the shards."""
        shapes = ray.get([slot.handle.load_rows.remote(kind, payload, plan.column)
                          for slot, (kind, payload) in zip(self._slots, plan.payloads)])
        sizes = np.array([n for n, _ in shapes], dtype=np.int64)
        dims = {d for n, d in shapes if n}
        if len(dims) != 1:
            raise ValueError(f"the source's rows have differing dimensions: {sorted(dims)}")
        self._dim = dims.pop()
        if trained is None:
            empty = make_empty(factory, self._dim, metric)
            if not empty.is_trained:
                empty.fit(self._sample(sizes, train_size, seed), seed=seed)
            trained = empty
        _check_trained(trained, self._dim)
        self._metric, self._kind = trained.metric, trained.kind
        blob = ray.put(trained.to_bytes())
        firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ray.get([slot.handle.fill.remote(blob, int(first), self._checkpoint(s))
                 for s, (slot, first) in enumerate(zip(self._slots, firsts))])
        for s, (slot, node) in enumerate(zip(self._slots, self._broadcast("node"))):
            slot.path, slot.node = self._checkpoint(s), node
        self._next_id = int(sizes.sum())

    def _sample(self, sizes: IdArray, train_size: Optional[int], seed: int) -> FloatArray:
        """The seeded training sample, gathered from the shards in global row order."""
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        picks = split_rows(sample_rows(int(bounds[-1]), train_size, seed), bounds)
        parts = ray.get([slot.handle.rows.remote(local)
                         for slot, local in zip(self._slots, picks)])
        return np.ascontiguousarray(np.concatenate(parts, axis=0))

    @classmethod
    def load(cls, directory: PathLike, *, mmap: bool = True, address: Optional[str] = None,
             actor_options: Optional[Dict[str, Any]] = None,
             threads: Optional[int] = None) -> "ShardedIndex":
        """Starts one actor per shard of a directory written by :meth:`save`; each maps its
        shard file (``mmap=True``) or reads it. On a multi-node cluster the directory must be
        on a file system every node sees."""
        directory = os.path.abspath(os.fspath(directory))
        manifest = read_manifest(directory)
        _ensure_ray(address)
        options = dict(actor_options or {"scheduling_strategy": "SPREAD"})
        files = [os.path.join(directory, entry["file"]) for entry in manifest["shards"]]
        for s, path in enumerate(files):
            if not os.path.isfile(path):
                raise ShardError(s, f"shard {s} of {len(files)}: {path} is missing")
        slots = [cls._start(s, path, mmap, options, threads) for s, path in enumerate(files)]
        index = cls(slots, manifest["dim"], manifest["metric"], manifest["kind"],
                    manifest["next_id"], tempfile.mkdtemp(prefix="qvec-shards-"), mmap,
                    options, threads)
        try:
            index._check_loaded(manifest)
        except BaseException:
            index.close()
            raise
        return index

    def _check_loaded(self, manifest: Dict[str, Any]) -> None:
        infos = self._broadcast("info")
        for slot, info in zip(self._slots, infos):
            slot.node = info["node"]
        for s, (info, entry) in enumerate(zip(infos, manifest["shards"])):
            if info["ntotal"] != entry["ntotal"] or info["dim"] != self._dim:
                raise FormatError(f"shard {s}: {info['path']} holds {info['ntotal']} vectors "
                                  f"of dim {info['dim']}; the manifest says {entry['ntotal']}"
                                  f" of dim {self._dim}")

    @staticmethod
    def _start(number: int, path: Optional[str], mmap: bool, options: Dict[str, Any],
               threads: Optional[int], node: Optional[str] = None) -> _Slot:
        opts = dict(options)
        if node is not None:   # a restart: back on the node whose disk holds the file
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        handle = _RemoteShard.options(**opts).remote(number, path, mmap, threads)
        return _Slot(handle, None, path)

    # -- properties ----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def kind(self) -> str:
        """The shards' index kind ("flat", "pq", "binary"...)."""
        return self._kind

    @property
    def num_shards(self) -> int:
        return len(self._slots)

    def __len__(self) -> int:
        return sum(info["ntotal"] for info in self._broadcast("info"))

    def shard_sizes(self) -> List[int]:
        return [int(info["ntotal"]) for info in self._broadcast("info")]

    def shard_pids(self) -> List[int]:
        """The process id of every shard actor (for monitoring and fault tests)."""
        return [int(p) for p in self._broadcast("pid")]

    def __repr__(self) -> str:
        return (f"ShardedIndex(kind={self._kind!r}, dim={self._dim}, metric={self._metric!r}, "
                f"num_shards={self.num_shards})")

    # -- searching -----------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int, *, allow_partial: bool = False,
               **params: Any) -> Any:
        """The k best vectors for each query over every shard: (distances float32 (nq, k),
        ids int64 (nq, k)), as one index's ``search`` returns them (1-D query: shape (k,)).
        ``params`` go to every shard's ``search`` (e.g. ``rerank=``). With
        ``allow_partial=True`` a shard that cannot be recovered is left out and the result
        is (distances, ids, answered), answered the numbers of the shards that answered;
        otherwise such a shard raises :class:`ShardError`."""
        return self.search_async(queries, k, allow_partial=allow_partial, **params).result()

    def search_async(self, queries: npt.ArrayLike, k: int, *, allow_partial: bool = False,
                     **params: Any) -> PendingSearch:
        """Scatters the search and returns at once; ``.result()`` gathers and merges."""
        k = check_k(k)
        arr = np.asarray(queries) if queries is not None else queries
        single = isinstance(arr, np.ndarray) and arr.ndim == 1
        q = as_float_matrix(arr.reshape(1, -1) if single else arr, "queries", self._dim,
                            check_finite=True)
        with self._lock:
            return PendingSearch(self, ray.put(q), k, params, single, bool(allow_partial))

    # -- adding and removing -------------------------------------------------------------
    def add(self, x: npt.ArrayLike, ids: Optional[npt.ArrayLike] = None) -> IdArray:
        """Adds (n, dim) vectors under ``ids`` (unique, >= 0, in no shard yet) or under the
        sequential ids one index would give (after the largest id ever used); the rows are
        split into contiguous parts over the shards. Returns the ids."""
        vectors = as_float_matrix(x, "x", self._dim)
        n = vectors.shape[0]
        with self._lock:
            if ids is None:
                new = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
            else:
                new = check_new_ids(ids, n)
                present = np.logical_or.reduce(self._broadcast("contains", new))
                if present.any():
                    raise ValueError(f"ids already in the index (e.g. {new[present][0]}); "
                                     f"remove them first or use other ids")
            bounds = shard_bounds(n, min(n, self.num_shards))
            parts = [(s, int(bounds[s]), int(bounds[s + 1])) for s in range(len(bounds) - 1)]
            futures = [self._slots[s].handle.add.remote(vectors[a:b], new[a:b],
                                                        self._checkpoint(s))
                       for s, a, b in parts]
            for (s, a, b), future in zip(parts, futures):
                self._get(s, future, "add", vectors[a:b], new[a:b], self._checkpoint(s))
                self._slots[s].path = self._checkpoint(s)
            self._next_id = max(self._next_id, int(new.max()) + 1)
        return new

    def remove(self, ids: npt.ArrayLike) -> int:
        """Removes the vectors with these ids from every shard; returns how many were
        removed."""
        wanted = as_ids(ids, -1)
        with self._lock:
            counts = self._broadcast("remove", wanted, None)
            for s, count in enumerate(counts):
                if count:
                    self._slots[s].path = self._checkpoint(s)
        return int(sum(counts))

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: PathLike) -> int:
        """Writes one file per shard (``shard-00000.qvec``...) and then ``manifest.json`` into
        ``directory``; returns the bytes written. On a multi-node cluster the directory must
        be on a file system every node sees. Reload with :meth:`load`."""
        directory = os.path.abspath(os.fspath(directory))
        os.makedirs(directory, exist_ok=True)
        with self._lock:
            files = [os.path.join(directory, shard_file(s)) for s in range(self.num_shards)]
            sizes = self._broadcast_each("save", [(f,) for f in files])
            infos = self._broadcast("info")
            manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                        "kind": self._kind, "dim": self._dim, "metric": self._metric,
                        "next_id": self._next_id,
                        "shards": [{"file": shard_file(s), "ntotal": info["ntotal"],
                                    "bytes": size}
                                   for s, (info, size) in enumerate(zip(infos, sizes))]}
            text = json.dumps(manifest, indent=1)
            tmp = os.path.join(directory, MANIFEST + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, os.path.join(directory, MANIFEST))
        return int(sum(sizes)) + len(text)

    def close(self) -> None:
        """Ends the shard actors and removes the scratch checkpoints (saved directories stay)."""
        with self._lock:
            for s, slot in enumerate(self._slots):
                try:
                    ray.get(slot.handle.delete_checkpoint.remote(self._checkpoint(s)))
                except ray.exceptions.RayError:
                    pass
                ray.kill(slot.handle)
            self._slots = []
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fault handling ------------------------------------------------------------------
    def _checkpoint(self, number: int) -> str:
        return os.path.join(self._scratch, shard_file(number))

    def _broadcast(self, method: str, *args: Any) -> List[Any]:
        return self._broadcast_each(method, [args] * self.num_shards)

    def _broadcast_each(self, method: str, args: Sequence[Tuple[Any, ...]]) -> List[Any]:
        """Calls ``method`` on every shard at once (shard s with ``args[s]``); a shard that
        died is restarted and its call retried. A ``None`` argument is the shard's
        checkpoint path."""
        def fill(s: int, a: Tuple[Any, ...]) -> Tuple[Any, ...]:
            return tuple(self._checkpoint(s) if v is None else v for v in a)

        calls = [fill(s, a) for s, a in enumerate(args)]
        futures = [getattr(slot.handle, method).remote(*a)
                   for slot, a in zip(self._slots, calls)]
        return [self._get(s, f, method, *a) for s, (f, a) in enumerate(zip(futures, calls))]

    def _get(self, s: int, future: Any, method: str, *args: Any) -> Any:
        try:
            return ray.get(future)
        except _DEAD as e:
            return self._retry(s, e, method, *args)

    def _retry(self, s: int, cause: BaseException, method: str, *args: Any) -> Any:
        """Restarts shard ``s`` from its file and calls ``method`` on it again."""
        with self._lock:
            slot = self._slots[s]
            if slot.path is None:
                raise ShardError(s, f"shard {s} of {self.num_shards} died before it had a "
                                    f"file to restart from ({cause})") from cause
            fresh = self._start(s, slot.path, self._mmap, self._options, self._threads,
                                node=slot.node)
            try:
                result = ray.get(getattr(fresh.handle, method).remote(*args))
            except ray.exceptions.RayError as e:
                ray.kill(fresh.handle)
                raise ShardError(s, f"shard {s} of {self.num_shards} died and could not be "
                                    f"restarted from {slot.path}: {e}") from e
            fresh.node = slot.node
            self._slots[s] = fresh
            self.restarts += 1
        return result


def _check_trained(index: Index[Any], dim: int) -> None:
    if not isinstance(index, Index):
        raise TypeError(f"trained must be a qvec index; got {type(index).__name__}")
    if index.dim != dim:
        raise ValueError(f"trained has dim {index.dim}; the source's vectors have dim {dim}")
    if not index.is_trained:
        raise ValueError("trained must be a trained index (call fit() first)")
    if len(index):
        raise ValueError(f"trained must be empty; it holds {len(index)} vectors")


def read_manifest(directory: str) -> Dict[str, Any]:
    """The checked manifest of a sharded index directory."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} has no {MANIFEST}: not a saved ShardedIndex")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise FormatError(f"{path}: not a {MANIFEST_FORMAT} manifest")
    if manifest.get("version") != MANIFEST_VERSION:
        raise FormatError(f"{path}: manifest version {manifest.get('version')!r} is not one "
                          f"this qvec reads ({MANIFEST_VERSION})")
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not shards:
        raise FormatError(f"{path}: the manifest lists no shards")
    return manifest
