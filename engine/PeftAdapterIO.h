// Adapters as PEFT folders: adapter_config.json + adapter_model.safetensors with PEFT's key names
// and shapes (use_rslora, rank_pattern, alpha_pattern), so PEFT, vLLM and LLaMA-Factory load them;
// options PEFT lacks go to rslora_adapter.json (+ rslora_coefficients.safetensors) beside them.
// A spectral-init adapter is exported as a rank-2r LoRA against the original base
// (A' = [A; A₀], B' = [B, −B₀]), as PEFT converts PiSSA.
#pragma once

#include "engine/AdapterConfig.h"
#include "engine/AdapterSet.h"
#include "engine/PeftConfigFile.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

struct PeftSaveOptions {
    std::string baseModelNameOrPath;
};

// Writes adapter `adapterName` of `set` to `dir` atomically (the folder appears complete or not at
// all). `config` supplies the options recorded beside the PEFT files.
void savePeftAdapter(AdapterSet& set, const std::string& adapterName, const AdapterConfig& config,
                     const std::filesystem::path& dir, const PeftSaveOptions& options = {});

// Reads a PEFT folder (ours or PEFT's) into `set` as adapter `adapterName` and activates it alone.
// Random-subspace adapters saved by us come back as coefficients over regenerated bases.
// Returns the adapter options as far as the folder records them. Throws naming the file and tensor;
// every tensor is checked before the model changes. The base model is never written: where PEFT
// writes the trained biases of a bias "lora_only" adapter into the base layers (where every other
// adapter sees them and where they stay after it is removed), the adapter gets the change instead
// (trained − base, LoraAdapter::biasDelta), applied with its weight wherever it is active: the same
// outputs when it is used alone at weight 1, and right beside others (serving, a reference adapter,
// stacked stages, whose changes add up as a merge adds them).
AdapterConfig loadPeftAdapter(AdapterSet& set, const std::filesystem::path& dir, const std::string& adapterName = "default");

// The value rule of every reader of adapter files (this loader, fusion's readAdapterFactors): the
// element type is F16, BF16, F32 or F64 and every value is finite, also as float32 (an F64 value
// beyond float32's range would compute as infinity). Throws rslora::Error naming `file`
// and the tensor `key`.
void checkAdapterTensorValues(const torch::Tensor& t, const std::string& file, const std::string& key);

// adapter_model.safetensors read and checked by the rules every reader shares (PeftConfigFile.h's
// pairLoraTensors, then checkAdapterTensorValues on every tensor): the tensors by key and the
// adapted modules in name order. Throws rslora::Error naming the file and the tensor.
struct LoraTensors {
    std::map<std::string, torch::Tensor> byKey;
    std::vector<PeftModuleShapes> modules;
};
LoraTensors readLoraTensors(const std::filesystem::path& weightsFile, const AdapterConfig& config);

} // namespace rslora::engine
