"""Benchmark tooling: recall helpers on hand-made cases, a smoke run of bench/ann.py, dataset
readers, and (when Google Benchmark is installed) a build of the C++ benchmarks."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import datasets  # noqa: E402
from recall import pareto_frontier, recall_at, recalls  # noqa: E402


# ------------------------------------------------------------------------------- recall

def test_recall_perfect_and_empty():
    gt = np.array([[0, 1, 2], [5, 6, 7]])
    assert recall_at(gt, gt, 3) == 1.0
    assert recall_at(np.array([[9, 8, 7], [1, 2, 3]]), gt, 3) == 0.0


def test_recall_order_within_k_does_not_matter():
    gt = np.array([[0, 1, 2, 3]])
    assert recall_at(np.array([[2, 0, 1, 9]]), gt, 3) == 1.0
    assert recall_at(np.array([[2, 0, 1, 9]]), gt, 1) == 0.0   # top-1 is 2, truth is 0
    assert recall_at(np.array([[9, 0, 1, 2]]), gt, 4) == 0.75


def test_recall_hand_computed_average():
    gt = np.array([[1, 2, 3, 4], [10, 11, 12, 13]])
    ids = np.array([[1, 2, 99, 98], [13, 12, 11, 10]])
    # query 0: 2 of 4; query 1: 4 of 4 -> 0.75.
    assert recall_at(ids, gt, 4) == pytest.approx(0.75)
    # @2: query 0 finds {1, 2} of {1, 2}; query 1 finds neither 10 nor 11 in {13, 12}.
    assert recall_at(ids, gt, 2) == pytest.approx(0.5)
    assert recalls(ids, gt, (1, 2, 4, 10)) == {1: 0.5, 2: 0.5, 4: 0.75}


def test_recall_padding_and_duplicates_never_count():
    gt = np.array([[3, 4]])
    assert recall_at(np.array([[3, -1]]), gt, 2) == 0.5
    assert recall_at(np.array([[3, 3]]), gt, 2) == 0.5        # a duplicate counts once
    assert recall_at(np.array([[-1, -1]]), np.array([[-1, -1]]), 2) == 0.0


def test_recall_rejects_bad_input():
    gt = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="same number of rows"):
        recall_at(np.zeros((3, 3)), gt, 1)
    with pytest.raises(ValueError, match="columns"):
        recall_at(np.zeros((2, 2)), gt, 3)
    with pytest.raises(ValueError, match="k must"):
        recall_at(gt, gt, 0)


def test_pareto_frontier():
    pts = [(0.5, 100.0), (0.9, 10.0), (0.6, 50.0), (0.4, 80.0), (0.9, 5.0), (1.0, 1.0)]
    # (0.4, 80) is beaten by (0.5, 100); (0.9, 5) by (0.9, 10).
    assert pareto_frontier(pts) == [0, 2, 1, 5]
    assert pareto_frontier([]) == []


# ------------------------------------------------------------------------------- datasets

def _write_vecs(path: Path, x: np.ndarray) -> None:
    header = np.full((x.shape[0], 1), x.shape[1], dtype=np.int32)
    np.hstack([header, x.view(np.int32)]).tofile(path)


def test_read_vectors_formats(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    ids = rng.integers(0, 100, size=(7, 3)).astype(np.int32)
    _write_vecs(tmp_path / "a.fvecs", x)
    _write_vecs(tmp_path / "g.ivecs", ids)
    np.save(tmp_path / "a.npy", x)
    with open(tmp_path / "a.fbin", "wb") as f:
        np.array(x.shape, dtype=np.int32).tofile(f)
        x.tofile(f)
    for name in ("a.fvecs", "a.npy", "a.fbin"):
        np.testing.assert_array_equal(datasets.read_vectors(tmp_path / name), x)
    np.testing.assert_array_equal(datasets.read_vectors(tmp_path / "g.ivecs"), ids)
    with pytest.raises(ValueError, match="unsupported vector file extension"):
        datasets.read_vectors(tmp_path / "a.txt")


def test_file_dataset_ground_truth_is_computed_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("QVEC_BENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    _write_vecs(tmp_path / "b.fvecs", x)
    ds = datasets.load_dataset(f"{tmp_path / 'b.fvecs'},nq=20,metric=l2")
    assert ds.base.shape == (280, 8) and ds.queries.shape == (20, 8)
    d2 = ((ds.queries[:, None, :] - ds.base[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(ds.gt[:, 0], d2.argmin(1))
    assert len(list((tmp_path / "cache").glob("gt-*.npy"))) == 1
    again = datasets.load_dataset(f"{tmp_path / 'b.fvecs'},nq=20,metric=l2")
    np.testing.assert_array_equal(again.gt, ds.gt)


# ------------------------------------------------------------------------------- ann.py

def test_ann_smoke_run(tmp_path):
    out = tmp_path / "out"
    methods = "qvec-*,faiss-flat,faiss-pq"
    cmd = [sys.executable, str(BENCH / "ann.py"), "--dataset", "synth:n=2000,d=32,nq=30,seed=1",
           "--methods", methods, "--quick", "--runs", "1", "--min-time", "0", "--threads", "2",
           "--bandwidth-mib", "16", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert report["errors"] == []
    assert report["environment"]["bandwidth"]["read_gbps_1"] > 0
    rows = report["results"]
    by_method = {r["method"] for r in rows}
    assert {"qvec-exact", "qvec-pq8"} <= by_method
    exact = [r for r in rows if r["method"] == "qvec-exact"]
    assert exact[0]["recall@1"] == exact[0]["recall@10"] == exact[0]["recall@100"] == 1.0
    pq = [r for r in rows if r["method"] == "qvec-pq8"]
    assert {r["search"]["rerank"] for r in pq} == {0, 4}
    for r in pq:
        assert 0.0 < r["recall@10"] <= 1.0 and r["qps_1"] > 0 and r["qps_all"] > 0
        assert r["scan_bytes_per_vector"] == r["build"]["m"]
    # Re-ranking 4 * k candidates exactly cannot lose to the plain ADC top-k on average.
    for m in {r["build"]["m"] for r in pq}:
        plain = next(r for r in pq if r["build"]["m"] == m and r["search"]["rerank"] == 0)
        reranked = next(r for r in pq if r["build"]["m"] == m and r["search"]["rerank"] == 4)
        assert reranked["recall@10"] >= plain["recall@10"]
    md = (out / "results.md").read_text()
    assert "| qvec-pq8 |" in md and "synth-2000x32-l2" in md
    png = out / "synth-2000x32-l2.png"
    if importlib.util.find_spec("matplotlib") is None:  # plots are optional, the run is not
        assert not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ann_list_methods():
    proc = subprocess.run([sys.executable, str(BENCH / "ann.py"), "--list"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert "qvec-pq8" in proc.stdout and "qvec-exact" in proc.stdout


def test_exact_rerank_matches_exact_search():
    import qvec

    import methods

    rng = np.random.default_rng(2)
    base = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((12, 16)).astype(np.float32)
    for metric in ("l2", "ip"):
        _, truth = qvec.exact_search(queries, base, 5, metric=metric)
        cand = np.tile(np.arange(500), (12, 1))[:, ::-1].copy()   # every id, reversed
        np.testing.assert_array_equal(methods.exact_rerank(queries, cand, base, 5, metric), truth)


# ------------------------------------------------------------------------------- C++ bench

def _have_google_benchmark() -> bool:
    if shutil.which("cmake") is None:
        return False
    roots = ["/usr", "/usr/local", os.environ.get("CONDA_PREFIX", "/nonexistent")]
    return any(list(Path(r).glob("lib*/**/cmake/benchmark/benchmarkConfig.cmake")) or
               list(Path(r).glob("lib/cmake/benchmark/benchmarkConfig.cmake")) for r in roots)


@pytest.mark.skipif(not _have_google_benchmark(), reason="Google Benchmark (libbenchmark-dev) "
                    "or cmake not installed")
def test_cpp_benchmarks_build_and_run(tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), "-DQVEC_BUILD_PYTHON=OFF",
                    "-DQVEC_BUILD_BENCH=ON", "-DCMAKE_BUILD_TYPE=Release"],
                   check=True, capture_output=True, timeout=120)
    proc = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    bench = build / "bench"
    env = dict(os.environ, QVEC_BENCH_BW_MIB="16")
    # One small kernel benchmark per binary (every SIMD level the CPU has, where the filter
    # leaves the level open).
    for exe, pattern in [("qvec_bench_pq", "adc_scan_u8/scalar/n:2048/m:8"),
                         ("qvec_bench_fastscan", "fastscan_scan/.*/n:2048/m:16/nq:4"),
                         ("qvec_bench_binary", "hamming_tile/.*/nbytes:16/n:4096/nq:16$|"
                                               "binary_scan/.*/nbytes:16/n:4096/levels:4/planes:8")]:
        run = subprocess.run([str(bench / exe), f"--benchmark_filter={pattern}",
                              "--benchmark_min_time=0.001", "--benchmark_format=json"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 0, run.stderr
        rows = json.loads(run.stdout)["benchmarks"]
        assert rows, exe
        for row in rows:
            assert row["bytes_per_second"] > 0 and row["items_per_second"] > 0, row["name"]
    probe = subprocess.run([str(bench / "qvec_bandwidth"), "16", "1"], capture_output=True,
                           text=True, timeout=60, check=True)
    assert json.loads(probe.stdout)["read_gbps_1"] > 0
    # pq_fvecs end to end on a small .fvecs file.
    rng = np.random.default_rng(3)
    _write_vecs(tmp_path / "x.fvecs", rng.standard_normal((1200, 16)).astype(np.float32))
    demo = subprocess.run([str(bench / "pq_fvecs"), str(tmp_path / "x.fvecs"), "--nq", "50",
                           "--m", "4", "--iters", "3"], capture_output=True, text=True,
                          timeout=60)
    assert demo.returncode == 0, demo.stderr
    assert "recall@10" in demo.stdout and "queries/s" in demo.stdout
