"""The qvec command line, end to end through subprocess on small files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import qvec
from qvec import io as qio


def run(*args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "qvec", *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((40, 16)).astype(np.float32)
    qio.write_fvecs(d / "base.fvecs", base)
    qio.write_vectors(d / "queries.fbin", queries)
    _, gt = qvec.exact_search(queries, base, 20)
    qio.write_ivecs(d / "gt.ivecs", gt)
    return d, base, queries, gt


def test_console_script_entry():
    from qvec.cli import main

    assert callable(main)
    tomllib = pytest.importorskip("tomllib")     # the entry is declared in pyproject.toml
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        cfg = tomllib.load(f)
    assert cfg["project"]["scripts"]["qvec"] == "qvec.cli:main"


def test_build_search_info_eval(files):
    d, base, queries, gt = files
    out = run("build", d / "base.fvecs", d / "pq.qvec", "--factory", "PQ4x8,Refine",
              "--metric", "l2", "--train-size", "1000", "--chunk-size", "700",
              "--threads", "2", "--iters", "5")
    assert "built PQIndex" in out.stdout
    index = qvec.load(d / "pq.qvec")
    assert len(index) == len(base) and index.keeps_vectors

    run("search", d / "pq.qvec", d / "queries.fbin", "-k", "10", "-o", d / "r.npz",
        "--rerank", "50", "--mmap", "--threads", "1", "--batch", "7", "-q")
    res = np.load(d / "r.npz")
    ref = index.search(queries, 10, rerank=50)
    np.testing.assert_array_equal(res["ids"], ref[1])
    np.testing.assert_array_equal(res["distances"], ref[0])
    run("search", d / "pq.qvec", d / "queries.fbin", "-k", "3", "-o", d / "r.npy")
    np.testing.assert_array_equal(np.load(d / "r.npy"), index.search(queries, 3)[1])

    info = json.loads(run("info", d / "pq.qvec", "--json", "--threads", "1").stdout)
    assert info["ntotal"] == 3000 and info["m"] == 4 and info["bytes_per_vector"] == 4 + 64
    assert info["file_bytes"] == os.path.getsize(d / "pq.qvec")
    assert "compression_ratio" in run("info", d / "pq.qvec").stdout

    out = run("eval", d / "pq.qvec", d / "queries.fbin", d / "gt.ivecs", "-k", "10",
              "--rerank", "3000", "--threads", "2").stdout
    assert out.startswith("recall@10: 1.0000")

    run("build", d / "base.fvecs", d / "flat.qvec", "-f", "Flat", "-m", "ip", "-q")
    flat = qvec.load(d / "flat.qvec", mmap=True)
    np.testing.assert_array_equal(flat.reconstruct(flat.ids), base)


def test_bad_input_one_line(files, tmp_path):
    d, base, queries, gt = files
    (tmp_path / "junk.qvec").write_bytes(b"not an index at all, sorry")
    cases = [
        (["build", d / "base.fvecs", tmp_path / "x.qvec", "-f", "PQ4y8"], "PQ4y8"),
        (["build", tmp_path / "missing.fvecs", tmp_path / "x.qvec", "-f", "Flat"],
         "No such file"),
        (["build", d / "base.fvecs", tmp_path / "x.qvec", "-f", "Flat", "-m", "cos"], "metric"),
        (["search", tmp_path / "junk.qvec", d / "queries.fbin", "-o", tmp_path / "o.npy"],
         "not a qvec index file"),
        (["search", d / "flat.qvec", d / "queries.fbin", "-o", tmp_path / "o.txt"], ".npz"),
        (["search", d / "flat.qvec", d / "queries.fbin", "-o", tmp_path / "o.npy", "-k", "0"],
         "--k must be >= 1"),
        (["info", d / "base.fvecs"], "bad magic"),
        (["eval", d / "flat.qvec", d / "queries.fbin", d / "gt.ivecs", "-k", "50"],
         "fewer than --k"),
        (["eval", d / "flat.qvec", d / "base.fvecs", d / "gt.ivecs"], "rows of ground truth"),
        (["search", d / "flat.qvec", d / "base.fvecs", "-o", tmp_path / "o.npy", "--threads",
          "0"], "--threads"),
        (["frobnicate"], "invalid choice"),
        (["build", d / "base.fvecs"], "required"),
    ]
    for args, needle in cases:
        proc = run(*args, ok=False)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.qvec").exists()


def test_build_from_uint8_bin_and_npy_queries(tmp_path):
    rng = np.random.default_rng(9)
    base = rng.integers(0, 256, size=(500, 8)).astype(np.uint8)
    queries = rng.integers(0, 256, size=(6, 8)).astype(np.float32)
    qio.write_vectors(tmp_path / "b.u8bin", base)
    np.save(tmp_path / "q.npy", queries)
    run("build", tmp_path / "b.u8bin", tmp_path / "f.qvec", "-f", "Flat", "--chunk-size", "64",
        "-q")
    run("search", tmp_path / "f.qvec", tmp_path / "q.npy", "-k", "4", "-o", tmp_path / "r.npz")
    _, ref = qvec.exact_search(queries, base.astype(np.float32), 4)
    np.testing.assert_array_equal(np.load(tmp_path / "r.npz")["ids"], ref)
    proc = run("build", tmp_path / "b.u8bin", tmp_path / "p.qvec", "-f", "PQ2",
               "--train-size", "100", ok=False)
    assert proc.returncode == 1 and "256" in proc.stderr and "Traceback" not in proc.stderr


def test_build_cosine_and_binary_info(files, tmp_path):
    d, base, queries, _ = files
    run("build", d / "base.fvecs", tmp_path / "cos.qvec", "-f", "Flat", "-m", "cosine", "-q")
    run("search", tmp_path / "cos.qvec", d / "queries.fbin", "-k", "5", "-o", tmp_path / "c.npz")
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    uq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    rd, ri = qvec.exact_search(uq, unit, 5, "ip")
    res = np.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(res["ids"], ri)
    np.testing.assert_allclose(res["distances"], rd, atol=1e-5)
    run("build", d / "base.fvecs", tmp_path / "b.qvec", "-f", "BIN2", "--train-size", "500",
        "-q")
    info = json.loads(run("info", tmp_path / "b.qvec", "--json").stdout)
    assert (info["type"], info["bits"], info["rotate"], info["metric"]) == (
        "BinaryIndex", 2, "random", "l2")
    assert info["bytes_per_vector"] == 2 * 2 + 4 * 5          # codes + 3 + bits factors
