#!/usr/bin/env python3
"""Recall / queries-per-second benchmark of qvec against faiss-cpu and rabitqlib, in the spirit
of ann-benchmarks.

For each dataset and each method, every build parameter set is built once (timed, all
threads), then every search parameter set is timed over all queries with 1 thread and with all
threads (best of --runs). Recall@1/10 come from the timed search at k = --k; recall@100 from
one more, untimed, search at k = 100. Results go to OUT/results.json, OUT/results.md and one
OUT/<dataset>.png per dataset (recall@10 against queries/s, Pareto frontier per method).

Scan rates (queries/s x n x bytes per vector read by the scan) are reported as a fraction of
this machine's memory read bandwidth, measured in the same run (bench/bandwidth.py). Queries
are batched, so a code read from memory serves many queries and the fraction can exceed 1.

Examples:
    python bench/ann.py --dataset gcide-minilm --dataset synthetic --out bench/results
    python bench/ann.py --dataset synth:n=100000,d=128 --methods 'qvec-*,faiss-pq*' --quick
    python bench/ann.py --dataset base.fvecs,queries=q.fvecs,gt=gt.ivecs,metric=l2
    python bench/ann.py --dataset gcide-minilm --dataset synthetic-1m --methods '*ivf*,scann*,usearch*' \
        --threads 2 --no-recall100 --out bench/results/ivf     # the README's IVF comparison
    python bench/ann.py --list
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bandwidth  # noqa: E402
import datasets  # noqa: E402
import methods as registry  # noqa: E402
from recall import pareto_frontier, recalls  # noqa: E402


def log(*args) -> None:
    print(time.strftime("[%H:%M:%S]"), *args, file=sys.stderr, flush=True)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(threads: int, bw: dict) -> dict:
    import qvec

    env = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
           "python": platform.python_version(), "numpy": np.__version__,
           "qvec": getattr(qvec, "__version__", "?"), "qvec_simd": qvec.simd_level(),
           "bandwidth": bw, "command": " ".join(sys.argv),
           "loadavg_start": list(os.getloadavg())}
    for module in ("faiss", "rabitqlib", "scann", "usearch"):
        try:
            env[module] = getattr(__import__(module), "__version__", None) or _dist_version(module)
        except ImportError:
            env[module] = None
    return env


def _dist_version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "installed"


def timed_search(method, index, queries, k: int, threads: int, params: dict, runs: int,
                 min_time: float = 0.0):
    """(queries/s, ids) of the fastest search with `threads` threads: at least `runs`
    searches, more (up to 50) until `min_time` seconds are spent, so that short searches on a
    busy machine get several chances."""
    registry.set_threads(threads)
    best, ids, spent, count = float("inf"), None, 0.0, 0
    while count < max(1, runs) or (spent < min_time and count < 50):
        start = time.perf_counter()
        ids = method.search(index, queries, k, threads, **params)
        elapsed = time.perf_counter() - start
        best, spent, count = min(best, elapsed), spent + elapsed, count + 1
    return queries.shape[0] / best, np.asarray(ids)


def run_method(method, ds, args, bw: dict) -> List[dict]:
    records = []
    n, d = ds.base.shape
    for bparams in method.build_params(d, args.quick):
        registry.set_threads(args.threads)
        start = time.perf_counter()
        index = method.build(ds, **bparams)
        build_s = time.perf_counter() - start
        for sparams in method.search_params(bparams, args.quick):
            rec = {"dataset": ds.name, "method": method.name, "library": method.library,
                   "build": bparams, "search": sparams, "k": args.k, "build_s": build_s}
            # The untimed recall@100 search (or a plain one) also warms caches and thread pools.
            if not args.no_recall100 and ds.gt.shape[1] >= 100 and n >= 100:
                ids100 = method.search(index, ds.queries, 100, args.threads, **sparams)
                rec["recall@100"] = recalls(ids100, ds.gt, (100,))[100]
            else:
                method.search(index, ds.queries, args.k, args.threads, **sparams)
            qps_all, ids = timed_search(method, index, ds.queries, args.k, args.threads,
                                        sparams, args.runs, args.min_time)
            rec.update({f"recall@{r}": v for r, v in recalls(ids, ds.gt, (1, 10)).items()})
            if args.threads > 1 and not args.no_single:
                qps_1, _ = timed_search(method, index, ds.queries, args.k, 1, sparams, args.runs,
                                        args.min_time)
            else:
                qps_1 = qps_all if args.threads == 1 else None
            total_bytes, scan_bytes = method.memory(index, ds, bparams, sparams)
            rec.update({"qps_1": qps_1, "qps_all": qps_all, "threads_all": args.threads,
                        "bytes_per_vector": total_bytes, "scan_bytes_per_vector": scan_bytes})
            for tag, qps in (("1", qps_1), ("all", qps_all)):
                if qps is None:
                    continue
                gbps = qps * n * scan_bytes / 1e9
                rec[f"scan_gbps_{tag}"] = gbps
                ref = bw.get(f"read_gbps_{tag}")
                rec[f"bw_frac_{tag}"] = gbps / ref if ref else None
            log(f"  {method.name} {bparams} {sparams}: R@10={rec.get('recall@10', float('nan')):.3f}"
                f" QPS={qps_all:,.0f} ({args.threads} thr)")
            records.append(rec)
        del index
    return records


# ------------------------------------------------------------------------------- reports

def _fmt_params(p: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in p.items()) or "-"


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _load(avg) -> str:
    return "-" if not avg else "/".join(f"{v:.1f}" for v in avg)


LEVELS = (0.90, 0.95)


def best_at(rows: List[dict], method: str, level: float, key: str):
    """(queries/s, the record) of the fastest point of a method reaching recall@10 >= level."""
    pts = [r for r in rows if r["method"] == method and r.get(key) is not None
           and r.get("recall@10", 0.0) >= level]
    if not pts:
        return None, None
    rec = max(pts, key=lambda r: r[key])
    return rec[key], rec


def _common_ratio(rows: List[dict], method: str, pool: List[str]) -> str:
    """qvec over the best of pool at the highest recall@10 (floored to 0.01) that the qvec
    method and at least one peer reach: a comparison where 0.90 is out of reach."""
    def top(m):
        return max((r.get("recall@10", 0.0) for r in rows if r["method"] == m), default=0.0)

    level = np.floor(100 * min(top(method), max(top(p) for p in pool))) / 100
    cells = []
    for key in ("qps_1", "qps_all"):
        mine = best_at(rows, method, level, key)[0]
        theirs = [q for q in (best_at(rows, p, level, key)[0] for p in pool) if q is not None]
        cells.append("-" if mine is None or not theirs else f"{mine / max(theirs):.2f}x")
    return f"R@10 >= {level:.2f}: " + " / ".join(cells)


def summary(results: List[dict], env: dict, infos: Dict[str, dict]) -> str:
    """Per dataset, each method's best queries/s at recall@10 >= 0.90 and >= 0.95 (1 and all
    threads), and each qvec method over the best faiss method of its group (the same codec)
    and over the best method of any other library in that group."""
    thr = env["threads"]
    lines = ["# Best queries/s at a recall@10 level", ""]
    for name in infos:
        rows = [r for r in results if r["dataset"] == name]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        groups = {m: registry.REGISTRY[m].group if m in registry.REGISTRY else ""
                  for m in methods}
        lines += [f"## {name}", "",
                  "| method | group | bytes/vec | build s | max R@10 | "
                  + " | ".join(f"q/s @{lv:.2f} {t}" for lv in LEVELS for t in ("1 thr",
                                                                                  f"{thr} thr"))
                  + " | settings @0.90 / @0.95 |",
                  "|---|---|---:|---:|---:|" + "---:|" * (2 * len(LEVELS)) + "---|"]
        for m in methods:
            cells, settings = [], []
            for lv in LEVELS:
                for key in ("qps_1", "qps_all"):
                    q, rec = best_at(rows, m, lv, key)
                    cells.append(_num(q, ",.0f"))
                    if key == "qps_all":
                        settings.append(_fmt_params(rec["search"]) if rec else "-")
            any_rec = next(r for r in rows if r["method"] == m)
            top = max(r.get("recall@10", 0.0) for r in rows if r["method"] == m)
            lines.append(f"| {m} | {groups[m] or '-'} | {any_rec['bytes_per_vector']:.1f} | "
                         f"{any_rec['build_s']:.1f} | {top:.3f} | " + " | ".join(cells) + " | "
                         + " / ".join(settings) + " |")
        lines += ["", "| qvec method | peer (best in its group) | "
                  + " | ".join(f"ratio @{lv:.2f} {t}" for lv in LEVELS for t in ("1 thr",
                                                                                  f"{thr} thr"))
                  + " | at the best recall both reach (1 / " + f"{thr} thr) |",
                  "|---|---|" + "---:|" * (2 * len(LEVELS)) + "---|"]
        for m in methods:
            if not m.startswith("qvec") or not groups[m]:
                continue
            peers = [p for p in methods if groups[p] == groups[m] and not p.startswith("qvec")]
            for label, pool in (("faiss", [p for p in peers if p.startswith("faiss")]),
                                ("any library", peers)):
                if not pool:
                    continue
                cells, names = [], []
                for lv in LEVELS:
                    for key in ("qps_1", "qps_all"):
                        mine = best_at(rows, m, lv, key)[0]
                        theirs = [(best_at(rows, p, lv, key)[0], p) for p in pool]
                        theirs = [t for t in theirs if t[0] is not None]
                        if not theirs:
                            cells.append("peer never reaches it" if mine else "-")
                            continue
                        best_q, best_p = max(theirs)
                        names.append(best_p)
                        cells.append("-" if mine is None else f"{mine / best_q:.2f}x")
                lines.append(f"| {m} | best {label}: {', '.join(dict.fromkeys(names)) or '-'} | "
                             + " | ".join(cells) + " | " + _common_ratio(rows, m, pool) + " |")
        lines.append("")
    return "\n".join(lines)


def markdown(results: List[dict], env: dict, infos: Dict[str, dict]) -> str:
    bw = env["bandwidth"]
    lines = [f"# qvec benchmarks: {env['cpu']}, {env['date']}", "",
             f"{env['cores']} cores, {env['threads']} threads for 'all'; qvec {env['qvec']} "
             f"({env['qvec_simd']}), faiss {env['faiss']}, rabitqlib {env['rabitqlib']}, "
             f"scann {env.get('scann')}, usearch {env.get('usearch')}. Load average "
             f"{_load(env.get('loadavg_start'))} at the start, {_load(env.get('loadavg_end'))} "
             f"at the end. "
             f"Memory read bandwidth {bw['read_gbps_1']:.1f} GB/s (1 thread), "
             f"{bw['read_gbps_all']:.1f} GB/s (all), {bw['source'].split()[0]} probe.", ""]
    for name, info in infos.items():
        rows = [r for r in results if r["dataset"] == name]
        thr = env["threads"]
        lines += [f"## {name}: {info['n']:,} x {info['d']}, metric {info['metric']}, "
                  f"{info['nq']:,} queries, k={rows[0]['k'] if rows else '-'}", "",
                  f"| method | build | search | bytes/vec | build s | R@1 | R@10 | R@100 | "
                  f"QPS 1 thr | QPS {thr} thr | scan GB/s ({thr} thr) | of bandwidth |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(
                f"| {r['method']} | {_fmt_params(r['build'])} | {_fmt_params(r['search'])} | "
                f"{r['bytes_per_vector']:.1f} | {r['build_s']:.2f} | "
                f"{_num(r.get('recall@1'), '.3f')} | {_num(r.get('recall@10'), '.3f')} | "
                f"{_num(r.get('recall@100'), '.3f')} | {_num(r['qps_1'], ',.0f')} | "
                f"{r['qps_all']:,.0f} | {_num(r.get('scan_gbps_all'), '.1f')} | "
                f"{_num(r.get('bw_frac_all'), '.0%')} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: List[dict], name: str, info: dict, env: dict, path: Path) -> None:
    """recall@10 against queries/s, one panel per thread count (1 and all), the Pareto
    frontier of each method as a line, its other points faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r["dataset"] == name and "recall@10" in r]
    keys = [("qps_1", "1 thread"), ("qps_all", f"{env['threads']} threads")]
    keys = [kv for kv in keys if any(r.get(kv[0]) for r in rows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(7 * len(keys), 5.5), squeeze=False)
    methods = sorted({r["method"] for r in rows})
    colors = plt.get_cmap("tab20").colors  # 10-colour cycles repeat past ten methods
    for ax, (key, label) in zip(axes[0], keys):
        for i, method in enumerate(methods):
            pts = [(r["recall@10"], r[key]) for r in rows if r["method"] == method and r.get(key)]
            if not pts:
                continue
            front = [pts[j] for j in pareto_frontier(pts)]
            line, = ax.plot([p[0] for p in front], [p[1] for p in front], marker="o", ms=4,
                            label=method, color=colors[(2 * i) % 20 + (2 * i) // 20],
                            linestyle="-" if method.startswith("qvec") else "--",
                            linewidth=2.0 if method.startswith("qvec") else 1.2)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=8, alpha=0.3,
                       color=line.get_color())
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel(f"queries/s ({label}, batches of {info['nq']:,}, log scale)")
        ax.set_title(f"{name} ({info['n']:,} x {info['d']}, {info['metric']}), {label}",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{env['cpu']}, {env['date']}, load average {_load(env.get('loadavg_start'))}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", action="append", default=[],
                   help="dataset spec (repeatable): gcide-minilm, synthetic, synth:n=..,d=.., "
                        "or PATH[,queries=Q][,gt=G][,metric=ip][,nq=N]; see bench/datasets.py")
    p.add_argument("--methods", default=None, help="comma-separated globs, e.g. 'qvec-*,faiss-pq'")
    p.add_argument("--out", default="bench/results", help="output folder")
    p.add_argument("--k", type=int, default=10, help="neighbours per timed search")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="'all threads' count")
    p.add_argument("--runs", type=int, default=3, help="timed searches per point (best kept)")
    p.add_argument("--min-time", type=float, default=0.5,
                   help="keep timing a point until this many seconds are spent (at most 50 runs)")
    p.add_argument("--max-queries", type=int, default=None, help="use only the first N queries")
    p.add_argument("--quick", action="store_true", help="small parameter grids")
    p.add_argument("--no-single", action="store_true", help="skip the 1-thread timings")
    p.add_argument("--no-recall100", action="store_true", help="skip the recall@100 search")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    p.add_argument("--bandwidth-mib", type=int, default=256, help="bandwidth probe buffer, MiB")
    p.add_argument("--nlist", type=int, default=0,
                   help="inverted lists of every IVF method (0: qvec's auto_nlist(n))")
    p.add_argument("--nprobe", default="", help="IVF nprobe sweep, e.g. 8,16,32,64 "
                   "(default methods.NPROBE)")
    p.add_argument("--ivf-rerank", default="", help="IVF re-rank factors (x k candidates), "
                   "e.g. 2,5 (default methods.IVF_RERANK)")
    p.add_argument("--pq4-m", type=int, default=0, help="m of the 4-bit IVF PQ methods and "
                   "ScaNN's AH (0: d / 2, i.e. d / 2 bytes)")
    p.add_argument("--ef", default="", help="HNSW expansion_search sweep (default "
                   "methods.HNSW_EF)")
    p.add_argument("--report", default="", metavar="RESULTS_JSON",
                   help="only rewrite results.md, summary.md and the plots in --out from a "
                        "results.json (or results.partial.json) of an earlier run")
    p.add_argument("--list", action="store_true", help="list the methods and exit")
    args = p.parse_args(argv)
    if args.k < 1 or args.threads < 1 or args.runs < 1:
        p.error("--k, --threads and --runs must be >= 1")
    if not args.list and not args.dataset and not args.report:
        p.error("give at least one --dataset")
    return args


def write_reports(out: Path, results: List[dict], env: dict, infos: Dict[str, dict],
                  plots: bool) -> None:
    (out / "results.md").write_text(markdown(results, env, infos))
    (out / "summary.md").write_text(summary(results, env, infos))
    if plots and importlib.util.find_spec("matplotlib") is None:
        log("matplotlib is not installed: no plots (pip install matplotlib)")
        plots = False
    if plots:
        for name, info in infos.items():
            plot(results, name, info, env, out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_reports(out, saved["results"], saved["environment"], saved["datasets"],
                      not args.no_plot)
        log(f"rewrote the reports in {out} from {args.report}")
        return 0
    if args.list:
        for m in registry.REGISTRY.values():
            print(f"{m.name:26s} {m.library:10s} {'available' if m.available() else 'not available'}")
        return 0
    registry.IVF_NLIST = args.nlist
    registry.PQ4_M = args.pq4_m
    for flag, attr in ((args.nprobe, "NPROBE"), (args.ivf_rerank, "IVF_RERANK"),
                       (args.ef, "HNSW_EF")):
        if flag:
            setattr(registry, attr, tuple(int(v) for v in flag.split(",")))
    selected = registry.select(args.methods)
    if not selected:
        log("no available method matches", args.methods)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log("measuring memory bandwidth")
    bw = bandwidth.measure(args.bandwidth_mib, args.threads)
    env = environment(args.threads, bw)
    results: List[dict] = []
    errors: List[dict] = []
    infos: Dict[str, dict] = {}
    for spec in args.dataset:
        log("dataset", spec)
        ds = datasets.load_dataset(spec, args.max_queries)
        infos[ds.name] = {"spec": spec, "n": int(ds.base.shape[0]), "d": int(ds.base.shape[1]),
                          "nq": int(ds.queries.shape[0]), "metric": ds.metric, **ds.info}
        for method in selected:
            log(f"{ds.name}: {method.name}")
            try:
                results += run_method(method, ds, args, bw)
            except Exception as exc:  # one broken method must not lose the others' results
                log(f"  {method.name} failed: {exc!r}")
                errors.append({"dataset": ds.name, "method": method.name, "error": repr(exc)})
            # Partial results survive a crash or a kill of a long run.
            (out / "results.partial.json").write_text(json.dumps(
                {"environment": env, "datasets": infos, "results": results, "errors": errors},
                indent=1, default=str))
        registry.set_threads(args.threads)
    env["loadavg_end"] = list(os.getloadavg())
    (out / "results.json").write_text(json.dumps(
        {"environment": env, "datasets": infos, "results": results, "errors": errors},
        indent=1, default=str))
    write_reports(out, results, env, infos, not args.no_plot)
    log(f"wrote {out}/results.json, results.md, summary.md and plots")
    for e in errors:
        log(f"FAILED {e['dataset']} {e['method']}: {e['error']}")
    # Optional libraries may reject a dataset; a failing qvec method is a bug.
    return 1 if any(e["method"].startswith("qvec") for e in errors) else 0


if __name__ == "__main__":
    sys.exit(main())
