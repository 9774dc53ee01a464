#!/usr/bin/env python3
"""fast-plaid on gcide-tokens, run by bench/multivector.py in fast-plaid's own interpreter (a
venv with fast-plaid and the torch its build was made against; it never imports qvec).

    python plaid_driver.py DATA_DIR NQ NBITS INDEX_DIR THREADS N_IVF_PROBE N_FULL_SCORES

DATA_DIR holds the gcide-tokens arrays (doc_tokens.npy, doc_offsets.npy, query_tokens.npy,
query_offsets.npy); THREADS is a ':'-separated list of thread counts (each timed over all NQ
queries); N_IVF_PROBE and N_FULL_SCORES are ':'-separated lists of equal length, run in pairs.
Prints one line "RESULT" + JSON: build seconds, index bytes on disk per token, peak resident
memory, and per setting the wall / CPU seconds and the top-10 document ids.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np
import torch
from fast_plaid import search


def main() -> None:
    data, nq, nbits, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    threads = [int(v) for v in sys.argv[5].split(":")]
    probes = [int(v) for v in sys.argv[6].split(":")]
    fulls = [int(v) for v in sys.argv[7].split(":")]
    x = np.load(os.path.join(data, "doc_tokens.npy"))
    off = np.load(os.path.join(data, "doc_offsets.npy"))
    q = np.load(os.path.join(data, "query_tokens.npy"))
    qoff = np.load(os.path.join(data, "query_offsets.npy"))
    docs = [torch.from_numpy(x[off[i]:off[i + 1]]) for i in range(len(off) - 1)]
    queries = [torch.from_numpy(q[qoff[i]:qoff[i + 1]]) for i in range(nq)]
    torch.set_num_threads(max(threads))
    t = time.perf_counter()
    index = search.FastPlaid(index=folder, device="cpu")
    index.create(documents_embeddings=docs, nbits=nbits, seed=0)
    build = time.perf_counter() - t
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
    out = {"build_s": build, "bytes_per_token": size / float(off[-1]),
           "torch": torch.__version__, "runs": []}
    for probe, full in zip(probes, fulls):
        run = {"n_ivf_probe": probe, "n_full_scores": full}
        for n in threads:
            torch.set_num_threads(n)
            index.search(queries_embeddings=queries[:2], top_k=10, show_progress=False,
                         n_ivf_probe=probe, n_full_scores=full, n_processes=1)   # warm-up
            w, c = time.perf_counter(), time.process_time()
            res = index.search(queries_embeddings=queries, top_k=10, show_progress=False,
                               n_ivf_probe=probe, n_full_scores=full, n_processes=n)
            run[f"wall_{n}"], run[f"cpu_{n}"] = time.perf_counter() - w, time.process_time() - c
            run["ids"] = [[int(i) for i, _ in r] + [-1] * (10 - len(r)) for r in res]
        out["runs"].append(run)
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT" + json.dumps(out))


if __name__ == "__main__":
    main()
