"""qvec demo: train quantizers on synthetic clustered data, search, and report recall@10,
speed and memory against exact search. Run with ``python -m qvec.demo``."""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

import numpy as np
import numpy.typing as npt

import qvec

T = TypeVar("T")
Search = Callable[[Any, int], Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]]


def embeddings_like(n: int, dim: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Clustered vectors on a low-dimensional manifold, like real embeddings: 200 clusters,
    32 latent dimensions mapped to dim by a random linear map, plus a little noise."""
    latent = 32
    centers = rng.standard_normal((200, latent)).astype(np.float32) * 2.0
    labels = rng.integers(0, len(centers), size=n)
    z = centers[labels] + rng.standard_normal((n, latent)).astype(np.float32)
    lift = rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    noise = 0.1 * rng.standard_normal((n, dim))
    out: npt.NDArray[np.float32] = (z @ lift + noise).astype(np.float32)
    return out


def timed(fn: Callable[[], T]) -> Tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--rerank", type=int, default=100, help="shortlist re-ranked exactly")
    args = parser.parse_args(argv)
    if args.dim % 8:
        parser.error("--dim must be a multiple of 8")

    rng = np.random.default_rng(0)
    data = embeddings_like(args.n + args.queries, args.dim, rng)
    base, queries = data[: args.n], data[args.n:]
    nq, k, short = args.queries, 10, max(10, args.rerank)
    print(f"qvec {qvec.__version__}  simd={qvec.simd_level()}  threads={qvec.get_num_threads()}")
    print(f"data: {args.n} x {args.dim} float32 ({base.nbytes / 2**20:.1f} MiB), {nq} queries, "
          f"metric l2, k={k}; re-ranking keeps the best {short} codes")

    (_, truth), t_exact = timed(lambda: qvec.exact_search(queries, base, k))
    rows: List[Tuple[str, int, float, float, float]] = [
        ("exact search", 4 * args.dim, 1.0, nq / t_exact, 0.0)]

    def measure(name: str, fit: Callable[[], Any], search: Search,
                stored: Callable[[Any], int]) -> None:
        model, t_fit = timed(fit)
        code_bytes = round(stored(model) / args.n)  # everything the search reads per vector
        (_, found), t_search = timed(lambda: search(model, k))
        rows.append((name, code_bytes, qvec.recall_at_k(found, truth, k), nq / t_search, t_fit))
        (_, cand), t_short = timed(lambda: search(model, short))
        (_, found), t_rerank = timed(lambda: qvec.rerank(queries, cand, base, k))
        rows.append((f"  + exact re-rank of {short}", code_bytes,
                     qvec.recall_at_k(found, truth, k), nq / (t_short + t_rerank), t_fit))

    m8, m4 = args.dim // 4, args.dim // 2
    pq8 = qvec.ProductQuantizer(args.dim, m8, nbits=8)
    measure(f"PQ {m8}x8 (ADC)", lambda: (pq8.fit(base), pq8.pack(pq8.encode(base))),
            lambda model, kk: pq8.search(queries, model[1], kk), lambda model: model[1].nbytes)
    pq4 = qvec.ProductQuantizer(args.dim, m4, nbits=4)
    measure(f"PQ {m4}x4 fast-scan", lambda: (pq4.fit(base), pq4.pack(pq4.encode(base))),
            lambda model, kk: pq4.search(queries, model[1], kk), lambda model: model[1].nbytes)
    bq = qvec.BinaryQuantizer(args.dim, bits=1, metric="l2", rotate="random")
    measure("binary 1 bit (asymmetric)", lambda: bq.fit(base).encode(base),
            lambda codes, kk: bq.search(queries, codes, kk), lambda codes: codes.nbytes)

    print()
    print(f"{'method':<30}{'bytes/vec':>10}{'recall@10':>11}{'queries/s':>12}{'train s':>9}")
    for name, size, recall, qps, t_fit in rows:
        train = f"{t_fit:.2f}" if t_fit else ""
        print(f"{name:<30}{size:>10}{recall:>11.3f}{qps:>12,.0f}{train:>9}")
    print("\n(bytes/vec: codes plus per-vector factors; train s includes encoding the base; the "
          "re-rank rows also keep the float vectors)")


if __name__ == "__main__":
    main()
