// at::parallel_for for this project's own loops. It is a template expanded in the calling file, and
// with ATen's OpenMP backend (Debian's LibTorch) a file compiled without OpenMP runs every such loop
// on one thread, silently. Include this header instead of <ATen/Parallel.h>: it turns that into a
// build error. The libraries that loop link OpenMP::OpenMP_CXX.
#pragma once

#include <ATen/Parallel.h>

#if AT_PARALLEL_OPENMP && !defined(_OPENMP)
#error "at::parallel_for would run on one thread: compile this file with OpenMP (link OpenMP::OpenMP_CXX)"
#endif
