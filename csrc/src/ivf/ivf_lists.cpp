// Inverted lists: the rows of each list gathered in row order and laid out as their codec
// scans them, one contiguous byte range per list.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "parallel.h"
#include "qvec/error.h"
#include "qvec/fastscan.h"
#include "qvec/ivf.h"
#include "qvec/pq.h"
#include "qvec/scalar.h"

namespace qvec {

void IvfLayout::check() const {
  QVEC_CHECK_ARG(row_bytes >= 1, "IvfLayout::row_bytes must be >= 1");
  if (codec == IvfCodec::Pq8)
    QVEC_CHECK_ARG(m >= 1 && row_bytes == m, "an 8-bit PQ layout needs row_bytes == m >= 1");
  if (codec == IvfCodec::Pq4)
    QVEC_CHECK_ARG(m >= 1 && row_bytes == (m + 1) / 2,
                   "a 4-bit PQ layout needs row_bytes == ceil(m / 2), m >= 1");
  if (codec == IvfCodec::Flat)
    QVEC_CHECK_ARG(row_bytes % 4 == 0, "a Flat layout needs row_bytes == 4 * dim");
}

size_t IvfLayout::packed_size(size_t n) const {
  switch (codec) {
    case IvfCodec::Pq8: return pq8_packed_size(n, m);
    case IvfCodec::Pq4: return fastscan_packed_size(n, m);
    case IvfCodec::Sq8: return sq8_packed_size(n, row_bytes);
    default: return n * row_bytes;
  }
}

void IvfLists::check(const IvfLayout& layout, size_t codes_bytes, size_t nids) const {
  layout.check();
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  QVEC_CHECK_ARG(offsets[0] == 0 && code_offsets[0] == 0, "list offsets must start at 0");
  for (size_t l = 0; l < nlist; ++l) {
    QVEC_CHECK_ARG(offsets[l + 1] >= offsets[l] && offsets[l + 1] <= nids,
                   "list offsets must not decrease and must stay within the ids");
    QVEC_CHECK_ARG(code_offsets[l + 1] - code_offsets[l] == layout.packed_size(size(l)) &&
                       code_offsets[l + 1] <= codes_bytes,
                   "list " + std::to_string(l) + "'s codes do not match its row count");
  }
  QVEC_CHECK_ARG(offsets[nlist] == nids && code_offsets[nlist] == codes_bytes,
                 "the lists must span every id and code byte");
}

void ivf_list_offsets(const IvfLayout& layout, const int32_t* assign, size_t n, size_t nlist,
                      uint64_t* offsets, uint64_t* code_offsets) {
  layout.check();
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  std::vector<uint64_t> counts(nlist, 0);
  for (size_t i = 0; i < n; ++i) {
    if (assign[i] < 0 || static_cast<size_t>(assign[i]) >= nlist)
      throw std::out_of_range("list " + std::to_string(assign[i]) + " of row " +
                              std::to_string(i) + " is not in [0, " + std::to_string(nlist) +
                              ")");
    ++counts[static_cast<size_t>(assign[i])];
  }
  offsets[0] = code_offsets[0] = 0;
  for (size_t l = 0; l < nlist; ++l) {
    offsets[l + 1] = offsets[l] + counts[l];
    code_offsets[l + 1] = code_offsets[l] + layout.packed_size(counts[l]);
  }
}

void ivf_build_lists(const IvfLayout& layout, const uint8_t* codes, const int32_t* assign,
                     size_t n, size_t nlist, const uint64_t* offsets,
                     const uint64_t* code_offsets, uint8_t* packed, idx_t* ids) {
  layout.check();
  QVEC_CHECK_ARG(offsets[nlist] == n, "the list offsets must count n rows");
  // Rows in list order: a stable counting sort.
  std::vector<uint64_t> next(offsets, offsets + nlist);
  for (size_t i = 0; i < n; ++i) ids[next[static_cast<size_t>(assign[i])]++] = static_cast<idx_t>(i);
  const size_t rb = layout.row_bytes;
  detail::parallel_for(nlist, [&](size_t l) {
    const size_t count = static_cast<size_t>(offsets[l + 1] - offsets[l]);
    uint8_t* out = packed + code_offsets[l];
    const idx_t* rows = ids + offsets[l];
    if (layout.codec == IvfCodec::Flat || layout.codec == IvfCodec::Binary) {
      for (size_t r = 0; r < count; ++r)
        std::memcpy(out + r * rb, codes + static_cast<size_t>(rows[r]) * rb, rb);
      return;
    }
    std::vector<uint8_t> gathered(count * rb);
    for (size_t r = 0; r < count; ++r)
      std::memcpy(gathered.data() + r * rb, codes + static_cast<size_t>(rows[r]) * rb, rb);
    if (layout.codec == IvfCodec::Sq8)
      sq8_pack(reinterpret_cast<const int8_t*>(gathered.data()), count, rb, out);
    else if (layout.codec == IvfCodec::Pq8)
      pq8_pack(gathered.data(), count, layout.m, out);
    else
      fastscan_pack(gathered.data(), count, layout.m, out);
  });
}

void ivf_unpack_lists(const IvfLayout& layout, const IvfLists& lists, size_t n, uint8_t* codes) {
  layout.check();
  const size_t total = static_cast<size_t>(lists.offsets[lists.nlist]);
  for (size_t j = 0; j < total; ++j)
    if (lists.ids[j] < 0 || static_cast<size_t>(lists.ids[j]) >= n)
      throw std::out_of_range("list entry " + std::to_string(j) + " holds row " +
                              std::to_string(lists.ids[j]) + ", not in [0, " +
                              std::to_string(n) + ")");
  const size_t rb = layout.row_bytes;
  detail::parallel_for(lists.nlist, [&](size_t l) {
    const size_t count = lists.size(l);
    const uint8_t* in = lists.list_codes(l);
    const idx_t* rows = lists.list_ids(l);
    std::vector<uint8_t> rowwise;
    if (layout.codec != IvfCodec::Flat && layout.codec != IvfCodec::Binary) {
      rowwise.resize(count * rb);
      if (layout.codec == IvfCodec::Sq8)
        sq8_unpack(in, count, rb, reinterpret_cast<int8_t*>(rowwise.data()));
      else if (layout.codec == IvfCodec::Pq8)
        pq8_unpack(in, count, layout.m, rowwise.data());
      else
        fastscan_unpack(in, count, layout.m, rowwise.data());
      in = rowwise.data();
    }
    for (size_t r = 0; r < count; ++r)
      std::memcpy(codes + static_cast<size_t>(rows[r]) * rb, in + r * rb, rb);
  });
}

}  // namespace qvec
