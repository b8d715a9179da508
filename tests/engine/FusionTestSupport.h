// Shared by the fusion-weight tests (grid search, gate, CLI): the tiny random model's shape and
// catching an rslora::Error's message.
#pragma once

#include "common/Error.h"
#include "models/ModelConfig.h"

#include <functional>
#include <string>

namespace rslora::fusiontest {

// The message of the rslora::Error `fn` throws; empty when it throws none.
inline std::string errorOf(const std::function<void()>& fn)
{
    try {
        fn();
    } catch (const rslora::Error& e) {
        return e.what();
    }
    return {};
}

// 2 layers, hidden 16, vocabulary 32: big enough for adapters to matter, small enough to be fast.
inline models::ModelConfig tinyConfig()
{
    models::ModelConfig c;
    c.vocabSize = 32;
    c.hiddenSize = 16;
    c.intermediateSize = 32;
    c.numLayers = 2;
    c.numHeads = 2;
    c.numKvHeads = 2;
    c.headDim = 8;
    return c;
}

} // namespace rslora::fusiontest
