// Generates the built-in demo under one folder, deterministically from a seed: the text, a
// byte-level BPE tokenizer trained on it, a small Llama model pretrained on it with the engine's
// full-parameter mode, the SFT / chat / preference datasets, and the default RS-LoRA config.
#pragma once

#include "engine/TrainObserver.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace rslora::engine {

struct DemoBuildOptions {
    // Becomes <out>/model, <out>/data, <out>/demo-config.json: written into a hidden sibling and
    // renamed to <out> when complete (an existing <out> is swapped out in one step; its files the
    // build does not write, outside model/, are kept).
    std::filesystem::path outputDir;
    uint64_t seed = 20250315;
    int vocabSize = 512;             // including the special tokens
    int hiddenSize = 192;
    int intermediateSize = 512;
    int layers = 4;
    int heads = 6;
    int kvHeads = 2;
    int pretrainSteps = 800;
    int batchSize = 32;
    double learningRate = 3e-3;
    int threads = 2;                 // fixed, so that a rebuild reproduces the weights bit for bit
    int passes = 16;                 // reshuffles of the fact statements into documents
    bool chatEcho = true;            // chat turns that repeat a sentence in the pretraining text
};

struct DemoBuildReport {
    int64_t parameters = 0;
    int64_t vocabSize = 0;
    int64_t pretrainDocuments = 0;
    int64_t pretrainTokens = 0;
    int64_t steps = 0;
    double finalLoss = 0.0;
    double pretrainSeconds = 0.0;
    int64_t trainQuestions = 0, validationQuestions = 0;
    std::string summary() const;
};

class DemoBuilder {
public:
    explicit DemoBuilder(DemoBuildOptions options);
    DemoBuildReport build(TrainObserver* observer = nullptr);

    // Special tokens of the demo tokenizer, in id order after the BPE vocabulary.
    static const char* const kPad;
    static const char* const kBos;
    static const char* const kEos;
    static const char* const kImStart;
    // The ChatML-style template: <|im_start|>role\ncontent<|eos|>\n per message.
    static std::string chatTemplate();

private:
    DemoBuildOptions m_options;
};

} // namespace rslora::engine
