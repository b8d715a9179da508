// Preference training (DPO and its variants, DESIGN.md §4): each step puts the chosen and the
// rejected sequences of its pairs through the policy in one batch, takes their log-probs summed
// over response tokens, and minimises the preference loss against the frozen reference. The
// reference log-probs come either from a cache computed once before step 0 (one forward per pair,
// kept in checkpoints) or from no-gradient forwards every step; both score each pair alone, so they
// give bitwise the same numbers.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/objectives/DpoLoss.h"
#include "engine/objectives/Objective.h"
#include "engine/objectives/ReferenceModel.h"
#include "models/CausalLM.h"
#include "models/data/SftSample.h"

namespace rslora::engine::objectives {

// The loss options of a config's [dpo] section.
DpoOptions dpoOptionsFrom(const DpoConfig& config);
// "dpo/rewards_chosen", ... (or "eval/dpo_..." with `eval`), in kDpoMetricKeys order.
MetricList dpoMetricList(const DpoMetrics& metrics, bool eval);

class DpoObjective : public Objective {
public:
    DpoObjective(const TrainConfig& config, models::CausalLM& model, std::vector<models::PreferenceSample> train,
                 std::vector<models::PreferenceSample> validation = {});

    const char* name() const override { return "dpo"; }
    size_t trainCount() const override { return m_train.size(); }
    bool hasValidation() const override { return !m_validation.empty(); }
    void beforeAdapters() override { m_reference.keepOriginalWeights(); }
    void attachAdapters(const AdapterContext& context) override;
    void setStackedAtStart(const std::vector<ActiveAdapter>& stacked) override;
    void prepare(TrainObserver* observer) override;
    StepOutcome step(const std::vector<std::vector<size_t>>& microBatches) override;
    double stepNormaliser(const std::vector<std::vector<size_t>>& microBatches) const override;
    EvalOutcome evaluate(int64_t step) override;
    torch::Tensor probeLoss(const std::vector<size_t>& indices) override;
    void saveState(std::vector<std::pair<std::string, torch::Tensor>>& tensors) const override;
    void loadState(const std::map<std::string, torch::Tensor>& state) override;

    // Reference log-probs of every training pair, [N] each (computed by prepare(); empty otherwise).
    const torch::Tensor& cachedReferenceChosen() const { return m_trainCache.chosen; }

private:
    struct Cache {
        torch::Tensor chosen, rejected; // [N], CPU
        bool defined() const { return chosen.defined(); }
    };
    bool needsReference() const { return m_options.variant != DpoVariant::Simpo; }
    Cache computeCache(const std::vector<models::PreferenceSample>& pairs, TrainObserver* observer, const char* what);
    // Policy log-probs (with gradients when enabled) and reference log-probs of one batch.
    PreferenceLogProbs logProbs(const std::vector<models::PreferenceSample>& pairs, const std::vector<size_t>& indices,
                                const PreferenceBatch& batch, const Cache& cache);
    // Reference log-probs of the pairs at `indices`, each pair in a forward of its own.
    Cache referenceLogProbs(const std::vector<models::PreferenceSample>& pairs, const std::vector<size_t>& indices);

    DpoOptions m_options;
    bool m_cacheReference;
    bool m_stackReference;
    int m_maxSeqLen, m_batchSize, m_chunkTokens;
    models::CausalLM& m_model;
    std::vector<models::PreferenceSample> m_train, m_validation;
    int64_t m_padId = 0;
    ReferenceModel m_reference;
    Cache m_trainCache, m_validationCache;
};

} // namespace rslora::engine::objectives
