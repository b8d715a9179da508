// Keeps freed activation buffers in the process heap between training steps instead of returning
// them to the OS and faulting them back in every step (measured: ~1.1 M page faults per step at a
// 135M-parameter shape, about a third of the CPU time; reference/perf.md, DESIGN.md §8). No LibTorch.
#pragma once

namespace rslora::engine {

// Raises glibc's mmap threshold and turns heap trimming off, once per process (no-op elsewhere).
// Idempotent. Without it the heap top, several GB once a 135M step's activations are freed, went
// back to the OS after every step (trim threshold 1 GB: 1.6 M minor faults in 3 steps).
void keepActivationMemoryResident();
// Gives the freed heap back to the OS (after a training run, so an idle workbench does not hold
// the activations' peak).
void releaseFreedMemory();

} // namespace rslora::engine
