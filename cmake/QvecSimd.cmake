# Per-ISA kernel sources: each file gets its own -m flags, nothing else does, and the
# library picks one at run time (csrc/src/kernels/dispatch.cpp). A package build must never use
# -march=native: the wheel has to run on any x86-64 CPU.
include(CheckCXXCompilerFlag)

set(QVEC_X86 OFF)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
  set(QVEC_X86 ON)
endif()

set(QVEC_FLAGS_avx2 -mavx2 -mfma -mbmi2 -mpopcnt -mf16c)
# "avx512_skx" is the Skylake-SP / Cascade Lake set (no VBMI, no vector popcount; no VNNI
# either, though Cascade Lake has it): the *_avx512_skx.cpp files.
set(QVEC_FLAGS_avx512_skx -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl
    -mavx2 -mfma -mbmi2 -mpopcnt -mf16c)
# "avx512" means the Ice Lake / Zen 4 set: byte permutes (VBMI) and vector popcount are
# what the code scanners are built on, so CPUs without them run the avx512_skx kernels.
set(QVEC_FLAGS_avx512 -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl
    -mavx512vbmi -mavx512vpopcntdq -mavx512bitalg -mavx2 -mfma -mbmi2 -mpopcnt -mf16c)
# The VNNI variant of the AVX-512 level (VPDPBUSD), chosen at run time only where the CPU has it.
set(QVEC_FLAGS_avx512vnni ${QVEC_FLAGS_avx512} -mavx512vnni)

# qvec_add_kernels(target LEVEL file [LEVEL file ...])
function(qvec_add_kernels target)
  set(args ${ARGN})
  list(LENGTH args n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET args ${i} level)
    list(GET args ${j} src)
    if(level STREQUAL "scalar")
      target_sources(${target} PRIVATE ${src})
    elseif(QVEC_X86)
      target_sources(${target} PRIVATE ${src})
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${QVEC_FLAGS_${level}}")
      string(TOUPPER ${level} LEVEL)
      target_compile_definitions(${target} PRIVATE QVEC_HAVE_${LEVEL}=1)
    endif()
  endforeach()
endfunction()
