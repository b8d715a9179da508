// The parts of a PEFT adapter folder that are read without LibTorch: the file names, adapter_config.json
// and the tensor-key grammar. Kept apart from PeftAdapterIO so that the parsers of user files can be
// unit-tested and fuzzed on their own.
#pragma once

#include "engine/AdapterConfig.h"

#include <filesystem>
#include <optional>
#include <string>

namespace rslora::engine {

// Extra-file and key names, kept in one place.
inline constexpr const char* kPeftConfigFile = "adapter_config.json";
inline constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kExtraConfigFile = "rslora_adapter.json";
inline constexpr const char* kCoefficientsFile = "rslora_coefficients.safetensors";
inline constexpr const char* kPeftKeyPrefix = "base_model.model.";

// Reads adapter_config.json of a PEFT LoRA folder into adapter options (r, lora_alpha, use_rslora,
// patterns, targets, bias). Throws rslora::Error naming the file and the key for anything that is not
// a plain LoRA config or has a value of the wrong type or range.
AdapterConfig readPeftAdapterConfig(const std::filesystem::path& dir, const std::string& adapterName = "default");
// The same for the file's text; `source` names it in errors.
AdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& source,
                                     const std::string& adapterName = "default");

// A tensor key of adapter_model.safetensors, split: "<prefix><module>.lora_A[.<name>].weight" etc.
struct LoraKey {
    enum class Part { A, B, Bias };
    std::string module;
    Part part = Part::A;
};
// Empty for keys that are none of lora_A / lora_B / bias.
std::optional<LoraKey> parseLoraKey(const std::string& key, const std::string& adapterName = "default");

} // namespace rslora::engine
