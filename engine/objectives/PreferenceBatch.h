// Preference pairs as one batch: the chosen sequences (prompt + chosen) in the first half of the
// rows and the rejected ones (prompt + rejected) in the second, so both go through the model in
// one forward. Labels mask the prompt, as SFT masks it.
#pragma once

#include "models/data/SftSample.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace rslora::engine::objectives {

struct PreferenceBatch {
    torch::Tensor ids;    // [2B, T]
    torch::Tensor mask;   // [2B, T]
    torch::Tensor labels; // [2B, T]; kIgnoreIndex on the prompt and padding
    int64_t pairs = 0;    // B
    int64_t tokens = 0;   // input tokens (padding excluded)
};

// Right-padded with `padId`; each sequence is cut to `maxSeqLen` (the sample builder has already
// truncated prompts and responses to fit, so this only guards hand-made samples).
PreferenceBatch collatePreferences(const std::vector<models::PreferenceSample>& samples, const std::vector<size_t>& indices,
                                   int64_t maxSeqLen, int64_t padId, torch::Device device = torch::kCPU);

// Indices of the pairs whose chosen and rejected responses are the same tokens as scored (after the
// cut to `maxSeqLen`, which can remove the part where two responses differ): such a pair has a margin
// of 0 whatever the policy, so it teaches no preference and only dilutes the loss.
std::vector<size_t> pairsWithoutPreference(const std::vector<models::PreferenceSample>& samples, int64_t maxSeqLen);

// Throws rslora::Error when some pairs have no preference (pairsWithoutPreference), naming `what`
// (data.train, data.validation), how many, and the first few by their 1-based position.
void refusePairsWithoutPreference(const std::vector<models::PreferenceSample>& samples, int64_t maxSeqLen, const std::string& what);

} // namespace rslora::engine::objectives
