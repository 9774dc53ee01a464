"""The ``qvec`` command line: build, search, inspect and evaluate saved indexes.

    qvec build base.fvecs index.qvec --factory PQ16x8 --metric l2 --train-size 100000
    qvec search index.qvec queries.fvecs --k 10 --output result.npz
    qvec info index.qvec
    qvec eval index.qvec queries.fvecs groundtruth.ivecs --k 10

Vector files: .npy, .fvecs/.ivecs/.bvecs, .fbin/.u8bin/.i8bin/.ibin (see :mod:`qvec.io`); they
are memory-mapped and streamed in chunks, so inputs larger than memory work. ``build`` also
reads parquet (``qvec build vectors/ index.qvec --column embedding -f PQ16``: a .parquet file or
a folder of them, streamed row group by row group). Every command takes
``--threads``. Bad input exits with status 1 (2 for bad arguments) and one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, Iterator, List, NoReturn, Optional, Protocol, Tuple

import numpy as np
import numpy.typing as npt

from . import io as qio
from ._errors import FormatError
from .evaluate import recall_at_k
from .index import Index, PQIndex, index_factory, load

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the whole usage block
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Bar(Protocol):
    def update(self, n: int) -> Any: ...

    def close(self) -> Any: ...


def _progress(total: int, desc: str, enabled: bool, unit: str = "vec") -> Optional[_Bar]:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    bar: _Bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr)
    return bar


def _set_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None) is not None:
        from . import set_num_threads

        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1; got {args.threads}")
        set_num_threads(args.threads)


def _float_rows(data: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(data[start:stop], dtype=np.float32)


# ------------------------------------------------------------------------------------------
class _Source:
    """The base vectors of ``qvec build``: (n, dim), a sample of rows, and batches in order.
    A memory-mapped array, or parquet files streamed row group by row group (never loaded
    whole: training takes one pass to pick its sample, adding one more)."""

    def __init__(self, path: str, column: Optional[str]) -> None:
        self.path, self.column = path, column
        self.parquet = os.path.isdir(path) or path.lower().endswith(".parquet")
        if self.parquet:
            self.n, self.dim = qio.parquet_shape(path, column)
            self.data: Optional[npt.NDArray[Any]] = None
        else:
            if column is not None:
                raise ValueError(f"--column applies to parquet input only, not {path!r}")
            self.data = qio.read_vectors(path, mmap=True)
            self.n, self.dim = self.data.shape

    def batches(self, size: int) -> Iterator[FloatArray]:
        if self.data is not None:
            for s in range(0, self.n, size):
                yield _float_rows(self.data, s, s + size)
            return
        for group in qio.iter_parquet(self.path, self.column):
            for s in range(0, group.shape[0], size):
                yield group[s:s + size]

    def rows(self, rows: IdArray, size: int) -> FloatArray:
        """float32 vectors of the sorted ``rows``, read ``size`` at a time."""
        out = np.empty((rows.shape[0], self.dim), dtype=np.float32)
        if self.data is not None:
            for s in range(0, rows.shape[0], size):
                out[s:s + size] = self.data[rows[s:s + size]]
            return out
        start, filled = 0, 0
        for batch in self.batches(size):
            stop = start + batch.shape[0]
            hi = int(np.searchsorted(rows, stop))
            out[filled:hi] = batch[rows[filled:hi] - start]
            filled, start = hi, stop
            if filled == rows.shape[0]:
                break
        return out


def cmd_build(args: argparse.Namespace) -> int:
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1; got {args.chunk_size}")
    source = _Source(args.input, args.column)
    n, dim = source.n, source.dim
    if n == 0:
        raise ValueError(f"{args.input}: no vectors")
    index = index_factory(dim, args.factory, metric=args.metric)
    show = not args.quiet
    t0 = time.perf_counter()
    if not index.is_trained:
        size = n if args.train_size is None else min(args.train_size, n)
        if size < 1:
            raise ValueError(f"--train-size must be >= 1; got {args.train_size}")
        rows = (np.arange(n) if size == n else
                np.sort(np.random.default_rng(args.seed).choice(n, size, replace=False)))
        sample = source.rows(rows, args.chunk_size)
        if show:
            print(f"training {index!r} on {size} vectors", file=sys.stderr)
        if isinstance(index, PQIndex):
            index.fit(sample, seed=args.seed, max_train=size, verbose=show, iters=args.iters)
        else:
            index.fit(sample, seed=args.seed, verbose=show)
        del sample
    t_train = time.perf_counter() - t0
    bar = _progress(n, "adding", show)
    for chunk in source.batches(args.chunk_size):
        index.add(chunk)
        if bar is not None:
            bar.update(chunk.shape[0])
    if bar is not None:
        bar.close()
    t_add = time.perf_counter() - t0 - t_train
    size_bytes = index.save(args.output)
    print(f"built {index!r}: train {t_train:.2f} s, add {t_add:.2f} s, wrote {args.output} "
          f"({size_bytes / 1e6:.1f} MB)")
    return 0


def _search_all(index: Index[Any], queries: npt.NDArray[Any], k: int, rerank: Optional[int],
                batch: int, show: bool) -> Tuple[FloatArray, IdArray]:
    nq = queries.shape[0]
    dist = np.empty((nq, k), dtype=np.float32)
    ids = np.empty((nq, k), dtype=np.int64)
    bar = _progress(nq, "searching", show, unit="query")
    for s in range(0, nq, batch):
        q = _float_rows(queries, s, s + batch)
        d, i = index.search(q, k, rerank=rerank)
        dist[s:s + q.shape[0]], ids[s:s + q.shape[0]] = d, i
        if bar is not None:
            bar.update(q.shape[0])
    if bar is not None:
        bar.close()
    return dist, ids


def _queries(path: str, dim: int) -> npt.NDArray[Any]:
    queries: npt.NDArray[Any] = qio.read_vectors(path, mmap=True)
    if queries.shape[1] != dim:
        raise ValueError(f"{path}: queries have dimension {queries.shape[1]}, the index has "
                         f"{dim}")
    if queries.shape[0] == 0:
        raise ValueError(f"{path}: no queries")
    return queries


def cmd_search(args: argparse.Namespace) -> int:
    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ValueError(f"--output must end in .npy (ids only) or .npz (ids and distances); "
                         f"got {args.output!r}")
    index = load(args.index, mmap=args.mmap)
    queries = _queries(args.queries, index.dim)
    t0 = time.perf_counter()
    dist, ids = _search_all(index, queries, args.k, args.rerank, args.batch, not args.quiet)
    elapsed = time.perf_counter() - t0
    if ext == ".npy":
        np.save(args.output, ids)
    else:
        np.savez(args.output, ids=ids, distances=dist)
    print(f"searched {queries.shape[0]} queries, k={args.k} in {elapsed:.3f} s "
          f"({queries.shape[0] / max(elapsed, 1e-9):.0f} queries/s); wrote {args.output}")
    return 0


def index_info(index: Index[Any], path: Optional[str] = None) -> Dict[str, Any]:
    """Parameters and sizes of an index (what ``qvec info`` prints)."""
    info: Dict[str, Any] = {"type": type(index).__name__, "repr": repr(index), "dim": index.dim,
            "metric": index.metric, "ntotal": len(index)}
    for attr in ("m", "nbits", "code_size", "bits", "rotate", "keeps_vectors"):
        if hasattr(index, attr):
            info[attr] = getattr(index, attr)
    raw = 4 * index.dim
    bpv = index.bytes_per_vector
    info["bytes_per_vector"] = bpv
    info["raw_float32_bytes_per_vector"] = raw
    info["compression_ratio"] = raw / bpv if bpv else None
    if path is not None:
        size = os.path.getsize(path)
        info["file_bytes"] = size
        if len(index):
            info["file_bytes_per_vector"] = size / len(index)
            info["file_compression_ratio"] = raw * len(index) / size
    return info


def cmd_info(args: argparse.Namespace) -> int:
    index = load(args.index, mmap=True)
    info = index_info(index, args.index)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{key:>30}: {value}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    index = load(args.index, mmap=args.mmap)
    queries = _queries(args.queries, index.dim)
    truth: npt.NDArray[Any] = qio.read_vectors(args.ground_truth, mmap=False)
    if truth.dtype.kind not in "iu":
        raise ValueError(f"{args.ground_truth}: ground truth must hold integer ids; got "
                         f"{truth.dtype}")
    if truth.shape[0] != queries.shape[0]:
        raise ValueError(f"{args.ground_truth}: {truth.shape[0]} rows of ground truth for "
                         f"{queries.shape[0]} queries")
    if truth.shape[1] < args.k:
        raise ValueError(f"{args.ground_truth}: {truth.shape[1]} neighbours per query, fewer "
                         f"than --k {args.k}")
    t0 = time.perf_counter()
    _, ids = _search_all(index, queries, args.k, args.rerank, args.batch, not args.quiet)
    elapsed = time.perf_counter() - t0
    recall = recall_at_k(ids, truth.astype(np.int64), args.k)
    print(f"recall@{args.k}: {recall:.4f}  ({queries.shape[0]} queries, "
          f"{queries.shape[0] / max(elapsed, 1e-9):.0f} queries/s)")
    return 0


# ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--threads", type=int, default=None,
                        help="threads for native work (default: all cores)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")

    parser = _Parser(prog="qvec", description="Build, search, inspect and evaluate qvec "
                     "indexes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    b = sub.add_parser("build", parents=[common], help="train and fill an index, save it")
    b.add_argument("input", help="base vectors (.npy, .fvecs, .bvecs, .fbin, .u8bin, ...; "
                   ".parquet or a folder of .parquet files, streamed by row group)")
    b.add_argument("output", help="index file to write")
    b.add_argument("--factory", "-f", required=True,
                   help="index description: Flat, PQ48x8, PQ96x4fs, BIN1, PQ16x8,Refine")
    b.add_argument("--metric", "-m", default="l2", help="l2, ip or cosine (default l2)")
    b.add_argument("--train-size", type=int, default=100_000,
                   help="vectors sampled for training (default 100000)")
    b.add_argument("--iters", type=int, default=25, help="k-means iterations (PQ)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--column", default=None,
                   help="parquet input: the column holding the vectors (default: the only "
                        "list column)")
    b.add_argument("--chunk-size", type=int, default=65_536,
                   help="vectors read and added at a time (default 65536)")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", parents=[common], help="search an index, save ids/distances")
    s.add_argument("index")
    s.add_argument("queries")
    s.add_argument("--k", "-k", type=int, default=10)
    s.add_argument("--output", "-o", required=True, help=".npy (ids) or .npz (ids, distances)")
    s.add_argument("--rerank", type=int, default=None,
                   help="re-rank this many candidates exactly (index must keep vectors)")
    s.add_argument("--mmap", action="store_true", help="memory-map the index")
    s.add_argument("--batch", type=int, default=10_000, help="queries per batch")
    s.set_defaults(func=cmd_search)

    i = sub.add_parser("info", parents=[common], help="print parameters and sizes")
    i.add_argument("index")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    e = sub.add_parser("eval", parents=[common], help="recall@k against ground truth")
    e.add_argument("index")
    e.add_argument("queries")
    e.add_argument("ground_truth", help="true neighbour ids (.ivecs, .ibin, .npy)")
    e.add_argument("--k", "-k", type=int, default=10)
    e.add_argument("--rerank", type=int, default=None)
    e.add_argument("--mmap", action="store_true")
    e.add_argument("--batch", type=int, default=10_000)
    e.set_defaults(func=cmd_eval)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for name in ("k", "batch"):
            if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
                raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}")
        _set_threads(args)
        status: int = args.func(args)
        return status
    except FormatError as e:
        print(f"qvec: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, KeyError, OSError, NotImplementedError, MemoryError,
            ImportError) as e:
        msg = e.strerror + f": {e.filename!r}" if isinstance(e, OSError) and e.strerror \
            and e.filename else str(e)
        print(f"qvec: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qvec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
