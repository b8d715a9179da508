// Environment that must be in place before the OpenMP and BLAS runtimes initialise.
#pragma once

namespace rslora {

// OpenMP reads OMP_WAIT_POLICY once, when the library is loaded (before main). ATen's OpenMP pool
// spin-waiting against OpenBLAS's own pool made multi-threaded steps slower than single-threaded
// ones on the build machines, so the executables want OMP_WAIT_POLICY=PASSIVE. When it is unset,
// this sets it and re-executes the program once (same argv); RSLORA_NO_REEXEC=1 turns that off.
// Returns normally when nothing had to change or the re-exec failed.
void ensureProcessEnvironment(char** argv);

} // namespace rslora
