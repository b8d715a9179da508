// Architecture facts of a causal LM, read from (and written to) a Hugging Face config.json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::models {

struct ArchitectureSpec;

struct RopeScaling {
    std::string type = "default";  // default, linear, dynamic, llama3
    double factor = 1.0;
    double lowFreqFactor = 1.0;
    double highFreqFactor = 4.0;
    int64_t originalMaxPositionEmbeddings = 0;
};

struct ModelConfig {
    std::string architecture = "LlamaForCausalLM";
    std::string modelType = "llama";
    int64_t vocabSize = 0;
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;
    int64_t maxPositionEmbeddings = 2048;
    double rmsNormEps = 1e-6;
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    bool tieWordEmbeddings = false;
    bool attentionBias = false;  // as written in the file; see qkvBias()/oBias() for the effect
    bool mlpBias = false;
    std::optional<int64_t> slidingWindow;  // only when it really applies
    std::vector<bool> slidingLayers;       // per layer; empty = none sliding
    std::optional<int64_t> bosTokenId;
    std::vector<int64_t> eosTokenIds;
    std::optional<int64_t> padTokenId;
    std::string torchDtype = "float32";
    bool torchDtypeDeclared = false;  // config.json named it (torch_dtype, or v5's dtype)
    double initializerRange = 0.02;

    // Parses and validates; `source` names the file in errors. Unknown architectures are refused
    // with the list of supported ones.
    static ModelConfig fromJson(const nlohmann::json& j, const std::string& source);
    // config.json, then generation_config.json beside it when present (mergeGenerationConfig).
    static ModelConfig fromFile(const std::filesystem::path& configJson);
    // Adds generation_config.json's eos_token_id (an integer or a list) after the config's own eos
    // ids, skipping repeats: transformers' generate stops on those (Qwen2.5-Instruct: config.json
    // 151645, generation_config.json [151645, 151643]). A missing key changes nothing.
    void mergeGenerationConfig(const nlohmann::json& j, const std::string& source);
    // A transformers-compatible config.json (keys as transformers 4.x writes them).
    nlohmann::json toJson() const;
    // Checks the numbers fit together (heads divide, head_dim positive, ...); throws naming `source`.
    void validate(const std::string& source) const;

    const ArchitectureSpec& spec() const;
    bool qkvBias() const;
    bool oBias() const;
    bool qkNorm() const;
    bool isSlidingLayer(int64_t layer) const;
    // Parameter count of the architecture (tied embeddings counted once).
    int64_t parameterCount() const;
};

} // namespace rslora::models
