// Fuzz target for training configs as users write them: JSON, or YAML through yaml-cpp (the first
// byte chooses), read into a TrainConfig and validated. Every text loads or is refused with
// rslora::Error (YAML errors with line and column); a config that loads validates without throwing
// and survives a round trip through toJson().
#include "FuzzGuard.h"
#include "engine/ConfigYaml.h"
#include "engine/TrainConfig.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    const bool yaml = data[0] & 1;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    nlohmann::json j;
    if (yaml) {
        const bool read = fuzz::guarded("the YAML reader", [&] { j = rslora::engine::yamlToJson(text, "config.yaml"); }) == 0 &&
                          !j.is_null();
        if (!read)
            return 0;
    } else {
        j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded())
            return 0; // the JSON library is not under test
    }
    return fuzz::guarded("the training config reader", [&] {
        const auto config = rslora::engine::TrainConfig::fromJson(j);
        (void)rslora::engine::validate(config);
        const auto again = rslora::engine::TrainConfig::fromJson(config.toJson());
        fuzz::require(again.toJson() == config.toJson(), "toJson() reads back to the same config");
    });
}
