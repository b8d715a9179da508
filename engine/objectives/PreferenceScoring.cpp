// Preference scoring and evaluation (see PreferenceScoring.h).
#include "engine/objectives/PreferenceScoring.h"

#include "common/Error.h"
#include "engine/objectives/SequenceLogProbs.h"

#include <algorithm>

namespace rslora::engine::objectives {

PairLogProbs scorePairs(models::CausalLM& model, const PreferenceBatch& batch, int64_t chunkTokens)
{
    const auto hidden = model.hiddenStates(batch.ids, batch.mask);
    const SequenceLogProbs s = sequenceLogProbs(hidden, *model.lmHead(), batch.labels, chunkTokens);
    const int64_t B = batch.pairs;
    return {s.sum.slice(0, 0, B), s.sum.slice(0, B, 2 * B), s.tokens.slice(0, 0, B), s.tokens.slice(0, B, 2 * B)};
}

DpoMetrics evaluatePreferences(models::CausalLM& model, AdapterSet& set, const std::vector<models::PreferenceSample>& pairs,
                               const PreferenceEvalRequest& r)
{
    validateDpoOptions(r.options);
    if (r.batchSize < 1)
        throw Error("the batch size must be at least 1");
    torch::NoGradGuard ng;
    const bool wasTraining = model.is_training();
    model.eval();
    const int64_t padId = model.config().padTokenId.value_or(0);
    const bool needsReference = r.options.variant != DpoVariant::Simpo;
    DpoMetrics metrics;
    for (size_t start = 0; start < pairs.size(); start += size_t(r.batchSize)) {
        std::vector<size_t> idx;
        for (size_t i = start; i < std::min(pairs.size(), start + size_t(r.batchSize)); ++i)
            idx.push_back(i);
        const PreferenceBatch batch = collatePreferences(pairs, idx, r.maxSeqLen, padId, model.device());
        PreferenceLogProbs in;
        if (needsReference) {
            set.setActive(r.reference);
            const PairLogProbs ref = scorePairs(model, batch);
            in.referenceChosen = ref.chosen;
            in.referenceRejected = ref.rejected;
        }
        set.setActive(r.policy);
        const PairLogProbs pol = scorePairs(model, batch);
        in.policyChosen = pol.chosen;
        in.policyRejected = pol.rejected;
        in.chosenTokens = pol.chosenTokens;
        in.rejectedTokens = pol.rejectedTokens;
        metrics.add(dpoLoss(r.options, in), in);
    }
    set.setActive(r.policy);
    model.train(wasTraining);
    return metrics;
}

} // namespace rslora::engine::objectives
