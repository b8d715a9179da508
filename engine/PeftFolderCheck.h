// Checks a PEFT LoRA folder trained elsewhere against a base model's config, cheaply (headers and
// config files only, no weights loaded), before it is registered as an adapter version.
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

// Throws rslora::Error naming the file, key or tensor for anything that is not a LoRA folder, and,
// when `modelDir` is given, for a tensor whose module the model lacks or whose shape does not fit
// that module (in and out features).
PeftFolderFacts checkPeftFolder(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& modelDir);

} // namespace rslora::engine
