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
#include <optional>
#include <string>

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
// Returns the adapter options as far as the folder records them. Throws naming the file and tensor.
AdapterConfig loadPeftAdapter(AdapterSet& set, const std::filesystem::path& dir, const std::string& adapterName = "default");

} // namespace rslora::engine
