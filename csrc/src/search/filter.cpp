// IdFilter (qvec/id_filter.h) and the filter stage (search/filter.h).
#include "search/filter.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "qvec/error.h"

namespace qvec {

IdFilter IdFilter::bitset(const uint64_t* words, size_t nbits) {
  QVEC_CHECK_ARG(words != nullptr || nbits == 0, "IdFilter::bitset needs words when nbits > 0");
  IdFilter f;
  f.kind_ = Kind::Bitset;
  f.words_ = words;
  f.size_ = nbits;
  return f;
}

IdFilter IdFilter::range(idx_t lo, idx_t hi) {
  IdFilter f;
  f.kind_ = Kind::Range;
  f.lo_ = lo;
  f.hi_ = std::max(lo, hi);
  return f;
}

IdFilter IdFilter::sorted(const idx_t* ids, size_t n) {
  QVEC_CHECK_ARG(ids != nullptr || n == 0, "IdFilter::sorted needs ids when n > 0");
  for (size_t i = 1; i < n; ++i)
    if (ids[i] < ids[i - 1])
      throw std::invalid_argument("IdFilter::sorted needs ascending ids; ids[" +
                                  std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                  " < ids[" + std::to_string(i - 1) + "]");
  IdFilter f;
  f.kind_ = Kind::Sorted;
  f.ids_ = ids;
  f.size_ = n;
  return f;
}

bool IdFilter::sorted_contains(idx_t id) const {
  const idx_t* end = ids_ + size_;
  const idx_t* it = std::lower_bound(ids_, end, id);
  return it != end && *it == id;
}

uint32_t IdFilter::word32(idx_t first) const {
  switch (kind_) {
    case Kind::Bitset: {
      const size_t f = static_cast<size_t>(first);
      if (f >= size_) return 0;
      const size_t w = f >> 6, s = f & 63, nwords = (size_ + 63) / 64;
      uint64_t x = words_[w] >> s;
      if (s > 32 && w + 1 < nwords) x |= words_[w + 1] << (64 - s);
      if (size_ - f < 32) x &= (uint64_t(1) << (size_ - f)) - 1;
      return static_cast<uint32_t>(x);
    }
    case Kind::Range: {
      const idx_t a = std::max(first, lo_), b = std::min(first + 32, hi_);
      if (a >= b) return 0;
      const uint64_t ones = (uint64_t(1) << (b - a)) - 1;
      return static_cast<uint32_t>(ones << (a - first));
    }
    case Kind::Sorted: {
      uint32_t bits = 0;
      for (const idx_t* it = std::lower_bound(ids_, ids_ + size_, first);
           it != ids_ + size_ && *it < first + 32; ++it)
        bits |= uint32_t(1) << (*it - first);
      return bits;
    }
  }
  return 0;
}

bool IdFilter::any_in(idx_t lo, idx_t hi) const {
  switch (kind_) {
    case Kind::Bitset: {
      const size_t a = static_cast<size_t>(lo), b = std::min(static_cast<size_t>(hi), size_);
      for (size_t w = a >> 6; a < b && w <= (b - 1) >> 6; ++w) {
        uint64_t x = words_[w];
        if (w == a >> 6) x &= ~uint64_t(0) << (a & 63);
        if (w == (b - 1) >> 6 && (b & 63)) x &= (uint64_t(1) << (b & 63)) - 1;
        if (x) return true;
      }
      return false;
    }
    case Kind::Range:
      return std::max(lo, lo_) < std::min(hi, hi_);
    case Kind::Sorted: {
      const idx_t* it = std::lower_bound(ids_, ids_ + size_, lo);
      return it != ids_ + size_ && *it < hi;
    }
  }
  return false;
}

size_t IdFilter::count_below(size_t n) const {
  switch (kind_) {
    case Kind::Bitset: {
      const size_t bits = std::min(n, size_);
      size_t count = 0;
      for (size_t w = 0; w < bits / 64; ++w) count += static_cast<size_t>(__builtin_popcountll(words_[w]));
      if (bits % 64)
        count += static_cast<size_t>(
            __builtin_popcountll(words_[bits / 64] & ((uint64_t(1) << (bits % 64)) - 1)));
      return count;
    }
    case Kind::Range: {
      const idx_t top = static_cast<idx_t>(std::min<size_t>(n, size_t(INT64_MAX)));
      const idx_t a = std::max<idx_t>(lo_, 0), b = std::min(hi_, top);
      return a < b ? static_cast<size_t>(b - a) : 0;
    }
    case Kind::Sorted: {
      size_t count = 0;  // distinct ids below n (duplicates are allowed in the array)
      for (size_t i = 0; i < size_ && ids_[i] < static_cast<idx_t>(n); ++i)
        count += ids_[i] >= 0 && (i == 0 || ids_[i] != ids_[i - 1]);
      return count;
    }
  }
  return 0;
}

namespace detail {

size_t keep_allowed_hits(uint32_t* hits, size_t count, size_t row0, const RowRange& range) {
  size_t kept = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t row = row0 + hits[i];
    if (row >= range.begin && row < range.end && range.filter->allows(range.id(row)))
      hits[kept++] = hits[i];
  }
  return kept;
}

void keep_allowed_masks(uint32_t* masks, size_t nwords, size_t row0, const RowRange& range) {
  const IdFilter& filter = *range.filter;
  for (size_t b = 0; b < nwords; ++b) {
    if (masks[b] == 0) continue;
    const size_t first = row0 + b * 32;
    if (range.ascending_ids()) {
      masks[b] &= filter.word32(static_cast<idx_t>(first));
      continue;
    }
    for (uint32_t m = masks[b]; m != 0; m &= m - 1) {
      const uint32_t v = static_cast<uint32_t>(__builtin_ctz(m));
      if (!filter.allows(range.id(first + v))) masks[b] &= ~(uint32_t(1) << v);
    }
  }
}

}  // namespace detail
}  // namespace qvec
