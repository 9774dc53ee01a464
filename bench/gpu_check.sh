#!/usr/bin/env bash
# The one device session of issue 12: build qvec with its CUDA kernels, run the GPU tests and
# the GPU benchmark, and leave everything under $OUT (default bench/results/gpu):
#   env.txt        nvidia-smi, nvcc, what qvec sees (cuda_available, the reason, the device)
#   build.log      pip install output and the build time
#   test_cuda.log  pytest tests/test_cuda.py (junit: test_cuda.xml); suite.log: the whole suite
#   bench.json     bench/gpu.py results (bench.log: its output)
#   summary.txt    one line per step: name, seconds, exit status
# Every step runs even after a failure and the script exits 0, so one run reports everything;
# on a machine without a GPU the tests skip and the benchmark writes "no GPU".
#   OUT=/tmp/gpu bash bench/gpu_check.sh            (the device tool sets $OUT itself)
# Time budget: the device tool lends 15 minutes in all and 600 s per command, so the whole
# script stays within BUDGET (default 570 s): build ~2 min on 16 cores, GPU tests ~1-2 min,
# benchmark ~4 min, then the whole suite if time is left; each step's timeout is cut to what is
# left (BUILD_TIMEOUT / BUDGET in seconds for a slow machine).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results/gpu}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export PIP_DISABLE_PIP_VERSION_CHECK=1
: > "$out/summary.txt"

# One device command may run 600 s: every step's timeout is cut to what is left of BUDGET.
deadline=$((SECONDS + ${BUDGET:-570}))
step() {  # step NAME TIMEOUT COMMAND...: runs it, logs its time and status
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  local left=$((deadline - SECONDS))
  [[ $limit -le $left ]] || limit=$left
  if [[ $limit -le 5 ]]; then
    printf '%-12s skipped: out of time\n' "$name" | tee -a "$out/summary.txt"
    return 0
  fi
  echo "::: $name"
  timeout "$limit" bash -c '"$@"' step "$@"   # bash -c: the exported functions below run too
  rc=$?
  printf '%-12s %5d s  exit %d\n' "$name" $((SECONDS - t0)) "$rc" | tee -a "$out/summary.txt"
}

env_info() {
  nvidia-smi || echo "nvidia-smi: not available"
  command -v nvcc && nvcc --version | tail -1 || echo "nvcc: not on PATH"
  python -c 'import sys; print(sys.version)'
  python -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())' ||
    echo "torch: not importable"
}

# A venv that sees the machine's packages (torch, numpy, scikit-build-core, pybind11).
build() {
  python -m venv --system-site-packages "$out/venv" &&
    "$out/venv/bin/python" -m pip install --no-build-isolation -v . -Cbuild-dir=build/gpu-check
}

qvec_info() {
  "$out/venv/bin/python" - <<'PY'
import qvec, qvec._core as c
print("qvec", qvec.__version__, "from", qvec.__file__)
print("cuda compiled:", c.cuda_compiled(), "available:", qvec.cuda_available())
print("reason:", repr(qvec.cuda_unavailable_reason()))
for d in range(qvec.cuda_device_count()):
    print("device", d, c.cuda_device_name(d))
PY
}

export out
export -f env_info build qvec_info
step env 60 env_info > "$out/env.txt" 2>&1
step build "${BUILD_TIMEOUT:-300}" build > "$out/build.log" 2>&1
step qvec 60 qvec_info >> "$out/env.txt" 2>&1
cat "$out/env.txt"
# The tests from a copy outside the source tree, so the installed package is the one imported.
mkdir -p "$out/tests" && cp -r tests bench pyproject.toml "$out/tests/"
(cd "$out/tests" && step test_cuda 180 "$out/venv/bin/python" -m pytest -q -p no:cacheprovider \
  -rs --junitxml="$out/test_cuda.xml" tests/test_cuda.py) > "$out/test_cuda.log" 2>&1
tail -5 "$out/test_cuda.log"
step bench 300 "$out/venv/bin/python" bench/gpu.py --out "$out/bench.json" > "$out/bench.log" 2>&1
tail -20 "$out/bench.log"
(cd "$out/tests" && step suite 120 "$out/venv/bin/python" -m pytest -q -p no:cacheprovider -x \
  --deselect tests/test_bench.py::test_cpp_benchmarks_build_and_run) > "$out/suite.log" 2>&1
tail -3 "$out/suite.log"
rm -rf "$out/venv" "$out/tests"   # only results travel back
echo "::: summary"
cat "$out/summary.txt"
exit 0
