"""The thread count is bounded: a huge request is a ValueError, never a crash in the OpenMP
runtime (set_num_threads(100000) then a search used to segfault in libgomp)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import qvec


@pytest.fixture
def restore_threads():
    before = qvec.get_num_threads()
    yield
    qvec.set_num_threads(before)


def _limit() -> int:
    with pytest.raises(ValueError) as err:
        qvec.set_num_threads(100000)
    match = re.search(r"num_threads must be in \[1, (\d+)\]", str(err.value))
    assert match, str(err.value)
    return int(match.group(1))


def test_huge_thread_count_is_rejected_and_searches_still_work(restore_threads, rng):
    before = qvec.get_num_threads()
    limit = _limit()
    assert qvec.get_num_threads() == before     # a rejected request changes nothing
    assert limit >= max(256, 4 * (os.cpu_count() or 1))
    with pytest.raises(ValueError, match=r"got 100001"):
        qvec.set_num_threads(100001)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    _, ids = qvec.exact_search(x[:7], x, 3)
    np.testing.assert_array_equal(ids[:, 0], np.arange(7))


def test_the_limit_itself_is_accepted_and_gives_the_serial_results(restore_threads, rng):
    limit = _limit()
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    pq = qvec.ProductQuantizer(32, m=4).fit(x, iters=3)
    codes = pq.encode(x)
    qvec.set_num_threads(1)
    want = pq.search(x[:50], codes, 10)
    qvec.set_num_threads(limit)
    assert qvec.get_num_threads() == limit
    got = pq.search(x[:50], codes, 10)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        qvec.set_num_threads(limit + 1)
    assert qvec.get_num_threads() == limit


def test_omp_num_threads_above_the_limit_is_clamped():
    code = ("import numpy as np, qvec\n"
            "x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)\n"
            "print(qvec.get_num_threads(), qvec.exact_search(x[:2], x, 1)[1].ravel().tolist())")
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    count, ids = proc.stdout.split(" ", 1)
    assert 1 <= int(count) <= max(256, 4 * (os.cpu_count() or 1))
    assert ids.strip() == "[0, 1]"


def test_cli_threads_above_the_limit_is_one_line_error(tmp_path):
    path = tmp_path / "flat.qvec"
    qvec.FlatIndex(8).save(path)
    proc = subprocess.run([sys.executable, "-m", "qvec", "info", str(path), "--threads",
                           "100000"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "num_threads must be in [1, " in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
