#!/usr/bin/env bash
# Every qvec-vs-faiss comparison, one after another, on a quiet machine. Each script measures
# qvec and the reference libraries in the same process, on the same data and parameters.
# Output: bench/results/*.md (tables), results.json and one PNG per dataset from ann.py.
#   pip install . faiss-cpu rabitqlib matplotlib
#   python ../shared/data/embeddings.py build all      # gcide-minilm and synthetic
#   bash bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")"
out=results
mkdir -p "$out"
python compare_faiss.py --dataset gcide-minilm --m 48 | tee "$out/pq8_gcide.md"
python compare_faiss.py --dataset synthetic --m 32 | tee "$out/pq8_synthetic.md"
python compare_fastscan.py | tee "$out/fastscan.md"
python compare_binary.py | tee "$out/binary.md"
python bench_index.py | tee "$out/index.md"
python ann.py --dataset gcide-minilm --dataset synthetic --out "$out" | tail -n 5
