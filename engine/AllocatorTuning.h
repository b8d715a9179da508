// Keeps freed activation buffers in the process heap between training steps instead of returning
// them to the OS and faulting them back in every step (measured: ~1.1 M page faults per step at a
// 135M-parameter shape, about a third of the CPU time; reference/perf.md, DESIGN.md §8). No LibTorch.
#pragma once

namespace rslora::engine {

// Raises glibc's mmap and trim thresholds once per process (no-op elsewhere). Idempotent.
void keepActivationMemoryResident();

} // namespace rslora::engine
