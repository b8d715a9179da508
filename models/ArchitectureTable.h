// The supported causal-LM architectures and how they differ, as data: one row per architecture.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rslora::models {

// Where a projection's bias comes from.
enum class BiasRule { Never, Always, FromAttentionBias };
// When a sliding attention window applies.
enum class SlidingRule { Never, IfWindowSet, IfUseSlidingWindow };

struct ArchitectureSpec {
    const char* architecture;  // config.json "architectures"[0]
    const char* modelType;     // config.json "model_type"
    BiasRule qkvBias;
    BiasRule oBias;
    bool hasMlpBiasKey;        // Llama's "mlp_bias"
    bool qkNorm;               // Qwen3: RMSNorm over each head of q and k before RoPE
    SlidingRule sliding;
};

// nullptr when unknown. Accepts the architecture name or the model_type.
const ArchitectureSpec* findArchitecture(std::string_view nameOrModelType);
// "LlamaForCausalLM, Qwen2ForCausalLM, ..." for error messages.
std::string supportedArchitectures();

} // namespace rslora::models
