#pragma once
// The two MaxSim scorers behind qvec/multivector.h. Each prepares one query bag once (its
// tables transposed so that, for one code byte, the entries of every query token are
// contiguous: the inner loop is a vector add over query tokens) and then scores documents
// token by token, keeping each query token's best similarity.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qvec/multivector.h"

namespace qvec::detail {

/// Byte-code scorer: sim(q_i, x_r) = sum_g weight(r, g) * sum_{j in run g} T[i][j][code_r[j]].
class ByteMaxSim {
 public:
  ByteMaxSim(const MaxSimTables& tables, const ByteTokenCodes& codes)
      : tables_(tables), codes_(codes) {}

  /// Query bag [t0, t1) of the tables: fills the transposed tables, layout (m, 256, t).
  void prepare(int64_t t0, int64_t t1);
  /// MaxSim of the prepared query against tokens [r0, r1) (r0 < r1).
  float score(int64_t r0, int64_t r1);

 private:
  const MaxSimTables& tables_;
  const ByteTokenCodes& codes_;
  size_t t_ = 0;
  int64_t t0_ = 0;
  std::vector<float> transposed_, acc_, run_, best_;
};

/// Float scorer: sim(q_i, x_r) = <q_i, x_r>.
class FloatMaxSim {
 public:
  FloatMaxSim(const float* queries, const float* tokens, size_t dim)
      : queries_(queries), tokens_(tokens), dim_(dim) {}

  /// Query bag [t0, t1): fills the transposed queries, layout (dim, t).
  void prepare(int64_t t0, int64_t t1);
  float score(int64_t r0, int64_t r1);

 private:
  const float* queries_;
  const float* tokens_;
  size_t dim_, t_ = 0;
  std::vector<float> transposed_, acc_, best_;
};

}  // namespace qvec::detail
