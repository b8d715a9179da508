// Scores preference pairs with a model as it is configured now (its active adapters): one forward
// over chosen and rejected together, log-probs summed over response tokens. Evaluation of a policy
// against a reference switches the active adapter set between the two passes.
#pragma once

#include "engine/AdapterSet.h"
#include "engine/objectives/DpoLoss.h"
#include "engine/objectives/PreferenceBatch.h"
#include "models/CausalLM.h"

#include <optional>
#include <vector>

namespace rslora::engine::objectives {

struct PairLogProbs {
    torch::Tensor chosen, rejected;             // [B], summed over response tokens
    torch::Tensor chosenTokens, rejectedTokens; // [B] int64
};

// Differentiable when called with gradients enabled (training); the batch's first half is chosen.
PairLogProbs scorePairs(models::CausalLM& model, const PreferenceBatch& batch, int64_t chunkTokens = 512);

struct PreferenceEvalRequest {
    std::vector<ActiveAdapter> policy;    // the adapters of the policy (empty: the base)
    std::vector<ActiveAdapter> reference; // the frozen reference set (empty: the base)
    DpoOptions options;
    int batchSize = 8;
    int maxSeqLen = 512;
};

// DPO loss, rewards, margin, accuracy and policy log-probs of `policy` against `reference` over
// every pair (no gradient). The policy set is left active.
DpoMetrics evaluatePreferences(models::CausalLM& model, AdapterSet& set, const std::vector<models::PreferenceSample>& pairs,
                               const PreferenceEvalRequest& request);

} // namespace rslora::engine::objectives
