// pq_fvecs: product quantization end to end from an .fvecs file, with the C++ library only.
//
//   pq_fvecs BASE.fvecs [--queries Q.fvecs] [--gt GT.ivecs] [--nq 1000] [--m 16] [--k 10]
//            [--metric l2|ip] [--iters 25] [--threads N]
//
// Without --queries, the last nq vectors of BASE are held out as queries. Without --gt, the
// ground truth is computed with exact_search (its speed is printed too). Prints training and
// encoding times, queries/s of the ADC search and recall@1 / recall@k against the exact top-k.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "qvec/exact.h"
#include "qvec/pq.h"
#include "qvec/simd.h"
#include "qvec/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Reads a .fvecs / .ivecs file (each row: int32 dimension, then dim 4-byte values).
template <class T>
std::vector<T> read_vecs(const std::string& path, size_t* n, size_t* dim) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path);
  std::vector<T> out;
  *n = 0;
  *dim = 0;
  int32_t d = 0;
  while (std::fread(&d, sizeof(d), 1, f) == 1) {
    if (d <= 0 || (*dim != 0 && static_cast<size_t>(d) != *dim)) {
      std::fclose(f);
      throw std::runtime_error(path + ": bad or varying row dimension " + std::to_string(d));
    }
    *dim = static_cast<size_t>(d);
    out.resize(out.size() + *dim);
    if (std::fread(out.data() + *n * *dim, sizeof(T), *dim, f) != *dim) {
      std::fclose(f);
      throw std::runtime_error(path + ": truncated row " + std::to_string(*n));
    }
    ++*n;
  }
  std::fclose(f);
  if (*n == 0) throw std::runtime_error(path + ": no vectors");
  return out;
}

/// Mean over queries of |found[:, :r] & truth[:, :r]| / r.
double recall_at(const std::vector<qvec::idx_t>& found, size_t found_k,
                 const std::vector<qvec::idx_t>& truth, size_t truth_k, size_t nq, size_t r) {
  double hits = 0.0;
  for (size_t q = 0; q < nq; ++q)
    for (size_t i = 0; i < r; ++i) {
      const qvec::idx_t id = found[q * found_k + i];
      if (id < 0) continue;
      const qvec::idx_t* t = truth.data() + q * truth_k;
      if (std::find(t, t + r, id) != t + r) hits += 1.0;
    }
  return hits / static_cast<double>(nq * r);
}

int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s BASE.fvecs [--queries Q.fvecs] [--gt GT.ivecs] [--nq 1000] [--m 16]\n"
               "       [--k 10] [--metric l2|ip] [--iters 25] [--threads N]\n",
               prog);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return usage(argv[0]);
  std::string base_path = argv[1], query_path, gt_path, metric_name = "l2";
  size_t nq = 1000, m = 16, k = 10, iters = 25;
  int threads = 0;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    const char* value = argv[++i];
    if (arg == "--queries") query_path = value;
    else if (arg == "--gt") gt_path = value;
    else if (arg == "--metric") metric_name = value;
    else if (arg == "--nq") nq = std::strtoull(value, nullptr, 10);
    else if (arg == "--m") m = std::strtoull(value, nullptr, 10);
    else if (arg == "--k") k = std::strtoull(value, nullptr, 10);
    else if (arg == "--iters") iters = std::strtoull(value, nullptr, 10);
    else if (arg == "--threads") threads = std::atoi(value);
    else return usage(argv[0]);
  }
  try {
    if (threads > 0) qvec::set_num_threads(threads);
    const qvec::Metric metric = qvec::parse_metric(metric_name.c_str());
    size_t n = 0, dim = 0;
    std::vector<float> base = read_vecs<float>(base_path, &n, &dim);
    std::vector<float> queries;
    if (!query_path.empty()) {
      size_t qdim = 0;
      queries = read_vecs<float>(query_path, &nq, &qdim);
      if (qdim != dim) throw std::runtime_error("queries and base dimensions differ");
    } else {
      if (nq == 0 || nq >= n) throw std::runtime_error("--nq must be in [1, n) to hold out queries");
      queries.assign(base.end() - static_cast<std::ptrdiff_t>(nq * dim), base.end());
      n -= nq;
      base.resize(n * dim);
    }
    std::printf("base %zu x %zu, %zu queries, metric %s, m %zu (%zu bytes/vector), k %zu\n", n,
                dim, nq, metric_name.c_str(), m, m, k);
    std::printf("simd %s, %d threads\n", qvec::simd_level_name(qvec::simd_level()),
                qvec::get_num_threads());

    // Ground truth: the exact top-k (read, or computed and timed).
    std::vector<qvec::idx_t> truth;
    size_t truth_k = k;
    if (!gt_path.empty()) {
      size_t gn = 0, gk = 0;
      std::vector<int32_t> gt = read_vecs<int32_t>(gt_path, &gn, &gk);
      if (gn != nq || gk < k) throw std::runtime_error("ground truth must have nq rows of >= k ids");
      truth.assign(gt.begin(), gt.end());
      truth_k = gk;
    } else {
      std::vector<float> dist(nq * k);
      truth.resize(nq * k);
      auto start = Clock::now();
      qvec::exact_search(queries.data(), nq, base.data(), n, dim, metric, k, dist.data(),
                         truth.data());
      double s = seconds_since(start);
      std::printf("exact search   %9.3f s  %10.0f queries/s\n", s, nq / s);
    }

    qvec::ProductQuantizer pq(dim, m, 8, metric);
    qvec::PQTrainOptions options;
    options.iters = iters;
    auto start = Clock::now();
    pq.train(base.data(), n, options);
    std::printf("train          %9.3f s\n", seconds_since(start));

    std::vector<uint8_t> codes(n * pq.code_size());
    start = Clock::now();
    pq.encode(base.data(), n, codes.data());
    double s = seconds_since(start);
    std::printf("encode         %9.3f s  %10.0f vectors/s\n", s, n / s);

    std::vector<float> dist(nq * k);
    std::vector<qvec::idx_t> ids(nq * k);
    double best = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      start = Clock::now();
      pq.search(queries.data(), nq, codes.data(), n, k, dist.data(), ids.data());
      best = std::min(best, seconds_since(start));
    }
    std::printf("PQ search      %9.3f s  %10.0f queries/s  (best of 3)\n", best, nq / best);
    std::printf("recall@1  %.4f\n", recall_at(ids, k, truth, truth_k, nq, 1));
    std::printf("recall@%zu %.4f\n", k, recall_at(ids, k, truth, truth_k, nq, k));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
