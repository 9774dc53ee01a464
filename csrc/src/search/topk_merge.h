#pragma once
// Top-k merge: a batched search is split into (query block x row range) tasks so that every core
// has work whether there is one query or ten thousand; each task fills fresh collectors
// (HeapSet) from one row range, and the partial top-k lists are merged with the global tie rule
// (distance, then smaller id; id -1 padding last).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "parallel.h"
#include "qvec/common.h"
#include "search/collector.h"

namespace qvec::detail {

/// Merges `parts` lists of k entries per query, sorted or not (layout (parts, nq, k)), into
/// best-first results: out_distances, out_ids of size nq * k. Entries with id -1 are skipped.
void merge_partial_topk(const float* dist, const idx_t* ids, size_t parts, size_t nq, size_t k,
                        float* out_distances, idx_t* out_ids);

/// scan(q_begin, q_end, b_begin, b_end, HeapSet& heaps) pushes the candidates of rows
/// [b_begin, b_end) for queries [q_begin, q_end) into heaps.at(q - q_begin) (clear()ed heaps of
/// k entries), ids being rows. base_granularity keeps row ranges aligned (e.g. to a code block).
/// out_distances, out_ids: size nq * k, best first.
template <class Scan>
void grid_search(size_t nq, size_t n, size_t k, size_t query_block, size_t base_granularity,
                 Scan&& scan, float* out_distances, idx_t* out_ids) {
  const size_t threads = static_cast<size_t>(get_num_threads());
  // Too few query blocks for the threads: smaller blocks (down to an eighth) before base
  // splits, whose tasks would each prepare the same queries and need a merge.
  if ((nq + query_block - 1) / query_block < 2 * threads)
    query_block = std::max(std::max<size_t>(1, query_block / 8),
                           std::min(query_block, (nq + 2 * threads - 1) / (2 * threads)));
  const size_t qblocks = (nq + query_block - 1) / query_block;
  const size_t units = std::max<size_t>(1, (n + base_granularity - 1) / base_granularity);
  // Enough base splits to give each thread a couple of tasks, never smaller than one unit.
  size_t splits = 1;
  if (qblocks < 2 * threads) splits = std::min(units, (2 * threads + qblocks - 1) / qblocks);
  const size_t units_per_split = (units + splits - 1) / splits;
  splits = (units + units_per_split - 1) / units_per_split;

  if (splits == 1) {
    parallel_for(qblocks, [&](size_t qb) {
      size_t q0 = qb * query_block, q1 = std::min(nq, q0 + query_block);
      HeapSet heaps(q1 - q0, k);
      scan(q0, q1, size_t(0), n, heaps);
      for (size_t q = q0; q < q1; ++q) {
        HeapView h = heaps.at(q - q0);
        h.sort();
        std::copy(h.dist, h.dist + k, out_distances + q * k);
        std::copy(h.ids, h.ids + k, out_ids + q * k);
      }
    });
    return;
  }
  std::vector<float> part_dist(splits * nq * k);
  std::vector<idx_t> part_ids(splits * nq * k);
  parallel_for(qblocks * splits, [&](size_t task) {
    size_t qb = task / splits, s = task % splits;
    size_t q0 = qb * query_block, q1 = std::min(nq, q0 + query_block);
    size_t b0 = std::min(n, s * units_per_split * base_granularity);
    size_t b1 = std::min(n, b0 + units_per_split * base_granularity);
    HeapSet heaps(q1 - q0, k);
    if (b0 < b1) scan(q0, q1, b0, b1, heaps);
    std::copy(heaps.distances(), heaps.distances() + (q1 - q0) * k,
              part_dist.data() + (s * nq + q0) * k);
    std::copy(heaps.ids(), heaps.ids() + (q1 - q0) * k, part_ids.data() + (s * nq + q0) * k);
  });
  merge_partial_topk(part_dist.data(), part_ids.data(), splits, nq, k, out_distances, out_ids);
}

/// Negates similarities stored as smaller-is-better distances back to larger-is-better.
inline void negate(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = -x[i];
}

}  // namespace qvec::detail
