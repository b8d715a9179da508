// The adaptable linear modules of a model, derived from its config alone (no weights loaded):
// HF module names, short names, layer and shapes. Forms and config validation use it.
#pragma once

#include "models/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::models {

struct ModuleShape {
    std::string name;      // "model.layers.0.self_attn.q_proj"
    std::string shortName; // "q_proj"
    int layer = -1;
    int64_t inFeatures = 0;
    int64_t outFeatures = 0;
    bool hasBias = false;
};

// Every projection of every decoder layer, in model order (lm_head excluded: it is not adapted).
std::vector<ModuleShape> linearModuleShapes(const ModelConfig& config);

} // namespace rslora::models
