// Block-wise 4-bit quantization with double quantization of the scales, and the CPU
// dequantization loop (see QuantizedWeight.h). A CUDA weight dequantizes in the kernel when the
// build has it, otherwise through LibTorch's ops on its device.
#include "models/quant/QuantizedWeight.h"

#include "common/Error.h"
#include "models/AtenParallel.h"
#include "models/quant/DynamicMap.h"

#include <cmath>

#ifdef RSLORA_CUDA_DEQUANT
#include "models/quant/cuda/DequantCuda.h"
#include <c10/cuda/CUDAStream.h>
#endif

namespace rslora::models::quant {
namespace {

std::string shapeText(c10::IntArrayRef s)
{
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

torch::Tensor tableTensor(const float* values, int64_t n)
{
    return torch::from_blob(const_cast<float*>(values), {n}, torch::kFloat32).clone();
}

// The float absmax of block b, the nested level undone exactly as bitsandbytes does: code·scale
// first, then the offset added (two roundings, in float).
struct ScaleReader {
    const float* absmax = nullptr;
    const uint8_t* absmaxCodes = nullptr;
    const float* nestedAbsmax = nullptr;
    const float* nestedMap = nullptr;
    float offset = 0.0f;
    int64_t nestedBlockSize = 256;
    float operator()(int64_t b) const
    {
        if (absmax)
            return absmax[b];
        const float scaled = nestedMap[absmaxCodes[b]] * nestedAbsmax[b / nestedBlockSize];
        return scaled + offset;
    }
};

ScaleReader scaleReader(const QuantParts& p)
{
    ScaleReader r;
    if (p.nested) {
        r.absmaxCodes = p.absmax.data_ptr<uint8_t>();
        r.nestedAbsmax = p.nestedAbsmax.data_ptr<float>();
        r.nestedMap = p.nestedQuantMap.data_ptr<float>();
        r.offset = p.nestedOffset;
        r.nestedBlockSize = p.nestedBlockSize;
    } else {
        r.absmax = p.absmax.data_ptr<float>();
    }
    return r;
}

template <typename T>
void dequantizeCpu(const QuantParts& p, int64_t numel, T* out)
{
    const uint8_t* codes = p.codes.data_ptr<uint8_t>();
    float map[16];
    for (int i = 0; i < 16; ++i)
        map[i] = p.quantMap.data_ptr<float>()[i];
    const ScaleReader scale = scaleReader(p);
    const int64_t bs = p.blockSize;
    at::parallel_for(0, ceilDiv(numel, bs), 64, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const float s = scale(b);
            const int64_t end = std::min(numel, (b + 1) * bs);
            for (int64_t i = b * bs; i < end; ++i) {
                const uint8_t c = (i & 1) ? (codes[i >> 1] & 0x0F) : (codes[i >> 1] >> 4);
                out[i] = T(map[c] * s);
            }
        }
    });
}

void requireTensor(const torch::Tensor& t, torch::ScalarType type, int64_t numel, const std::string& what,
                   const std::string& field)
{
    if (!t.defined())
        throw Error(what + ": expected " + field + " (" + c10::toString(type) + ", " + std::to_string(numel) +
                    " values), found none");
    if (t.scalar_type() != type || t.numel() != numel)
        throw Error(what + ": expected " + field + " of " + c10::toString(type) + " with " + std::to_string(numel) +
                    " values, found " + c10::toString(t.scalar_type()) + " " + shapeText(t.sizes()));
}

} // namespace

QuantizedWeight QuantizedWeight::quantize(const torch::Tensor& weight, const QuantOptions& o, const std::string& what)
{
    if (!weight.defined() || weight.dim() != 2)
        throw Error(what + ": expected a 2-D weight [out, in] to quantize, found " +
                    (weight.defined() ? std::to_string(weight.dim()) + "-D " + shapeText(weight.sizes()) : "nothing"));
    if (weight.numel() == 0)
        throw Error(what + ": cannot quantize an empty weight " + shapeText(weight.sizes()));
    if (!torch::isFloatingType(weight.scalar_type()))
        throw Error(what + ": expected a floating-point weight to quantize, found " + c10::toString(weight.scalar_type()));
    if (!isAllowedBlockSize(o.blockSize))
        throw Error(what + ": 4-bit block size " + std::to_string(o.blockSize) + " is not allowed (expected " +
                    allowedBlockSizesText() + ")");
    if (o.doubleQuant && !isAllowedBlockSize(o.nestedBlockSize))
        throw Error(what + ": block size " + std::to_string(o.nestedBlockSize) +
                    " of the double-quantized scales is not allowed (expected " + allowedBlockSizesText() + ")");
    torch::NoGradGuard ng;
    const torch::Tensor w = weight.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    const auto finite = torch::isfinite(w);
    if (!finite.all().item<bool>()) {
        const int64_t at = torch::logical_not(finite).flatten().nonzero()[0][0].item<int64_t>();
        const int64_t cols = w.size(1);
        throw Error(what + ": cannot quantize the non-finite value " + std::to_string(w.flatten()[at].item<float>()) +
                    " at row " + std::to_string(at / cols) + ", column " + std::to_string(at % cols));
    }

    QuantParts p;
    p.type = o.type;
    p.blockSize = o.blockSize;
    p.shape = {w.size(0), w.size(1)};
    p.dtype = weight.scalar_type();
    const int64_t n = w.numel(), blocks = ceilDiv(n, o.blockSize);
    p.codes = torch::zeros({(n + 1) / 2}, torch::kUInt8);
    const auto& table = codeTable(o.type);
    p.quantMap = tableTensor(table.data(), 16);
    torch::Tensor absmax = torch::empty({blocks}, torch::kFloat32);

    const float* src = w.data_ptr<float>();
    uint8_t* codes = p.codes.data_ptr<uint8_t>();
    float* amax = absmax.data_ptr<float>();
    // Blocks hold an even number of values, so no two blocks share a byte.
    at::parallel_for(0, blocks, 64, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t begin = b * o.blockSize, end = std::min(n, begin + o.blockSize);
            float m = 0.0f;
            for (int64_t i = begin; i < end; ++i)
                m = std::max(m, std::fabs(src[i]));
            amax[b] = m;
            // Multiplying by the reciprocal (not dividing) is what bitsandbytes' kernels do; an
            // all-zero block gives NaN here and so code 0, as there.
            const float inv = 1.0f / m;
            for (int64_t i = begin; i < end; ++i) {
                const uint8_t c = encodeFourBit(src[i] * inv, o.type);
                codes[i >> 1] |= (i & 1) ? c : uint8_t(c << 4);
            }
        }
    });

    if (!o.doubleQuant) {
        p.absmax = absmax;
        return QuantizedWeight(std::move(p));
    }
    // Second level: the absmax are positive, so their mean is subtracted first (QLoRA §3) and the
    // centred values are stored in the signed 8-bit dynamic map, one float scale per block of them.
    p.nested = true;
    p.nestedBlockSize = o.nestedBlockSize;
    p.nestedOffset = absmax.mean().item<float>();
    const torch::Tensor centred = (absmax - p.nestedOffset).contiguous();
    const int64_t outer = ceilDiv(blocks, o.nestedBlockSize);
    p.nestedAbsmax = torch::empty({outer}, torch::kFloat32);
    p.absmax = torch::empty({blocks}, torch::kUInt8);
    const auto& dmap = dynamicMap();
    p.nestedQuantMap = tableTensor(dmap.data(), 256);
    const float* c = centred.data_ptr<float>();
    for (int64_t b2 = 0; b2 < outer; ++b2) {
        const int64_t begin = b2 * o.nestedBlockSize, end = std::min(blocks, begin + o.nestedBlockSize);
        float m = 0.0f;
        for (int64_t i = begin; i < end; ++i)
            m = std::max(m, std::fabs(c[i]));
        p.nestedAbsmax.data_ptr<float>()[b2] = m;
        const float inv = 1.0f / m;
        for (int64_t i = begin; i < end; ++i)
            p.absmax.data_ptr<uint8_t>()[i] = encodeDynamic(m > 0.0f ? c[i] * inv : 0.0f);
    }
    return QuantizedWeight(std::move(p));
}

QuantizedWeight QuantizedWeight::fromParts(QuantParts p, const std::string& what)
{
    if (p.shape.size() != 2 || p.shape[0] <= 0 || p.shape[1] <= 0)
        throw Error(what + ": expected a 2-D shape [out, in] with positive sizes, found " + shapeText(p.shape));
    if (!isAllowedBlockSize(p.blockSize))
        throw Error(what + ": 4-bit block size " + std::to_string(p.blockSize) + " is not allowed (expected " +
                    allowedBlockSizesText() + ")");
    const int64_t n = p.shape[0] * p.shape[1], blocks = ceilDiv(n, p.blockSize);
    requireTensor(p.codes, torch::kUInt8, (n + 1) / 2, what, "packed 4-bit codes");
    requireTensor(p.quantMap, torch::kFloat32, 16, what, "quant_map");
    if (p.nested) {
        if (p.nestedBlockSize <= 0)
            throw Error(what + ": nested_blocksize must be positive, found " + std::to_string(p.nestedBlockSize));
        requireTensor(p.absmax, torch::kUInt8, blocks, what, "absmax (8-bit codes of the nested scales)");
        requireTensor(p.nestedAbsmax, torch::kFloat32, ceilDiv(blocks, p.nestedBlockSize), what, "nested_absmax");
        requireTensor(p.nestedQuantMap, torch::kFloat32, 256, what, "nested_quant_map");
        p.nestedAbsmax = p.nestedAbsmax.contiguous().view({-1});
        p.nestedQuantMap = p.nestedQuantMap.contiguous().view({-1});
    } else {
        requireTensor(p.absmax, torch::kFloat32, blocks, what, "absmax");
    }
    p.codes = p.codes.contiguous().view({-1});
    p.quantMap = p.quantMap.contiguous().view({-1});
    p.absmax = p.absmax.contiguous().view({-1});
    return QuantizedWeight(std::move(p));
}

torch::Tensor QuantizedWeight::blockScales() const
{
    const QuantParts& p = m_parts;
    if (!p.nested)
        return p.absmax;
    const auto outer = p.nestedAbsmax.repeat_interleave(p.nestedBlockSize).narrow(0, 0, blockCount());
    return p.nestedQuantMap.index_select(0, p.absmax.to(torch::kLong)).mul(outer).add(p.nestedOffset);
}

torch::Tensor QuantizedWeight::dequantize(torch::ScalarType dtype) const
{
    torch::Tensor out = torch::empty({outFeatures(), inFeatures()}, torch::TensorOptions().dtype(dtype).device(device()));
    dequantizeInto(out);
    return out;
}

void QuantizedWeight::dequantizeInto(torch::Tensor& out) const
{
    if (m_parts.shape.empty())
        throw Error("dequantize: the quantized weight is empty");
    const auto type = out.defined() ? out.scalar_type() : torch::kFloat32;
    if (!out.defined() || !out.is_contiguous() || out.dim() != 2 || out.size(0) != outFeatures() ||
        out.size(1) != inFeatures() || out.device() != device() ||
        (type != torch::kFloat32 && type != torch::kBFloat16 && type != torch::kFloat16))
        throw Error("dequantize: expected a contiguous float32/bfloat16/float16 buffer " +
                    shapeText(m_parts.shape) + " on " + device().str() + ", found " +
                    (out.defined() ? std::string(c10::toString(type)) + " " + shapeText(out.sizes()) + " on " + out.device().str()
                                   : std::string("nothing")));
    torch::NoGradGuard ng;
    const int64_t n = numel();
    if (device().is_cpu()) {
        if (type == torch::kFloat32)
            dequantizeCpu(m_parts, n, out.data_ptr<float>());
        else if (type == torch::kBFloat16)
            dequantizeCpu(m_parts, n, out.data_ptr<c10::BFloat16>());
        else
            dequantizeCpu(m_parts, n, out.data_ptr<c10::Half>());
        return;
    }
#ifdef RSLORA_CUDA_DEQUANT
    if (device().is_cuda()) {
        const QuantParts& p = m_parts;
        cuda::DequantArgs a;
        a.codes = p.codes.data_ptr<uint8_t>();
        a.quantMap = p.quantMap.data_ptr<float>();
        if (p.nested) {
            a.absmaxCodes = p.absmax.data_ptr<uint8_t>();
            a.nestedAbsmax = p.nestedAbsmax.data_ptr<float>();
            a.nestedMap = p.nestedQuantMap.data_ptr<float>();
            a.offset = p.nestedOffset;
            a.nestedBlockSize = int(p.nestedBlockSize);
        } else {
            a.absmax = p.absmax.data_ptr<float>();
        }
        a.numel = n;
        a.blockSize = int(p.blockSize);
        a.out = out.data_ptr();
        a.outKind = type == torch::kFloat32    ? cuda::OutKind::Float32
                    : type == torch::kBFloat16 ? cuda::OutKind::BFloat16
                                               : cuda::OutKind::Float16;
        const int rc = cuda::dequantizeFourBit(a, c10::cuda::getCurrentCUDAStream(device().index()).stream());
        if (rc != 0)
            throw Error("dequantize: the CUDA kernel failed to launch (CUDA error " + std::to_string(rc) + ")");
        return;
    }
#endif
    // Any other device: the same arithmetic through LibTorch's ops.
    const auto hi = torch::bitwise_right_shift(m_parts.codes, 4);
    const auto lo = torch::bitwise_and(m_parts.codes, 15);
    const auto idx = torch::stack({hi, lo}, 1).view({-1}).to(torch::kLong);
    const int64_t padded = blockCount() * m_parts.blockSize;
    auto vals = m_parts.quantMap.index_select(0, idx);
    vals = torch::constant_pad_nd(vals, {0, padded - vals.numel()});
    vals = vals.view({blockCount(), m_parts.blockSize}).mul(blockScales().unsqueeze(1));
    out.copy_(vals.view({-1}).narrow(0, 0, n).view({outFeatures(), inFeatures()}));
}

QuantizedWeight QuantizedWeight::to(torch::Device device) const
{
    QuantParts p = m_parts;
    for (torch::Tensor* t : {&p.codes, &p.quantMap, &p.absmax, &p.nestedAbsmax, &p.nestedQuantMap})
        if (t->defined())
            *t = t->to(device);
    return QuantizedWeight(std::move(p));
}

int64_t QuantizedWeight::storageBytes() const
{
    int64_t bytes = 0;
    for (const torch::Tensor* t : {&m_parts.codes, &m_parts.quantMap, &m_parts.absmax, &m_parts.nestedAbsmax, &m_parts.nestedQuantMap})
        if (t->defined())
            bytes += t->numel() * int64_t(t->element_size());
    return bytes;
}

} // namespace rslora::models::quant
