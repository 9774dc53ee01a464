#pragma once
// The row dispatch of the sq8 kernels: a kernel body templated on its row count R (so its
// accumulators live in registers) is called for a run-time row count. Included by the ISA
// files; the bodies are lambdas local to each file, so every instantiation has internal linkage
// and none is shared between files built with different flags.
#include <cstddef>

namespace qvec::detail {

/// The row count R of a kernel body, as a type.
template <int R>
struct Sq8Rows {
  static constexpr int value = R;
};

/// body(Sq8Rows<rows>{}) for rows in 1..8; nothing for 0.
template <class Body>
inline void sq8_with_rows(size_t rows, Body&& body) {
  switch (rows) {
    case 8: body(Sq8Rows<8>{}); break;
    case 7: body(Sq8Rows<7>{}); break;
    case 6: body(Sq8Rows<6>{}); break;
    case 5: body(Sq8Rows<5>{}); break;
    case 4: body(Sq8Rows<4>{}); break;
    case 3: body(Sq8Rows<3>{}); break;
    case 2: body(Sq8Rows<2>{}); break;
    case 1: body(Sq8Rows<1>{}); break;
    default: break;
  }
}

}  // namespace qvec::detail
