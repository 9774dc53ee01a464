#pragma once
// The MaxSim kernels' loops (kernels/maxsim.h), shared by the SIMD levels: each ISA file
// defines, inside its own anonymous namespace, a type Lanes holding kMaxSimLanes floats and
// the operations zero(), lowest() (-inf), load(p), add(a, b), max(a, b), scaled(w, a) (w * a,
// one product per lane) and store(p, a), then includes this file in that namespace. Four
// document tokens are summed at once (independent add chains), each in the scalar order.
// Include only from maxsim_<isa>.cpp.

constexpr size_t L = kMaxSimLanes;

inline Lanes entry(const float* block, size_t j, uint8_t c) {
  return load(block + (j * 256 + c) * L);
}

void byte_block(const float* block, const uint8_t* codes, size_t m, size_t ntok, float* best) {
  Lanes top = lowest();
  size_t r = 0;
  for (; r + 4 <= ntok; r += 4) {
    const uint8_t* c = codes + r * m;
    Lanes a0 = zero(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < m; ++j) {
      a0 = add(a0, entry(block, j, c[j]));
      a1 = add(a1, entry(block, j, c[m + j]));
      a2 = add(a2, entry(block, j, c[2 * m + j]));
      a3 = add(a3, entry(block, j, c[3 * m + j]));
    }
    top = max(max(top, a0), max(a1, max(a2, a3)));
  }
  for (; r < ntok; ++r) {
    const uint8_t* c = codes + r * m;
    Lanes a = zero();
    for (size_t j = 0; j < m; ++j) a = add(a, entry(block, j, c[j]));
    top = max(top, a);
  }
  store(best, top);
}

void weighted_block(const float* block, const uint8_t* codes, size_t m, size_t groups,
                    const float* weights, size_t weight_stride, size_t ntok, float* best) {
  const size_t run = m / groups;
  Lanes top = lowest();
  for (size_t r = 0; r < ntok; ++r) {
    const uint8_t* c = codes + r * m;
    const float* w = weights + r * weight_stride;
    Lanes acc = zero();
    for (size_t g = 0; g < groups; ++g) {
      Lanes part = zero();
      for (size_t j = g * run; j < (g + 1) * run; ++j) part = add(part, entry(block, j, c[j]));
      acc = add(acc, scaled(w[g], part));
    }
    top = max(top, acc);
  }
  store(best, top);
}

void float_block(const float* block, const float* tokens, size_t dim, size_t ntok,
                 float* best) {
  Lanes top = lowest();
  size_t r = 0;
  for (; r + 4 <= ntok; r += 4) {
    const float* x = tokens + r * dim;
    Lanes a0 = zero(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < dim; ++d) {
      const Lanes q = load(block + d * L);
      a0 = add(a0, scaled(x[d], q));
      a1 = add(a1, scaled(x[dim + d], q));
      a2 = add(a2, scaled(x[2 * dim + d], q));
      a3 = add(a3, scaled(x[3 * dim + d], q));
    }
    top = max(max(top, a0), max(a1, max(a2, a3)));
  }
  for (; r < ntok; ++r) {
    const float* x = tokens + r * dim;
    Lanes a = zero();
    for (size_t d = 0; d < dim; ++d) a = add(a, scaled(x[d], load(block + d * L)));
    top = max(top, a);
  }
  store(best, top);
}
