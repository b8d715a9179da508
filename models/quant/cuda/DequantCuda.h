// The CUDA dequantization kernel's entry point. Plain pointers and no LibTorch, so that nvcc
// compiles the kernel in any build (the CPU build only proves that it compiles).
#pragma once

#include <cstdint>

namespace rslora::models::quant::cuda {

enum class OutKind : int { Float32 = 0, BFloat16 = 1, Float16 = 2 };

// Everything the kernel reads; device pointers. absmax (float, one per block) when not nested;
// otherwise absmaxCodes (uint8 per block), nestedAbsmax (float per nestedBlockSize blocks),
// nestedMap (float[256]) and offset.
struct DequantArgs {
    const uint8_t* codes = nullptr;
    const float* quantMap = nullptr;
    const float* absmax = nullptr;
    const uint8_t* absmaxCodes = nullptr;
    const float* nestedAbsmax = nullptr;
    const float* nestedMap = nullptr;
    float offset = 0.0f;
    int64_t numel = 0;
    int blockSize = 64;
    int nestedBlockSize = 256;
    void* out = nullptr;
    OutKind outKind = OutKind::Float32;
};

// Launches on `stream` (a cudaStream_t; null: the default stream). Returns 0, or the CUDA error
// code of the launch.
int dequantizeFourBit(const DequantArgs& args, void* stream);

} // namespace rslora::models::quant::cuda
