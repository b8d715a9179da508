// RoPE frequency rules from transformers' modeling_rope_utils (formats.md §2.3).
#include "models/RotaryEmbedding.h"

#include <cmath>

namespace rslora::models {

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config) : m_config(config) {
    m_invFreq = invFreqFor(config.ropeTheta);
    const RopeScaling& s = config.ropeScaling;
    if (s.type == "linear") {
        m_invFreq = m_invFreq / s.factor;
    } else if (s.type == "llama3") {
        const double oldCtx = static_cast<double>(s.originalMaxPositionEmbeddings);
        const double lowWavelen = oldCtx / s.lowFreqFactor;
        const double highWavelen = oldCtx / s.highFreqFactor;
        auto wavelen = 2 * M_PI / m_invFreq;
        auto invL = torch::where(wavelen > lowWavelen, m_invFreq / s.factor, m_invFreq);
        auto smooth = (oldCtx / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        auto smoothed = (1 - smooth) * invL / s.factor + smooth * invL;
        auto isMedium = (wavelen >= highWavelen).logical_and(wavelen <= lowWavelen);
        m_invFreq = torch::where(isMedium, smoothed, invL);
    }
}

torch::Tensor RotaryEmbedding::invFreqFor(double theta) const {
    const int64_t dim = m_config.headDim;
    auto exponent = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<float>(dim);
    return 1.0 / torch::pow(torch::tensor(theta, torch::kFloat32), exponent);
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cosSin(const torch::Tensor& positions,
                                                                torch::ScalarType dtype) const {
    torch::Tensor inv = m_invFreq;
    if (m_config.ropeScaling.type == "dynamic") {
        // NTK-aware: a larger base once the sequence outgrows the trained context.
        const int64_t seqLen = positions.numel() ? positions.max().item<int64_t>() + 1 : 0;
        const int64_t maxPos = m_config.maxPositionEmbeddings;
        if (seqLen > maxPos) {
            const double f = m_config.ropeScaling.factor;
            const double d = static_cast<double>(m_config.headDim);
            const double base = m_config.ropeTheta * std::pow(f * seqLen / maxPos - (f - 1), d / (d - 2));
            inv = invFreqFor(base);
        }
    }
    inv = inv.to(positions.device());
    auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv;  // [B, T, D/2]
    auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(2);         // [B, T, 1, D]
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {

// x*cos + rotate_half(x)*sin without materialising rotate_half: two in-place half updates
// (rotate_half(x) = [−x₂, x₁]).
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t half = x.size(-1) / 2;
    auto out = x * cos;
    out.narrow(-1, 0, half).addcmul_(x.narrow(-1, half, half), sin.narrow(-1, 0, half), -1.0);
    out.narrow(-1, half, half).addcmul_(x.narrow(-1, 0, half), sin.narrow(-1, half, half), 1.0);
    return out;
}

// The transpose of rotate: ∂x₁ = g₁c₁ + g₂s₂, ∂x₂ = g₂c₂ − g₁s₁.
torch::Tensor rotateTransposed(const torch::Tensor& g, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t half = g.size(-1) / 2;
    auto out = g * cos;
    out.narrow(-1, 0, half).addcmul_(g.narrow(-1, half, half), sin.narrow(-1, half, half), 1.0);
    out.narrow(-1, half, half).addcmul_(g.narrow(-1, 0, half), sin.narrow(-1, 0, half), -1.0);
    return out;
}

// The rotation is linear in x, so backward is its transpose applied to the gradient (autograd's
// version cloned the gradient for each in-place half update).
struct RotaryFunction : public torch::autograd::Function<RotaryFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin) {
        ctx->save_for_backward({cos, sin});
        return rotate(x, cos, sin);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list gradOutputs) {
        const auto saved = ctx->get_saved_variables();
        return {rotateTransposed(gradOutputs[0], saved[0], saved[1]), torch::Tensor(), torch::Tensor()};
    }
};

} // namespace

torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    if (torch::GradMode::is_enabled() && x.requires_grad() && !cos.requires_grad() && !sin.requires_grad())
        return RotaryFunction::apply(x, cos, sin);
    return rotate(x, cos, sin);
}

} // namespace rslora::models
