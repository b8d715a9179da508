// The frozen reference of preference training, run through the policy's own model: the reference
// adapter set is made active, and every module whose trained adapter has spectral init gets its
// original base weight back for the pass (spectral init subtracts its initial product from the base,
// so "adapters off" would not be the original model; DESIGN.md §4). The originals are the weights as
// they were before the adapters were injected, kept without a copy, so the reference is exact.
#pragma once

#include "engine/objectives/Objective.h"
#include "engine/objectives/PreferenceBatch.h"
#include "engine/objectives/PreferenceScoring.h"
#include "models/CausalLM.h"

#include <map>
#include <string>
#include <vector>

namespace rslora::engine::objectives {

class ReferenceModel {
public:
    explicit ReferenceModel(models::CausalLM& model) : m_model(model) {}

    // Keeps a view of every linear weight as it is now (call before adapters are injected).
    void keepOriginalWeights();
    // The trainer's adapters; `reference` is the set active during reference passes (empty: the base).
    void attach(const AdapterContext& context, std::vector<ActiveAdapter> reference);
    bool attached() const { return m_adapters != nullptr; }
    // Replaces the set active during reference passes (the stacked stages at the weights the stage
    // starts with, once a curriculum or carried weights are known).
    void setReference(std::vector<ActiveAdapter> reference) { m_reference = std::move(reference); }

    // Log-probs of the batch under the reference: no gradient, dropout off. The adapters active
    // before the call (with their weights) and the base weights are in place again when it returns.
    PairLogProbs score(const PreferenceBatch& batch, int64_t chunkTokens);

private:
    models::CausalLM& m_model;
    std::map<std::string, torch::Tensor> m_originals; // until attach()
    struct Restore {
        std::shared_ptr<AdaptedLinear> module;
        torch::Tensor original;
    };
    std::vector<Restore> m_restores;
    AdapterSet* m_adapters = nullptr;
    std::vector<ActiveAdapter> m_reference;
};

} // namespace rslora::engine::objectives
