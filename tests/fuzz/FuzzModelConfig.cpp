// Fuzz target for config.json and tokenizer_config.json: model folders come from anywhere, so any
// text must load or be refused with rslora::Error; a config that loads must describe a model whose
// module shapes can be listed and which survives a round trip through toJson().
#include "FuzzGuard.h"
#include "models/ModelConfig.h"
#include "models/ModuleShapes.h"
#include "models/tokenizer/TokenizerConfig.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        return 0; // the JSON library itself is not under test; the readers parse strictly before this
    fuzz::guarded("the tokenizer_config.json reader", [&] { (void)rslora::models::TokenizerConfig::fromJson(j, "tokenizer_config.json"); });
    return fuzz::guarded("the config.json reader", [&] {
        const auto config = rslora::models::ModelConfig::fromJson(j, "config.json");
        for (const auto& m : rslora::models::linearModuleShapes(config))
            fuzz::require(m.inFeatures > 0 && m.outFeatures > 0, "loaded configs have positive module shapes");
        const auto again = rslora::models::ModelConfig::fromJson(config.toJson(), "config.json (written back)");
        fuzz::require(again.hiddenSize == config.hiddenSize && again.numLayers == config.numLayers &&
                          again.numKvHeads == config.numKvHeads && again.headDim == config.headDim,
                      "toJson() reads back to the same model");
    });
}
