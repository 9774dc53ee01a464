// The quantized-mode reservoir (collector.h): appends without per-candidate branches, and a
// radix select when full.
#include "search/collector.h"

namespace qvec::detail {

size_t SumReservoir::append_words(const uint16_t* sums, const uint32_t* masks, size_t b,
                                  size_t nwords, uint64_t local0) {
  // Stops after the word that brings the count to cap; returns the next word.
  const uint32_t t = static_cast<uint32_t>(limit_);
  size_t n = count_;
  while (b < nwords) {
    uint32_t mask = masks[b];
    const uint16_t* s = sums + b * kMaskRows;
    const uint64_t first = local0 + b * kMaskRows;  // wraps for rows before begin: masked off
    ++b;
    if (mask == 0) continue;
    do {
      const unsigned v = static_cast<unsigned>(__builtin_ctz(mask));
      const uint32_t sum = s[v];
      keys_[n] = (static_cast<uint64_t>(sum) << 32) | (first + v);
      n += sum <= t;
      mask &= mask - 1;
    } while (mask != 0);
    if (n >= cap_) break;
  }
  count_ = n;
  return b;
}

void SumReservoir::append(const uint16_t* sums, const uint32_t* masks, size_t nwords,
                          size_t row0) {
  const uint64_t local0 = static_cast<uint64_t>(row0) - range_.begin;
  for (size_t b = 0; b < nwords && limit_ >= 0;) {
    b = append_words(sums, masks, b, nwords, local0);
    if (count_ >= cap_) shrink();
  }
}

uint32_t SumReservoir::kth_sum() const {
  // The keep-th smallest sum of keys [0, count), 1 <= keep <= count: a radix select on
  // 256-bucket histograms, without data-dependent branches per key (a comparison-based
  // selection mispredicts on most keys). Appended sums are <= limit, kept ones <= limit + 1.
  uint32_t hi = static_cast<uint32_t>(limit_ + 1), lo = hi;
  for (size_t i = 0; i < count_; ++i) lo = std::min(lo, static_cast<uint32_t>(keys_[i] >> 32));
  size_t need = keep_;  // rank wanted within [lo, hi]
  for (;;) {
    unsigned shift = 0;
    while (((hi - lo) >> shift) >= 256) ++shift;
    uint32_t hist[257] = {};
    const uint32_t span = hi - lo;
    for (size_t i = 0; i < count_; ++i) {
      const uint32_t d = static_cast<uint32_t>(keys_[i] >> 32) - lo;  // wraps when below lo
      ++hist[d <= span ? d >> shift : 256];
    }
    uint32_t b = 0;
    while (b < 256 && hist[b] < need) need -= hist[b++];
    QVEC_ASSERT(b < 256);
    if (shift == 0) return lo + b;
    lo += b << shift;
    hi = std::min(hi, lo + ((uint32_t(1) << shift) - 1));
  }
}

void SumReservoir::keep_best(uint32_t S) {
  // Keys with sum < S all stay; of those at S, the smallest ids fill the rest.
  const uint64_t below = static_cast<uint64_t>(S) << 32;
  uint64_t* mid = std::partition(keys_, keys_ + count_, [&](uint64_t key) { return key < below; });
  uint64_t* ties = std::partition(mid, keys_ + count_, [&](uint64_t key) { return key >> 32 == S; });
  const size_t need = keep_ - static_cast<size_t>(mid - keys_);
  if (static_cast<size_t>(ties - mid) > need) {
    if (range_.ascending_ids())
      std::nth_element(mid, mid + need, ties);
    else
      std::nth_element(mid, mid + need, ties, [&](uint64_t a, uint64_t b) {
        return static_cast<uint64_t>(range_.id(row(a))) < static_cast<uint64_t>(range_.id(row(b)));
      });
  }
  count_ = keep_;
}

void SumReservoir::shrink() {
  const uint32_t S = kth_sum();
  if (!range_.ascending_ids()) {
    keep_best(S);
    limit_ = static_cast<long>(S);
    return;
  }
  // Keeps the keys whose sum is at most S (at least keep of them), without sorting them. Many
  // ties at S could leave the reservoir nearly full; then an exact selection keeps keep keys.
  const uint64_t bound = (static_cast<uint64_t>(S) << 32) | 0xffffffffu;
  size_t kept = 0;
  for (size_t i = 0; i < count_; ++i) {
    const uint64_t key = keys_[i];
    keys_[kept] = key;
    kept += key <= bound;
  }
  count_ = kept;
  if (kept > (keep_ + cap_) / 2) {
    std::nth_element(keys_, keys_ + (keep_ - 1), keys_ + kept);
    count_ = keep_;
  }
  limit_ = static_cast<long>(S) - 1;
}

void SumReservoir::select() {
  if (count_ <= keep_) return;
  if (range_.ascending_ids()) {
    std::nth_element(keys_, keys_ + (keep_ - 1), keys_ + count_);
    count_ = keep_;
  } else {
    keep_best(kth_sum());
  }
}

}  // namespace qvec::detail
