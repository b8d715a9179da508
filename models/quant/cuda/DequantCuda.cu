// The 4-bit dequantization kernel: one thread per pair of codes (one byte), the block scale read
// (and its second level undone) per element pair. The arithmetic is the CPU loop's, written with
// explicitly rounded operations so that nvcc does not fuse the multiply and add: results equal
// QuantizedWeight's CPU path bit for bit.
#include "models/quant/cuda/DequantCuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace rslora::models::quant::cuda {
namespace {

__device__ __forceinline__ float blockScale(const DequantArgs& a, int64_t block)
{
    if (a.absmax)
        return a.absmax[block];
    const float scaled = __fmul_rn(a.nestedMap[a.absmaxCodes[block]], a.nestedAbsmax[block / a.nestedBlockSize]);
    return __fadd_rn(scaled, a.offset);
}

__device__ __forceinline__ void store(void* out, OutKind kind, int64_t i, float v)
{
    switch (kind) {
    case OutKind::Float32: static_cast<float*>(out)[i] = v; break;
    case OutKind::BFloat16: static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(v); break;
    case OutKind::Float16: static_cast<__half*>(out)[i] = __float2half_rn(v); break;
    }
}

__global__ void dequantizeKernel(DequantArgs a)
{
    __shared__ float map[16];
    if (threadIdx.x < 16)
        map[threadIdx.x] = a.quantMap[threadIdx.x];
    __syncthreads();
    const int64_t bytes = (a.numel + 1) / 2;
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < bytes; k += int64_t(gridDim.x) * blockDim.x) {
        const uint8_t c = a.codes[k];
        const int64_t i = 2 * k;
        // Block sizes are even, so both codes of a byte share a block.
        const float s = blockScale(a, i / a.blockSize);
        store(a.out, a.outKind, i, __fmul_rn(map[c >> 4], s));
        if (i + 1 < a.numel)
            store(a.out, a.outKind, i + 1, __fmul_rn(map[c & 0x0F], s));
    }
}

} // namespace

int dequantizeFourBit(const DequantArgs& args, void* stream)
{
    if (args.numel <= 0)
        return 0;
    constexpr int kThreads = 256;
    const int64_t bytes = (args.numel + 1) / 2;
    const int blocks = int(std::min<int64_t>((bytes + kThreads - 1) / kThreads, 65535));
    dequantizeKernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(args);
    return int(cudaGetLastError());
}

} // namespace rslora::models::quant::cuda
