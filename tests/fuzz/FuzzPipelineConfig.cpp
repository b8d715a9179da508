// Fuzz target for pipeline configs: JSON or YAML (the first byte chooses; YAML with its positions, as
// `rslora train PIPELINE.yaml` reads it), read into a PipelineConfig, written in its stored form and
// read back to the same pipeline, and each stage's training config built. Every text is read (with
// its problems listed) or refused with rslora::Error. A base given as a file path is skipped: it
// would read files of this machine.
#include "FuzzGuard.h"
#include "engine/ConfigYaml.h"
#include "engine/pipeline/PipelineConfig.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    const bool yaml = data[0] & 1;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    rslora::engine::YamlDocument doc;
    if (yaml) {
        fuzz::guarded("the YAML reader", [&] { doc = rslora::engine::readYaml(text, "pipeline.yaml"); });
    } else {
        doc.value = nlohmann::json::parse(text, nullptr, false);
        if (doc.value.is_discarded())
            return 0; // the JSON library is not under test
    }
    const nlohmann::json& j = doc.value;
    if (!j.is_object() || (j.contains("base") && j["base"].is_string()))
        return 0;
    return fuzz::guarded("the pipeline reader", [&] {
        using rslora::engine::pipeline::PipelineConfig;
        const PipelineConfig c = PipelineConfig::fromJson(j, "pipeline", {}, yaml ? &doc : nullptr);
        const nlohmann::json stored = c.toJson();
        fuzz::require(PipelineConfig::fromJson(stored, "pipeline").toJson() == stored,
                      "a pipeline's stored form reads back to the same pipeline");
        for (size_t i = 0; i < c.stages.size(); ++i) {
            (void)c.stageLabel(i);
            fuzz::guarded("a stage's training config", [&] { (void)c.stageConfig(i); });
        }
    });
}
