// Preference training objective (see DpoObjective.h).
#include "engine/objectives/DpoObjective.h"

#include "common/Error.h"
#include "engine/objectives/DpoMetricNames.h"

#include <algorithm>

namespace rslora::engine::objectives {

namespace {

const char* const kCacheTensors[4] = {"dpo.reference_chosen", "dpo.reference_rejected", "dpo.validation_reference_chosen",
                                      "dpo.validation_reference_rejected"};

std::vector<size_t> range(size_t begin, size_t end)
{
    std::vector<size_t> idx;
    for (size_t i = begin; i < end; ++i)
        idx.push_back(i);
    return idx;
}

} // namespace

DpoOptions dpoOptionsFrom(const DpoConfig& c)
{
    DpoOptions o;
    o.variant = c.lossType == DpoLossType::Ipo ? DpoVariant::Ipo : c.lossType == DpoLossType::Simpo ? DpoVariant::Simpo : DpoVariant::Sigmoid;
    o.beta = c.beta;
    o.labelSmoothing = c.labelSmoothing;
    o.simpoGamma = c.simpoGamma;
    o.rpoAlpha = c.rpoAlpha;
    return o;
}

MetricList dpoMetricList(const DpoMetrics& m, bool eval)
{
    const double values[] = {m.rewardChosen(), m.rewardRejected(), m.margin(), m.accuracy(), m.logpChosen(), m.logpRejected()};
    MetricList out;
    for (size_t i = 0; i < kDpoMetricKeys.size(); ++i)
        out.emplace_back(eval ? dpoEvalMetric(kDpoMetricKeys[i]) : dpoStepMetric(kDpoMetricKeys[i]), values[i]);
    return out;
}

DpoObjective::DpoObjective(const TrainConfig& config, models::CausalLM& model, std::vector<models::PreferenceSample> train,
                           std::vector<models::PreferenceSample> validation)
    : m_options(dpoOptionsFrom(config.dpo)), m_cacheReference(config.dpo.cacheReference),
      m_stackReference(config.dpo.reference == DpoReference::Stack), m_maxSeqLen(config.maxSeqLen),
      m_batchSize(config.batchSize), m_chunkTokens(config.lossChunkTokens), m_model(model), m_train(std::move(train)),
      m_validation(std::move(validation)), m_padId(model.config().padTokenId.value_or(0)), m_reference(model)
{
    validateDpoOptions(m_options);
    auto named = [](const char* key, const std::string& file) { return std::string(key) + (file.empty() ? "" : " " + file); };
    refusePairsWithoutPreference(m_train, m_maxSeqLen, named("data.train", config.trainData));
    refusePairsWithoutPreference(m_validation, m_maxSeqLen, named("data.validation", config.validationData));
}

void DpoObjective::attachAdapters(const AdapterContext& context)
{
    // The frozen earlier stages at the weights they train under, or the original base alone.
    m_reference.attach(context, m_stackReference ? context.stacked : std::vector<ActiveAdapter>{});
}

void DpoObjective::setStackedAtStart(const std::vector<ActiveAdapter>& stacked)
{
    // π_ref is the model the stage starts from, whatever weights the stack trains under later: the
    // cached reference (computed once, before the first step) and the per-step one then agree.
    if (m_stackReference)
        m_reference.setReference(stacked);
}

void DpoObjective::prepare(TrainObserver* observer)
{
    if (!needsReference() || !m_cacheReference)
        return;
    if (!m_trainCache.defined())
        m_trainCache = computeCache(m_train, observer, "training");
    if (!m_validation.empty() && !m_validationCache.defined())
        m_validationCache = computeCache(m_validation, observer, "validation");
}

DpoObjective::Cache DpoObjective::computeCache(const std::vector<models::PreferenceSample>& pairs, TrainObserver* observer,
                                               const char* what)
{
    if (observer)
        observer->onStatus("computing reference log-probs of " + std::to_string(pairs.size()) + " " + what + " pairs");
    Cache cache = referenceLogProbs(pairs, range(0, pairs.size()));
    cache.chosen = cache.chosen.cpu();
    cache.rejected = cache.rejected.cpu();
    return cache;
}

DpoObjective::Cache DpoObjective::referenceLogProbs(const std::vector<models::PreferenceSample>& pairs,
                                                    const std::vector<size_t>& indices)
{
    // One forward per pair, padded to that pair's own length: a pair's numbers then never depend on
    // which pairs share its batch (padding changes the shapes, and with them the rounding), so the
    // cache and the per-step reference give bitwise the same run.
    std::vector<torch::Tensor> chosen, rejected;
    for (size_t i : indices) {
        const PreferenceBatch batch = collatePreferences(pairs, {i}, m_maxSeqLen, m_padId, m_model.device());
        const PairLogProbs ref = m_reference.score(batch, m_chunkTokens);
        chosen.push_back(ref.chosen);
        rejected.push_back(ref.rejected);
    }
    return {torch::cat(chosen), torch::cat(rejected)};
}

PreferenceLogProbs DpoObjective::logProbs(const std::vector<models::PreferenceSample>& pairs, const std::vector<size_t>& indices,
                                          const PreferenceBatch& batch, const Cache& cache)
{
    PreferenceLogProbs in;
    if (needsReference()) {
        if (cache.defined()) {
            const auto idx = torch::tensor(std::vector<int64_t>(indices.begin(), indices.end()), torch::kLong);
            in.referenceChosen = cache.chosen.index_select(0, idx).to(m_model.device());
            in.referenceRejected = cache.rejected.index_select(0, idx).to(m_model.device());
        } else {
            const Cache ref = referenceLogProbs(pairs, indices);
            in.referenceChosen = ref.chosen;
            in.referenceRejected = ref.rejected;
        }
    }
    const PairLogProbs pol = scorePairs(m_model, batch, m_chunkTokens);
    in.policyChosen = pol.chosen;
    in.policyRejected = pol.rejected;
    in.chosenTokens = pol.chosenTokens;
    in.rejectedTokens = pol.rejectedTokens;
    return in;
}

double DpoObjective::stepNormaliser(const std::vector<std::vector<size_t>>& microBatches) const
{
    size_t pairs = 0;
    for (const auto& idx : microBatches)
        pairs += idx.size();
    return double(pairs);
}

StepOutcome DpoObjective::step(const std::vector<std::vector<size_t>>& microBatches)
{
    // The loss is the mean over the step's pairs: each micro-batch's mean is weighted by its share.
    const size_t pairs = size_t(stepNormaliser(microBatches));
    DpoMetrics metrics;
    StepOutcome out;
    for (const auto& idx : microBatches) {
        if (idx.empty())
            continue;
        const PreferenceBatch batch = collatePreferences(m_train, idx, m_maxSeqLen, m_padId, m_model.device());
        out.tokens += batch.tokens;
        const PreferenceLogProbs in = logProbs(m_train, idx, batch, m_trainCache);
        const DpoTerms terms = dpoLoss(m_options, in);
        (terms.loss * (m_lossScale * (double(idx.size()) / double(pairs)))).backward();
        metrics.add(terms, in);
    }
    out.loss = metrics.loss();
    out.metrics = dpoMetricList(metrics, false);
    out.normaliser = double(pairs);
    return out;
}

EvalOutcome DpoObjective::evaluate(int64_t step)
{
    torch::NoGradGuard ng;
    const bool wasTraining = m_model.is_training();
    m_model.eval();
    DpoMetrics metrics;
    int64_t tokens = 0;
    for (size_t start = 0; start < m_validation.size(); start += size_t(m_batchSize)) {
        const auto idx = range(start, std::min(m_validation.size(), start + size_t(m_batchSize)));
        const PreferenceBatch batch = collatePreferences(m_validation, idx, m_maxSeqLen, m_padId, m_model.device());
        tokens += batch.tokens;
        const PreferenceLogProbs in = logProbs(m_validation, idx, batch, m_validationCache);
        metrics.add(dpoLoss(m_options, in), in);
    }
    m_model.train(wasTraining);
    EvalOutcome e;
    e.stats.step = step;
    e.stats.tokens = tokens;
    e.stats.loss = metrics.loss();
    e.metrics = {{"eval/loss", e.stats.loss}};
    const MetricList more = dpoMetricList(metrics, true);
    e.metrics.insert(e.metrics.end(), more.begin(), more.end());
    return e;
}

torch::Tensor DpoObjective::probeLoss(const std::vector<size_t>& indices)
{
    // Sensitivity to the preferred answers: the mean negative log-likelihood of the chosen tokens.
    const PreferenceBatch batch = collatePreferences(m_train, indices, m_maxSeqLen, m_padId, m_model.device());
    const PairLogProbs pol = scorePairs(m_model, batch, m_chunkTokens);
    const int64_t tokens = pol.chosenTokens.sum().item<int64_t>();
    if (tokens == 0)
        return {};
    return -pol.chosen.sum() / double(tokens);
}

void DpoObjective::saveState(std::vector<std::pair<std::string, torch::Tensor>>& tensors) const
{
    // The cache goes with the checkpoint so that a resumed run scores against the very same numbers.
    if (m_trainCache.defined()) {
        tensors.emplace_back(kCacheTensors[0], m_trainCache.chosen);
        tensors.emplace_back(kCacheTensors[1], m_trainCache.rejected);
    }
    if (m_validationCache.defined()) {
        tensors.emplace_back(kCacheTensors[2], m_validationCache.chosen);
        tensors.emplace_back(kCacheTensors[3], m_validationCache.rejected);
    }
}

void DpoObjective::loadState(const std::map<std::string, torch::Tensor>& state)
{
    auto take = [&](const char* chosenKey, const char* rejectedKey, size_t count, Cache& cache) {
        auto c = state.find(chosenKey), r = state.find(rejectedKey);
        if (c == state.end() || r == state.end())
            return; // computed again by prepare(), deterministically
        if (c->second.dim() != 1 || c->second.size(0) != int64_t(count) || r->second.sizes() != c->second.sizes())
            throw Error(std::string("the checkpoint's tensor '") + chosenKey + "' holds " + std::to_string(c->second.numel())
                        + " reference log-probs but the data has " + std::to_string(count) + " pairs; resume needs the same data");
        cache = {c->second.clone(), r->second.clone()};
    };
    take(kCacheTensors[0], kCacheTensors[1], m_train.size(), m_trainCache);
    take(kCacheTensors[2], kCacheTensors[3], m_validation.size(), m_validationCache);
}

} // namespace rslora::engine::objectives
