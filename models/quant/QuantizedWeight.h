// A frozen [out, in] weight held as 4-bit codes in bitsandbytes' layout: row-major blocks of
// `blockSize` values, each scaled by its absmax; two codes per byte, the first in the high
// nibble; with double quantization the absmax are stored as 8-bit codes (mean subtracted, blocks
// of 256, the dynamic map) plus one float scale per 256 blocks.
#pragma once

#include "models/quant/QuantType.h"

#include <torch/torch.h>

#include <string>

namespace rslora::models::quant {

struct QuantOptions {
    QuantType type = QuantType::Nf4;
    int64_t blockSize = 64;
    bool doubleQuant = true;
    int64_t nestedBlockSize = 256;
};

// The tensors of a weight as bitsandbytes saves them (names after its quant_state keys).
struct QuantParts {
    QuantType type = QuantType::Nf4;
    int64_t blockSize = 64;
    std::vector<int64_t> shape;   // [out, in]
    torch::Tensor codes;          // uint8, (numel + 1) / 2 bytes (any shape; read flat)
    torch::Tensor quantMap;       // float32 [16]
    torch::Tensor absmax;         // float32 [blocks], or uint8 [blocks] when nested
    bool nested = false;
    torch::Tensor nestedAbsmax;   // float32 [ceil(blocks / nestedBlockSize)]
    torch::Tensor nestedQuantMap; // float32 [256]
    int64_t nestedBlockSize = 256;
    float nestedOffset = 0.0f;
    torch::ScalarType dtype = torch::kFloat32; // the dtype the weight had before quantization
};

class QuantizedWeight {
public:
    QuantizedWeight() = default;

    // Quantizes a 2-D floating-point weight (any device; computed on the CPU, result on the CPU).
    // Throws rslora::Error naming `what` on a wrong rank, an empty or non-float tensor, a block
    // size bitsandbytes does not allow, or a non-finite value (with its row and column).
    static QuantizedWeight quantize(const torch::Tensor& weight, const QuantOptions& options, const std::string& what);
    // Takes parts read from a checkpoint, checking every size against the shape and block size.
    static QuantizedWeight fromParts(QuantParts parts, const std::string& what);

    // A new [out, in] tensor of `dtype` (float32, bfloat16 or float16) on the codes' device.
    torch::Tensor dequantize(torch::ScalarType dtype) const;
    // Writes the weight into `out`: contiguous [out, in] float32/bfloat16/float16 on the codes'
    // device (the per-layer buffer a forward reuses). Values are computed in float32 and rounded once.
    void dequantizeInto(torch::Tensor& out) const;
    // The float32 absmax of every block (the second level undone when nested).
    torch::Tensor blockScales() const;

    QuantizedWeight to(torch::Device device) const;
    torch::Device device() const { return m_parts.codes.device(); }
    const QuantParts& parts() const { return m_parts; }
    int64_t outFeatures() const { return m_parts.shape[0]; }
    int64_t inFeatures() const { return m_parts.shape[1]; }
    int64_t numel() const { return m_parts.shape[0] * m_parts.shape[1]; }
    int64_t blockCount() const { return (numel() + m_parts.blockSize - 1) / m_parts.blockSize; }
    // Bytes of every tensor needed to rebuild the weight (codes, scales, maps).
    int64_t storageBytes() const;

private:
    explicit QuantizedWeight(QuantParts parts) : m_parts(std::move(parts)) {}
    QuantParts m_parts;
};

} // namespace rslora::models::quant
