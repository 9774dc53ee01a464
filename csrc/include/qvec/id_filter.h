#pragma once
// Allowed-id filters: which ids a search may return. Every search entry point takes an
// optional `const IdFilter* filter` (nullptr: every id allowed); the scanners test each
// candidate inside the scan, before it reaches its collector, so a filtered id is never
// returned, the per-query thresholds only ever reflect allowed ids, and a search returns k
// results whenever k allowed ids exist among the rows it scans. With a row -> id map (an
// inverted list's ids), the filter applies to the ids, not to the rows.
//
// Three forms, each with a cheap test per candidate; pick by density:
//   bitset  one bit per id below nbits (O(1) test; nbits / 8 bytes): masks, dense sets
//   range   ids in [lo, hi) (O(1) test; nothing stored): a shard, a time window
//   sorted  an ascending id array (O(log n) test; 8 bytes per id): a few ids far above the
//           largest id, where a bitset up to that id would be larger than the array
// An IdFilter refers to the caller's words or ids (not copied): they must outlive it.
#include <cstddef>
#include <cstdint>

#include "qvec/common.h"

namespace qvec {

class IdFilter {
 public:
  enum class Kind : int { Bitset = 0, Range = 1, Sorted = 2 };

  /// words: size ceil(nbits / 64); id i is allowed iff i < nbits and bit i % 64 of
  /// words[i / 64] is set (bits at or past nbits are ignored).
  static IdFilter bitset(const uint64_t* words, size_t nbits);
  /// Ids in [lo, hi); empty when hi <= lo.
  static IdFilter range(idx_t lo, idx_t hi);
  /// ids: size n, ascending (duplicates allowed); throws std::invalid_argument otherwise.
  static IdFilter sorted(const idx_t* ids, size_t n);

  Kind kind() const { return kind_; }

  /// Whether id (>= 0) may be returned.
  bool allows(idx_t id) const {
    switch (kind_) {
      case Kind::Bitset:
        return static_cast<size_t>(id) < size_ &&
               ((words_[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1u);
      case Kind::Range:
        return id >= lo_ && id < hi_;
      case Kind::Sorted:
        return sorted_contains(id);
    }
    return false;
  }
  /// Bit v set iff allows(first + v), for v < 32 (first >= 0).
  uint32_t word32(idx_t first) const;
  /// Whether some id in [lo, hi) is allowed (0 <= lo <= hi).
  bool any_in(idx_t lo, idx_t hi) const;
  /// How many ids in [0, n) are allowed.
  size_t count_below(size_t n) const;

 private:
  IdFilter() = default;
  bool sorted_contains(idx_t id) const;

  Kind kind_ = Kind::Range;
  const uint64_t* words_ = nullptr;  // Bitset
  const idx_t* ids_ = nullptr;       // Sorted
  size_t size_ = 0;                  // Bitset: nbits; Sorted: n
  idx_t lo_ = 0, hi_ = 0;            // Range
};

}  // namespace qvec
