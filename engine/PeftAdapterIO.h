// Adapters as PEFT folders: adapter_config.json + adapter_model.safetensors with PEFT's key names
// and shapes (use_rslora, rank_pattern, alpha_pattern), so PEFT, vLLM and LLaMA-Factory load them;
// options PEFT lacks go to rslora_adapter.json (+ rslora_coefficients.safetensors) beside them.
// A spectral-init adapter is exported as a rank-2r LoRA against the original base
// (A' = [A; A₀], B' = [B, −B₀]), as PEFT converts PiSSA.
#pragma once

#include "engine/AdapterConfig.h"
#include "engine/AdapterSet.h"

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

struct PeftSaveOptions {
    std::string baseModelNameOrPath;
};

// Writes adapter `adapterName` of `set` to `dir` atomically (the folder appears complete or not at
// all). `config` supplies the options recorded beside the PEFT files.
void savePeftAdapter(AdapterSet& set, const std::string& adapterName, const AdapterConfig& config,
                     const std::filesystem::path& dir, const PeftSaveOptions& options = {});

// Reads adapter_config.json of a PEFT LoRA folder into adapter options (r, lora_alpha, use_rslora,
// patterns, targets, bias). Throws naming the file for anything that is not a plain LoRA config.
AdapterConfig readPeftAdapterConfig(const std::filesystem::path& dir, const std::string& adapterName = "default");

// A tensor key of adapter_model.safetensors, split: "<prefix><module>.lora_A[.<name>].weight" etc.
struct LoraKey {
    enum class Part { A, B, Bias };
    std::string module;
    Part part = Part::A;
};
// Empty for keys that are none of lora_A / lora_B / bias.
std::optional<LoraKey> parseLoraKey(const std::string& key, const std::string& adapterName = "default");

// Reads a PEFT folder (ours or PEFT's) into `set` as adapter `adapterName` and activates it alone.
// Random-subspace adapters saved by us come back as coefficients over regenerated bases.
// Returns the adapter options as far as the folder records them. Throws naming the file and tensor.
AdapterConfig loadPeftAdapter(AdapterSet& set, const std::filesystem::path& dir, const std::string& adapterName = "default");

} // namespace rslora::engine
