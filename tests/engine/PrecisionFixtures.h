// A tiny Llama, a learnable counting task and preference pairs for the precision and activation
// checkpointing tests: small enough to train a few steps in bfloat16 on the CPU in well under a second.
#pragma once

#include "engine/Trainer.h"
#include "models/ModelLoader.h"
#include "models/data/SftSample.h"

#include <QString>

#include <random>
#include <string>
#include <vector>

namespace rslora::precisiontest {

inline models::ModelConfig tinyShape(int layers = 2)
{
    models::ModelConfig c;
    c.vocabSize = 40;
    c.hiddenSize = 32;
    c.intermediateSize = 48;
    c.numLayers = layers;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 8;
    c.maxPositionEmbeddings = 128;
    c.rmsNormEps = 1e-6;
    c.initializerRange = 0.08;
    return c;
}

inline std::unique_ptr<models::CausalLM> tinyLm(torch::ScalarType dtype = torch::kFloat32, int layers = 2)
{
    models::LoadOptions lo;
    lo.dtype = dtype;
    return models::createCausalLM(tinyShape(layers), 99, lo);
}

// "1, k, k+1, ..." with the continuation labelled: a pattern a rank-4 adapter learns quickly.
inline std::vector<engine::TrainExample> countingTask(int count, int length = 10, uint64_t seed = 5)
{
    std::mt19937_64 rng(seed);
    std::vector<engine::TrainExample> out;
    for (int i = 0; i < count; ++i) {
        engine::TrainExample e;
        const int64_t start = 3 + int64_t(rng() % 20);
        e.ids.push_back(1);
        e.labels.push_back(-100);
        for (int t = 0; t < length; ++t) {
            const int64_t id = 3 + (start - 3 + t) % 36; // wraps within the 40-token vocabulary
            e.ids.push_back(id);
            e.labels.push_back(t < 2 ? -100 : id);
        }
        out.push_back(std::move(e));
    }
    return out;
}

// The chosen response continues the count, the rejected one repeats its last token.
inline std::vector<models::PreferenceSample> countingPairs(int count, uint64_t seed = 8)
{
    std::mt19937_64 rng(seed);
    std::vector<models::PreferenceSample> out;
    for (int i = 0; i < count; ++i) {
        const int64_t start = 3 + int64_t(rng() % 20);
        models::PreferenceSample s;
        s.prompt = {1, start, start + 1};
        s.chosen = {start + 2, start + 3, 2};
        s.rejected = {start + 1, start + 1, 2};
        out.push_back(std::move(s));
    }
    return out;
}

inline engine::TrainConfig tinyRun(const QString& outDir)
{
    engine::TrainConfig c;
    c.modelPath = "tiny";
    c.trainData = "synthetic";
    c.outputDir = outDir.toStdString();
    c.adapter.targetModules = {"all-linear"};
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.learningRate = 1e-2;
    c.batchSize = 4;
    c.maxSteps = 8;
    c.warmupSteps = 1;
    c.seed = 21;
    return c;
}

// Copies of the trained adapter's tensors, in the trainer's order.
inline std::vector<torch::Tensor> trainedTensors(engine::Trainer& t)
{
    std::vector<torch::Tensor> out;
    for (auto& nt : t.adapters().trainableTensors("default"))
        out.push_back(nt.tensor.detach().clone());
    return out;
}

// Bit-for-bit equality of two lists (undefined entries must match too); `why` names the first
// difference.
inline bool identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, std::string* why = nullptr)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].defined() != b[i].defined() || (a[i].defined() && !torch::equal(a[i], b[i]))) {
            if (why && a[i].defined() && b[i].defined())
                *why = "tensor " + std::to_string(i) + " differs by up to " + std::to_string((a[i] - b[i]).abs().max().item<double>());
            return false;
        }
    }
    return true;
}

} // namespace rslora::precisiontest
