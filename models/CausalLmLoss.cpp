// ForCausalLMLoss equivalent (formats.md §2.3), plus a chunked variant over hidden states.
#include "models/CausalLmLoss.h"

#include "common/Error.h"
#include "models/PrecisionPolicy.h"
#include "models/LinearLayer.h"

#include <typeinfo>

namespace rslora::models {

torch::Tensor causalLmLoss(const torch::Tensor& logits, const torch::Tensor& labels) {
    if (logits.dim() != 3 || labels.dim() != 2 || logits.size(0) != labels.size(0) || logits.size(1) != labels.size(1))
        throw Error("causal LM loss: expected logits [B, T, V] and labels [B, T] with matching B and T");
    const int64_t V = logits.size(2);
    auto shifted = logits.narrow(1, 0, logits.size(1) - 1).to(torch::kFloat32).reshape({-1, V});
    auto target = labels.narrow(1, 1, labels.size(1) - 1).to(logits.device()).reshape({-1});
    return torch::nn::functional::cross_entropy(
        shifted, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Sum over rows of −log softmax(h Wᵀ)[target]; h [n, H], W [V, H] frozen, target [n].
struct LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& weight,
                                 const torch::Tensor& target, int64_t chunkTokens, bool wantGrad) {
        const int64_t n = h.size(0), V = weight.size(0);
        // Logits in the compute dtype (h's), softmax and the sum in the accumulation dtype: the same
        // tensor for float32/float64, a float32 copy of the chunk for 16-bit models.
        const auto acc = PrecisionPolicy::accumulateDtype(h.scalar_type());
        const auto accOptions = h.options().dtype(acc);
        torch::Tensor gh = wantGrad ? torch::empty_like(h) : torch::Tensor();
        torch::Tensor buffer = torch::empty({std::min(chunkTokens, n), V}, h.options());
        torch::Tensor total = torch::zeros({}, accOptions);
        const auto wt = weight.t();
        for (int64_t start = 0; start < n; start += chunkTokens) {
            const int64_t m = std::min(chunkTokens, n - start);
            auto raw = buffer.narrow(0, 0, m);
            torch::mm_out(raw, h.narrow(0, start, m), wt);
            auto logits = raw.to(acc);
            const auto idx = target.narrow(0, start, m).unsqueeze(1);
            const auto picked = logits.gather(1, idx);
            const auto mx = std::get<0>(logits.max(1, true));
            logits.sub_(mx).exp_();
            const auto se = logits.sum(1, true);
            total.add_((se.log() + mx - picked).sum());
            if (wantGrad) {
                logits.div_(se);                                   // softmax
                logits.scatter_add_(1, idx, torch::full({m, 1}, -1.0, accOptions)); // − one-hot
                auto g = gh.narrow(0, start, m);
                torch::mm_out(g, logits.to(h.scalar_type()), weight);
            }
        }
        if (wantGrad)
            ctx->save_for_backward({gh});
        return total;
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
        const auto saved = ctx->get_saved_variables();
        return {saved[0] * gradOutputs[0].to(saved[0].scalar_type()), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

bool handWrittenApplies(const torch::Tensor& hidden, const LinearLayer& lmHead) {
    const auto dtype = hidden.scalar_type();
    return typeid(lmHead) == typeid(LinearLayer) && !lmHead.bias.defined() && lmHead.weight.defined() &&
           !lmHead.weight.requires_grad() && lmHead.weight.scalar_type() == dtype && PrecisionPolicy::handWrittenTakes(dtype);
}

} // namespace

LossSum causalLmLossSum(const torch::Tensor& hidden, LinearLayer& lmHead, const torch::Tensor& labels,
                        int64_t chunkTokens) {
    if (hidden.dim() != 3 || labels.dim() != 2 || hidden.size(0) != labels.size(0) || hidden.size(1) != labels.size(1))
        throw Error("causal LM loss: expected hidden [B, T, H] and labels [B, T] with matching B and T");
    const int64_t H = hidden.size(2);
    auto h = hidden.narrow(1, 0, hidden.size(1) - 1).reshape({-1, H});
    auto target = labels.narrow(1, 1, labels.size(1) - 1).to(hidden.device()).reshape({-1});
    auto keep = (target != kIgnoreIndex).nonzero().squeeze(1);
    LossSum out;
    out.tokens = keep.size(0);
    out.sum = torch::zeros({}, hidden.options().dtype(torch::kFloat32));
    if (out.tokens == 0)
        return out;
    h = h.index_select(0, keep);
    target = target.index_select(0, keep);
    chunkTokens = std::max<int64_t>(1, chunkTokens);
    if (handWrittenApplies(hidden, lmHead)) {
        // At most 8 Mi logits (32 MB in float32) per chunk, and at least 32 rows for the GEMM.
        const int64_t rows = std::max<int64_t>(32, (int64_t(8) << 20) / std::max<int64_t>(1, lmHead.weight.size(0)));
        out.sum = LinearCrossEntropyFunction::apply(h.contiguous(), lmHead.weight, target, std::min(chunkTokens, rows),
                                                    torch::GradMode::is_enabled() && h.requires_grad());
        return out;
    }
    for (int64_t start = 0; start < out.tokens; start += chunkTokens) {
        const int64_t n = std::min(chunkTokens, out.tokens - start);
        auto logits = lmHead.forward(h.narrow(0, start, n)).to(torch::kFloat32);
        out.sum = out.sum + torch::nn::functional::cross_entropy(
                                logits, target.narrow(0, start, n),
                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    }
    return out;
}

} // namespace rslora::models
