// Training examples as plain token vectors (what models/data's sample builders produce), the
// pre-tokenized JSONL reader, and the deterministic epoch order. No LibTorch: batches become
// tensors inside the trainer.
#pragma once

#include "engine/TrainConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

struct TrainExample {
    std::vector<int64_t> ids;
    std::vector<int64_t> labels; // -100 = not supervised (prompt, padding); same length as ids
};

// Reads JSONL lines {"input_ids": [...], "labels": [...]} ("labels" optional: every token then
// counts). Throws naming the file and line for anything else; with `vocabSize` > 0 (config.json's
// vocab_size) also for an id outside [0, vocabSize) and a label that is neither -100 nor such an id.
std::vector<TrainExample> loadTokenizedJsonl(const std::string& path, int64_t vocabSize = 0);

// Supervised tokens of an example after truncation to maxSeqLen (the first position predicts
// nothing, as in the shifted causal-LM loss).
int64_t supervisedTokens(const TrainExample& e, int maxSeqLen);
DatasetFacts datasetFacts(const std::string& path, const std::vector<TrainExample>& examples, int maxSeqLen);

// The order of examples in `epoch`: a Fisher–Yates shuffle driven by a seeded mt19937_64, so a
// seed gives the same order on every platform.
std::vector<size_t> epochOrder(size_t count, uint64_t seed, int epoch, bool shuffle);

// How many of `count` samples are split off for validation at `fraction`: none below 2 samples or
// at 0, otherwise ⌊count · fraction⌋ and at least one.
size_t validationCount(size_t count, double fraction);
// Which of `count` samples go to validation when `fraction` of them are split off (deterministic
// from the seed; empty when nothing is split).
std::vector<bool> validationMask(size_t count, double fraction, uint64_t seed);

// Splits `fraction` of the samples (SFT examples, preference pairs) off for validation.
template <typename Sample>
void splitValidation(std::vector<Sample>& train, std::vector<Sample>& validation, double fraction, uint64_t seed)
{
    const std::vector<bool> isVal = validationMask(train.size(), fraction, seed);
    if (isVal.empty())
        return;
    std::vector<Sample> rest;
    for (size_t i = 0; i < train.size(); ++i)
        (isVal[i] ? validation : rest).push_back(std::move(train[i]));
    train = std::move(rest);
}

} // namespace rslora::engine
