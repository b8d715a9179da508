// Host peak from /proc; CUDA peaks from c10's caching allocator, compiled only where LibTorch has CUDA
// (RSLORA_HAVE_CUDA, set by CMake when the c10_cuda target exists).
#include "engine/DeviceMemory.h"

#include <torch/cuda.h>

#include <fstream>
#include <string>

#if RSLORA_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace rslora::engine {

int64_t peakResidentBytes()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoll(line.substr(6)) * 1024;
    return 0;
}

bool cudaMemoryStatsBuiltIn()
{
#if RSLORA_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

std::optional<CudaMemoryPeak> cudaMemoryPeak(const torch::Device& device)
{
    if (!device.is_cuda() || !cudaMemoryStatsBuiltIn() || !torch::cuda::is_available())
        return std::nullopt;
#if RSLORA_HAVE_CUDA
    const auto index = device.has_index() ? device.index() : c10::DeviceIndex(0);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    // Index 0 of each stat array is the aggregate over small and large pools.
    return CudaMemoryPeak{int64_t(stats.allocated_bytes[0].peak), int64_t(stats.reserved_bytes[0].peak)};
#else
    return std::nullopt;
#endif
}

void resetCudaMemoryPeak(const torch::Device& device)
{
    if (!device.is_cuda() || !cudaMemoryStatsBuiltIn() || !torch::cuda::is_available())
        return;
#if RSLORA_HAVE_CUDA
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : c10::DeviceIndex(0));
#endif
}

void releaseCachedCudaMemory(const torch::Device& device)
{
    if (!device.is_cuda() || !cudaMemoryStatsBuiltIn() || !torch::cuda::is_available())
        return;
#if RSLORA_HAVE_CUDA
    c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

} // namespace rslora::engine
