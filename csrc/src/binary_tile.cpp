// Packed codes into the blocked tile layout (see binary_tile.h).
#include "binary_tile.h"

#include <algorithm>
#include <cstring>

namespace qvec::detail {

void load_words(const uint8_t* code, size_t nbytes, size_t nwords, uint64_t* out) {
  std::memset(out, 0, nwords * sizeof(uint64_t));
  std::memcpy(out, code, nbytes);
}

void transpose_tile(const uint8_t* codes, size_t stride, size_t nbytes, size_t count,
                    size_t nwords, uint64_t* tile) {
  const size_t nblocks = blocks_of(count);
  if (nbytes % 8 == 0) {  // whole words: copy straight into place
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* code = codes + i * stride;
      uint64_t* dst = tile + (i / kBinaryBlock) * nwords * kBinaryBlock + i % kBinaryBlock;
      for (size_t w = 0; w < nwords; ++w) std::memcpy(dst + w * kBinaryBlock, code + 8 * w, 8);
    }
    for (size_t i = count; i < nblocks * kBinaryBlock; ++i)
      for (size_t w = 0; w < nwords; ++w)
        tile[(i / kBinaryBlock) * nwords * kBinaryBlock + w * kBinaryBlock + i % kBinaryBlock] = 0;
    return;
  }
  std::memset(tile, 0, nblocks * nwords * kBinaryBlock * sizeof(uint64_t));
  uint64_t words[64];
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* code = codes + i * stride;
    uint64_t* dst = tile + (i / kBinaryBlock) * nwords * kBinaryBlock + i % kBinaryBlock;
    for (size_t w0 = 0; w0 < nwords; w0 += 64) {
      size_t chunk = std::min<size_t>(64, nwords - w0);
      size_t bytes = std::min(nbytes - w0 * 8, chunk * 8);
      load_words(code + w0 * 8, bytes, chunk, words);
      for (size_t w = 0; w < chunk; ++w) dst[(w0 + w) * kBinaryBlock] = words[w];
    }
  }
}

}  // namespace qvec::detail
