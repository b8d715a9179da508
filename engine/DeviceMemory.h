// Peak memory of this process: resident set on the host, and the CUDA caching allocator's peak
// allocated / reserved bytes of a device when LibTorch has CUDA. One place for both, so the step
// statistics, the store, the CLI line, the benchmark and the GUI report the same numbers.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>

namespace rslora::engine {

struct CudaMemoryPeak {
    int64_t allocatedBytes = 0; // tensors' peak since the last reset
    int64_t reservedBytes = 0;  // the allocator's peak held from the driver (what nvidia-smi sees, roughly)
};

// The host's peak resident set (VmHWM), 0 where /proc is missing.
int64_t peakResidentBytes();

// True when this build links LibTorch's CUDA allocator (a CUDA LibTorch).
bool cudaMemoryStatsBuiltIn();

// The device's peaks; nullopt on the CPU, on builds without CUDA, or without a usable device.
std::optional<CudaMemoryPeak> cudaMemoryPeak(const torch::Device& device);

// Returns the caching allocator's unused blocks to the driver (after a case ran out of memory);
// nothing on the CPU.
void releaseCachedCudaMemory(const torch::Device& device);

// Starts a new peak window (e.g. per benchmark case); nothing on the CPU.
void resetCudaMemoryPeak(const torch::Device& device);

} // namespace rslora::engine
