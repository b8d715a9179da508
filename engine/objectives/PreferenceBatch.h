// Preference pairs as one batch: the chosen sequences (prompt + chosen) in the first half of the
// rows and the rejected ones (prompt + rejected) in the second, so both go through the model in
// one forward. Labels mask the prompt, as SFT masks it.
#pragma once

#include "models/data/SftSample.h"

#include <torch/torch.h>

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

} // namespace rslora::engine::objectives
