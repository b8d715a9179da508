// Checks a PEFT LoRA folder trained elsewhere against a base model's config, cheaply (the adapter file
// and config files only, no model weights loaded), before it is registered as an adapter version.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

struct PeftFolderFacts {
    int64_t rank = 0;                    // adapter_config.json "r"
    double alpha = 0;                    // "lora_alpha"
    bool rsLora = false;                 // "use_rslora"
    std::vector<std::string> targets;    // "target_modules" (or the adapted module names)
    std::string baseModelNameOrPath;     // "base_model_name_or_path"
    int64_t modules = 0;                 // adapted modules found in the weights
    int64_t parameters = 0;              // elements of every lora_A / lora_B tensor
};

// Throws rslora::Error naming the file, key or tensor for anything the loader (loadPeftAdapter) would
// refuse short of the model: the config, the tensor keys, pairs and ranks (PeftConfigFile.h's rules),
// element types and NaN / infinite values; and, when `modelDir` is given, for a tensor whose module
// the model lacks (decoder projections and lm_head) or whose shape does not fit that module.
PeftFolderFacts checkPeftFolder(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& modelDir);

// The largest scale (alpha / r or alpha / sqrt r, per module) of the PEFT folder `dir`, from its config
// and the tensor shapes of its header (no values read), with the readers' rules applied on the way:
// what a weight given to the adapter is multiplied with. Throws rslora::Error as the readers do.
double largestPeftScale(const std::filesystem::path& dir);

} // namespace rslora::engine
