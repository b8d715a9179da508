// ForCausalLMLoss equivalent (formats.md §2.3), plus a chunked variant over hidden states.
#include "models/CausalLmLoss.h"

#include "common/Error.h"
#include "models/LinearLayer.h"

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
