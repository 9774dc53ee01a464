"""Every SIMD level against the scalar reference.

Each level runs _battery.py in its own process (the level is chosen once per process from
QVEC_SIMD). Integer outputs (codes, ids of exact top-k after exact re-scoring) must match
exactly; float outputs within the stated tolerance, since FMA and summation order differ.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qvec

HERE = Path(__file__).resolve().parent
ORDER = ["scalar", "avx2", "avx512"]
LEVELS = ORDER[: ORDER.index(qvec.supported_simd_level()) + 1]

# Float outputs: relative/absolute tolerance. Everything else is compared exactly.
FLOAT_TOL = dict(rtol=1e-4, atol=1e-4)
# Trained codebooks may differ where FMA rounding flips a near-tie assignment.
APPROX = {"pq_trained_codebooks": dict(rtol=1e-3, atol=1e-3)}


def run_battery(level, tmp_path):
    out = tmp_path / f"{level}.npz"
    env = dict(os.environ, QVEC_SIMD=level)
    subprocess.run([sys.executable, str(HERE / "_battery.py"), str(out)], check=True, env=env,
                   cwd=HERE)
    return dict(np.load(out))


@pytest.fixture(scope="module")
def scalar(tmp_path_factory):
    return run_battery("scalar", tmp_path_factory.mktemp("scalar"))


@pytest.mark.parametrize("level", LEVELS[1:] or ["scalar"])
def test_level_matches_scalar(level, scalar, tmp_path):
    got = run_battery(level, tmp_path)
    assert str(got["level"]) == level
    assert set(got) == set(scalar)
    for key, ref in scalar.items():
        if key == "level":
            continue
        value = got[key]
        assert value.shape == ref.shape, key
        if key in APPROX:
            np.testing.assert_allclose(value, ref, err_msg=key, **APPROX[key])
        elif np.issubdtype(ref.dtype, np.floating):
            np.testing.assert_allclose(value, ref, err_msg=key, **FLOAT_TOL)
        else:
            np.testing.assert_array_equal(value, ref, err_msg=key)


def test_forcing_above_cpu_is_clamped_and_bad_value_rejected():
    env = dict(os.environ, QVEC_SIMD="avx512")
    code = "import qvec; print(qvec.simd_level())"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == qvec.supported_simd_level()
    env["QVEC_SIMD"] = "sse9"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "QVEC_SIMD must be one of" in bad.stderr
