# The optional CUDA kernels (csrc/cuda/). QVEC_CUDA:
#   AUTO (default)  build them when a CUDA compiler (nvcc) is found, else the CPU-only stub
#   ON              require them (configure fails without nvcc)
#   OFF             never (e.g. the sanitizer build)
# Device code: SASS for sm_80 and sm_90 plus compute_90 PTX for later GPUs, unless
# CMAKE_CUDA_ARCHITECTURES says otherwise. The CUDA runtime is linked statically; it loads the
# driver (libcuda.so.1) at run time, so the module imports on machines without a driver.
# Sets QVEC_WITH_CUDA and qvec_add_cuda(target) adds the right sources to `target`.
set(QVEC_CUDA AUTO CACHE STRING "Build the optional CUDA kernels: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE QVEC_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${QVEC_CUDA}" _qvec_cuda_mode)
if(_qvec_cuda_mode STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(QVEC_WITH_CUDA ON)
  else()
    set(QVEC_WITH_CUDA OFF)
    message(STATUS "qvec: no CUDA compiler found, building without the CUDA kernels")
  endif()
elseif(QVEC_CUDA)
  set(QVEC_WITH_CUDA ON)
else()
  set(QVEC_WITH_CUDA OFF)
endif()

if(QVEC_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
  endif()
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "qvec: CUDA kernels for ${CMAKE_CUDA_ARCHITECTURES} (nvcc ${CMAKE_CUDA_COMPILER_VERSION})")
endif()

function(qvec_add_cuda target)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda)
  target_sources(${target} PRIVATE ${dir}/validate.cpp)
  if(NOT QVEC_WITH_CUDA)
    target_sources(${target} PRIVATE ${dir}/stub.cpp)
    return()
  endif()
  # The kernels in an object library of their own: nvcc gets no host-compiler warning flags
  # or sanitizer options, and the objects still end up inside ${target}'s archive.
  add_library(qvec_cuda_kernels OBJECT
    ${dir}/topk.cu ${dir}/scan_pq.cu ${dir}/scan_binary.cu ${dir}/scan_exact.cu)
  set_target_properties(qvec_cuda_kernels PROPERTIES
    POSITION_INDEPENDENT_CODE ON CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
  target_include_directories(qvec_cuda_kernels PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/csrc/include ${dir})
  target_compile_options(qvec_cuda_kernels PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-O3>)
  target_sources(${target} PRIVATE
    $<TARGET_OBJECTS:qvec_cuda_kernels>
    ${dir}/runtime.cpp ${dir}/gpu_upload.cpp ${dir}/gpu_search.cpp)
  target_link_libraries(${target} PUBLIC CUDA::cudart_static)
endfunction()
