// Fuzz target for training configs as users write them: JSON, or YAML through yaml-cpp (the first
// byte chooses), read into a TrainConfig and validated. Every text loads or is refused with
// rslora::Error (YAML errors with line and column); a config that loads validates without throwing
// and survives a round trip through toJson().
#include "FuzzConfigInput.h"
#include "engine/TrainConfig.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto input = fuzz::configInput(data, size, "config.yaml");
    if (!input)
        return 0;
    const nlohmann::json& j = *input;
    return fuzz::guarded("the training config reader", [&] {
        const auto config = rslora::engine::TrainConfig::fromJson(j);
        (void)rslora::engine::validate(config);
        const auto again = rslora::engine::TrainConfig::fromJson(config.toJson());
        fuzz::require(again.toJson() == config.toJson(), "toJson() reads back to the same config");
    });
}
