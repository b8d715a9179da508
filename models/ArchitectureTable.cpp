// Architecture differences (formats.md §2.1-2.3) live here and nowhere else; the decoder reads them.
#include "models/ArchitectureTable.h"

namespace rslora::models {
namespace {
constexpr ArchitectureSpec kArchitectures[] = {
    // Llama: attention_bias gives q,k,v and o a bias; mlp_bias the MLP.
    {"LlamaForCausalLM", "llama", BiasRule::FromAttentionBias, BiasRule::FromAttentionBias, true, false,
     SlidingRule::Never},
    // Qwen2/2.5: q,k,v biases hard-coded, o without; window only with use_sliding_window.
    {"Qwen2ForCausalLM", "qwen2", BiasRule::Always, BiasRule::Never, false, false, SlidingRule::IfUseSlidingWindow},
    // Qwen3: q_norm/k_norm, explicit head_dim, attention_bias for all four projections.
    {"Qwen3ForCausalLM", "qwen3", BiasRule::FromAttentionBias, BiasRule::FromAttentionBias, false, true,
     SlidingRule::IfUseSlidingWindow},
    // Mistral: no biases; sliding window whenever sliding_window is set.
    {"MistralForCausalLM", "mistral", BiasRule::Never, BiasRule::Never, false, false, SlidingRule::IfWindowSet},
};
} // namespace

const ArchitectureSpec* findArchitecture(std::string_view name) {
    for (const auto& a : kArchitectures)
        if (name == a.architecture || name == a.modelType)
            return &a;
    return nullptr;
}

std::string supportedArchitectures() {
    std::string out;
    for (const auto& a : kArchitectures)
        out += (out.empty() ? "" : ", ") + std::string(a.architecture);
    return out;
}

} // namespace rslora::models
