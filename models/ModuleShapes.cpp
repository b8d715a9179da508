#include "models/ModuleShapes.h"

namespace rslora::models {

std::vector<ModuleShape> linearModuleShapes(const ModelConfig& c) {
    const int64_t q = c.numHeads * c.headDim;
    const int64_t kv = c.numKvHeads * c.headDim;
    struct Row {
        const char* group;
        const char* shortName;
        int64_t in, out;
        bool bias;
    };
    const Row rows[] = {
        {"self_attn", "q_proj", c.hiddenSize, q, c.qkvBias()},
        {"self_attn", "k_proj", c.hiddenSize, kv, c.qkvBias()},
        {"self_attn", "v_proj", c.hiddenSize, kv, c.qkvBias()},
        {"self_attn", "o_proj", q, c.hiddenSize, c.oBias()},
        {"mlp", "gate_proj", c.hiddenSize, c.intermediateSize, c.mlpBias},
        {"mlp", "up_proj", c.hiddenSize, c.intermediateSize, c.mlpBias},
        {"mlp", "down_proj", c.intermediateSize, c.hiddenSize, c.mlpBias},
    };
    std::vector<ModuleShape> out;
    out.reserve(static_cast<size_t>(c.numLayers) * 7);
    for (int64_t layer = 0; layer < c.numLayers; ++layer) {
        for (const Row& r : rows) {
            ModuleShape s;
            s.name = "model.layers." + std::to_string(layer) + "." + r.group + "." + r.shortName;
            s.shortName = r.shortName;
            s.layer = static_cast<int>(layer);
            s.inFeatures = r.in;
            s.outFeatures = r.out;
            s.hasBias = r.bias;
            out.push_back(std::move(s));
        }
    }
    return out;
}

} // namespace rslora::models
