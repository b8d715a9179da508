// Environment that must be in place before the OpenMP and BLAS runtimes initialise.
#pragma once

namespace rslora {

// OpenMP reads OMP_WAIT_POLICY once, when the library is loaded (before main). ATen's OpenMP pool
// spin-waiting against OpenBLAS's own pool made multi-threaded steps slower than single-threaded
// ones on the build machines, so the executables want OMP_WAIT_POLICY=PASSIVE. OpenBLAS's pthread
// workers likewise spin on sched_yield for about 2^28 cycles after each call (a quarter of all
// samples in a 5M-parameter LoRA step, and most of its system time); OPENBLAS_THREAD_TIMEOUT=18
// lets them spin about 0.1 ms (2^18 cycles), enough to catch the next of a run of small GEMMs
// (attention's per-head products), then sleep (30M step 1.65 s -> 1.25 s with 18, 1.29 s with 4). When either is unset, this sets it and
// re-executes the program once (same argv); RSLORA_NO_REEXEC=1 turns that off.
// Returns normally when nothing had to change or the re-exec failed.
void ensureProcessEnvironment(char** argv);

} // namespace rslora
