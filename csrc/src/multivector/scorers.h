#pragma once
// The two MaxSim scorers behind qvec/multivector.h. Each prepares one query bag once, its
// tables transposed into blocks of kLanes query tokens so that, for one code byte value, the
// entries of a block's tokens are one 64-byte line (one SIMD add per lookup, one cache line
// touched); the MaxSim kernels (kernels/maxsim.h) then give each block's best similarities
// over a document's tokens.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/maxsim.h"
#include "qvec/multivector.h"

namespace qvec::detail {

/// Query tokens per transposed block.
constexpr size_t kLanes = kMaxSimLanes;

/// A float buffer whose data() is 64-byte aligned.
class LineBuffer {
 public:
  float* resize(size_t n);
 private:
  std::vector<float> storage_;
};

/// Byte-code scorer: sim(q_i, x_r) = sum_g weight(r, g) * sum_{j in run g} T[i][j][code_r[j]].
class ByteMaxSim {
 public:
  ByteMaxSim(const MaxSimTables& tables, const ByteTokenCodes& codes)
      : tables_(tables), codes_(codes) {}

  /// Query bag [t0, t1) of the tables: fills the transposed tables, layout
  /// (ceil(t / kLanes), m, 256, kLanes), padded lanes zero.
  void prepare(int64_t t0, int64_t t1);
  /// MaxSim of the prepared query against tokens [r0, r1) (r0 < r1).
  float score(int64_t r0, int64_t r1);

 private:
  const MaxSimTables& tables_;
  const ByteTokenCodes& codes_;
  size_t t_ = 0;
  int64_t t0_ = 0;
  float* transposed_ = nullptr;
  LineBuffer buffer_;
  std::vector<float> best_;
};

/// Float scorer: sim(q_i, x_r) = <q_i, x_r>.
class FloatMaxSim {
 public:
  FloatMaxSim(const float* queries, const float* tokens, size_t dim)
      : queries_(queries), tokens_(tokens), dim_(dim) {}

  /// Query bag [t0, t1): fills the transposed queries, layout (ceil(t / kLanes), dim, kLanes).
  void prepare(int64_t t0, int64_t t1);
  float score(int64_t r0, int64_t r1);

 private:
  const float* queries_;
  const float* tokens_;
  size_t dim_, t_ = 0;
  float* transposed_ = nullptr;
  LineBuffer buffer_;
  std::vector<float> best_;
};

}  // namespace qvec::detail
