// GpuIndex searches: queries go to the device in batches, each batch on one of two streams with
// its own buffers, so the copies of one batch overlap the scans of the other. Per batch the
// stages of the CPU search run on the device: table build, then for each range of kScanRows
// rows the codec's scan (candidates under each query's threshold) and the per-query top-k, the
// last one writing the sorted results.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "gpu_state.h"
#include "launch.h"
#include "qvec/error.h"

namespace qvec::cuda {

namespace {

using detail::Buffer;
using detail::check;
using State = GpuIndex::State;

constexpr size_t kMaxBatch = 4096;               // queries per batch (also the grid's y bound)
constexpr size_t kBatchBytes = size_t(1) << 30;  // device bytes of one batch's buffers, at most

/// Bytes of one query's input on the device (floats, words, or planes + constants).
size_t input_bytes(const State& s, size_t query_bits) {
  switch (s.kind) {
    case GpuIndex::Kind::Hamming: return s.nw * 4;
    case GpuIndex::Kind::Binary: return query_bits * s.nw * 4 + 4 * sizeof(float);
    default: return s.dim * sizeof(float);
  }
}

/// Everything one batch needs on one stream.
struct Lane {
  detail::Stream stream;
  Buffer input, tables, keys, count, thr, dist, ids;  // device
  Buffer host_input, host_dist, host_ids;              // pinned
  size_t q0 = 0, nq = 0;
  bool pending = false;
};

class Search {
 public:
  using Prepare = std::function<void(size_t q0, size_t nq, uint8_t* host_input)>;
  using Deliver = std::function<void(size_t q0, size_t nq, const float*, const int64_t*)>;

  Search(const State& s, size_t nq, size_t k, size_t query_bits)
      : s_(s), k_(k), query_bits_(query_bits), cap_(k + std::min(kScanRows, s.n)),
        in_bytes_(input_bytes(s, query_bits)) {
    const size_t table = is_pq() ? s.m * s.ksub * sizeof(float) : 0;
    const size_t per_query = cap_ * 8 + 8 + k * 12 + in_bytes_ + table;
    batch_ = std::max<size_t>(1, std::min({nq, kMaxBatch, kBatchBytes / per_query}));
  }

  void run(size_t nq, const Prepare& prepare, const Deliver& deliver) {
    Lane lanes[2];
    for (Lane& lane : lanes) allocate(lane);
    size_t b = 0;
    for (size_t q0 = 0; q0 < nq; q0 += batch_, ++b) {
      Lane& lane = lanes[b % 2];
      collect(lane, deliver);
      lane.q0 = q0;
      lane.nq = std::min(batch_, nq - q0);
      prepare(q0, lane.nq, lane.host_input.as<uint8_t>());
      enqueue(lane);
    }
    collect(lanes[b % 2], deliver);
    collect(lanes[(b + 1) % 2], deliver);
  }

 private:
  bool is_pq() const {
    return s_.kind == GpuIndex::Kind::Pq8 || s_.kind == GpuIndex::Kind::Pq4;
  }
  bool negate() const { return s_.kind != GpuIndex::Kind::Hamming && s_.metric == Metric::IP; }

  void allocate(Lane& lane) const {
    const int dev = s_.device;
    lane.input = Buffer(batch_ * in_bytes_, 1, false, dev);
    if (is_pq()) lane.tables = Buffer(batch_ * s_.m * s_.ksub, sizeof(float), false, dev);
    lane.keys = Buffer(batch_ * cap_, sizeof(uint64_t), false, dev);
    lane.count = Buffer(batch_, sizeof(uint32_t), false, dev);
    lane.thr = Buffer(batch_, sizeof(uint32_t), false, dev);
    lane.dist = Buffer(batch_ * k_, sizeof(float), false, dev);
    lane.ids = Buffer(batch_ * k_, sizeof(int64_t), false, dev);
    lane.host_input = Buffer(batch_ * in_bytes_, 1, true, dev);
    lane.host_dist = Buffer(batch_ * k_, sizeof(float), true, dev);
    lane.host_ids = Buffer(batch_ * k_, sizeof(int64_t), true, dev);
  }

  void collect(Lane& lane, const Deliver& deliver) const {
    if (!lane.pending) return;
    lane.stream.sync();
    lane.pending = false;
    deliver(lane.q0, lane.nq, lane.host_dist.as<float>(), lane.host_ids.as<int64_t>());
  }

  void enqueue(Lane& lane) const {
    const cudaStream_t st = lane.stream.get();
    const size_t nq = lane.nq;
    check(cudaMemcpyAsync(lane.input.as<void>(), lane.host_input.as<void>(), nq * in_bytes_,
                          cudaMemcpyHostToDevice, st), "cudaMemcpyAsync (queries)");
    check(cudaMemsetAsync(lane.count.as<void>(), 0, nq * sizeof(uint32_t), st), "cudaMemset");
    check(cudaMemsetAsync(lane.thr.as<void>(), 0xFF, nq * sizeof(uint32_t), st), "cudaMemset");
    if (is_pq())
      detail::pq_tables(lane.input.as<float>(), nq, s_.aux.as<float>(), s_.m, s_.ksub, s_.dsub,
                        s_.metric == Metric::IP, lane.tables.as<float>(), st);
    const detail::Candidates c{lane.keys.as<uint64_t>(), cap_, lane.count.as<uint32_t>(),
                               lane.thr.as<uint32_t>()};
    const float pad = negate() ? -std::numeric_limits<float>::infinity()
                               : std::numeric_limits<float>::infinity();
    size_t begin = 0;
    do {
      const size_t end = std::min(s_.n, begin + kScanRows);
      if (end > begin) scan(lane, c, detail::RowSpan{s_.n, begin, end}, st);
      const bool last = end == s_.n;
      detail::select_topk(c, nq, k_, last ? lane.dist.as<float>() : nullptr,
                          last ? lane.ids.as<int64_t>() : nullptr, negate(), pad, st);
      begin = end;
    } while (begin < s_.n);
    check(cudaGetLastError(), "a search kernel launch");
    check(cudaMemcpyAsync(lane.host_dist.as<void>(), lane.dist.as<void>(),
                          nq * k_ * sizeof(float), cudaMemcpyDeviceToHost, st),
          "cudaMemcpyAsync (distances)");
    check(cudaMemcpyAsync(lane.host_ids.as<void>(), lane.ids.as<void>(),
                          nq * k_ * sizeof(int64_t), cudaMemcpyDeviceToHost, st),
          "cudaMemcpyAsync (ids)");
    lane.pending = true;
  }

  void scan(const Lane& lane, const detail::Candidates& c, detail::RowSpan rows,
            cudaStream_t st) const {
    const size_t nq = lane.nq;
    switch (s_.kind) {
      case GpuIndex::Kind::Pq8:
        return detail::pq8_scan(lane.tables.as<float>(), nq, s_.m, s_.codes.as<uint8_t>(), rows,
                                c, st);
      case GpuIndex::Kind::Pq4:
        return detail::pq4_scan(lane.tables.as<float>(), nq, s_.m, s_.codes.as<uint8_t>(), rows,
                                c, st);
      case GpuIndex::Kind::Hamming:
        return detail::hamming_scan(lane.input.as<uint32_t>(), nq, s_.nw,
                                    s_.codes.as<uint32_t>(), rows, c, st);
      case GpuIndex::Kind::Binary: {
        const uint32_t* planes = lane.input.as<uint32_t>();
        const float* constants =
            reinterpret_cast<const float*>(planes + nq * query_bits_ * s_.nw);
        return detail::rabitq_scan(planes, query_bits_, constants, nq, s_.codes.as<uint32_t>(),
                                   s_.bits, s_.nw, s_.aux.as<float>(), rows, c, st);
      }
      case GpuIndex::Kind::Exact:
        return detail::exact_scan(lane.input.as<float>(), nq, s_.codes.as<float>(), s_.dim,
                                  s_.metric == Metric::IP, rows, c, st);
    }
  }

  const State& s_;
  size_t k_, query_bits_, cap_, in_bytes_, batch_ = 1;
};

/// The binary table build of the batch (on the host, BinaryQuantizer::prepare_queries): planes
/// (nq, query_bits, nw) as 32-bit halves, then constants (nq, 4).
void prepare_binary(const State& s, const float* queries, size_t q0, size_t nq,
                    size_t query_bits, uint8_t* out) {
  const BinaryQueryTables t = s.bq->prepare_queries(queries + q0 * s.dim, nq, query_bits);
  QVEC_ASSERT(t.planes.size() * 2 == nq * query_bits * s.nw);
  std::memcpy(out, t.planes.data(), t.planes.size() * sizeof(uint64_t));
  std::memcpy(out + t.planes.size() * sizeof(uint64_t), t.constants.data(),
              t.constants.size() * sizeof(float));
}

}  // namespace

void GpuIndex::search(const float* queries, size_t nq, size_t k, size_t query_bits,
                      float* distances, idx_t* ids) const {
  check_gpu_k(k);
  const State& s = *state_;
  QVEC_CHECK_ARG(s.kind != Kind::Hamming, "a Hamming GpuIndex takes uint8 query codes");
  if (s.kind == Kind::Binary)
    QVEC_CHECK_ARG(query_bits >= 1 && query_bits <= BinaryQuantizer::kMaxQueryBits,
                   "query_bits must be in [1, " +
                       std::to_string(BinaryQuantizer::kMaxQueryBits) + "]; got " +
                       std::to_string(query_bits));
  if (nq == 0) return;
  detail::DeviceGuard guard(s.device);
  Search search(s, nq, k, query_bits);
  auto prepare = [&](size_t q0, size_t count, uint8_t* out) {
    if (s.kind == Kind::Binary)
      prepare_binary(s, queries, q0, count, query_bits, out);
    else
      std::memcpy(out, queries + q0 * s.dim, count * s.dim * sizeof(float));
  };
  auto deliver = [&](size_t q0, size_t count, const float* d, const int64_t* i) {
    std::memcpy(distances + q0 * k, d, count * k * sizeof(float));
    std::memcpy(ids + q0 * k, i, count * k * sizeof(int64_t));
  };
  search.run(nq, prepare, deliver);
}

void GpuIndex::search_hamming(const uint8_t* queries, size_t nq, size_t k, int32_t* distances,
                              idx_t* ids) const {
  check_gpu_k(k);
  const State& s = *state_;
  QVEC_CHECK_ARG(s.kind == Kind::Hamming, "search_hamming needs a Hamming GpuIndex");
  if (nq == 0) return;
  detail::DeviceGuard guard(s.device);
  Search search(s, nq, k, 0);
  auto prepare = [&](size_t q0, size_t count, uint8_t* out) {
    std::memset(out, 0, count * s.nw * 4);
    for (size_t q = 0; q < count; ++q)  // 32-bit words of the bytes, little-endian
      std::memcpy(out + q * s.nw * 4, queries + (q0 + q) * s.nbytes, s.nbytes);
  };
  auto deliver = [&](size_t q0, size_t count, const float* d, const int64_t* i) {
    for (size_t j = 0; j < count * k; ++j)
      distances[q0 * k + j] = std::isinf(d[j]) ? std::numeric_limits<int32_t>::max()
                                               : static_cast<int32_t>(d[j]);
    std::memcpy(ids + q0 * k, i, count * k * sizeof(int64_t));
  };
  search.run(nq, prepare, deliver);
}

}  // namespace qvec::cuda
