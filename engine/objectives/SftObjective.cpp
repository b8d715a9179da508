// Next-token SFT objective (see SftObjective.h).
#include "engine/objectives/SftObjective.h"

#include "models/CausalLmLoss.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine::objectives {

SftObjective::SftObjective(const TrainConfig& config, models::CausalLM& model, std::vector<TrainExample> train,
                           std::vector<TrainExample> validation)
    : m_maxSeqLen(config.maxSeqLen), m_batchSize(config.batchSize), m_chunkTokens(config.lossChunkTokens), m_model(model),
      m_train(std::move(train)), m_validation(std::move(validation)), m_padId(model.config().padTokenId.value_or(0))
{
}

SftObjective::Batch SftObjective::collate(const std::vector<size_t>& indices, const std::vector<TrainExample>& examples) const
{
    int64_t T = 1;
    for (size_t i : indices)
        T = std::max<int64_t>(T, std::min<int64_t>(int64_t(examples[i].ids.size()), m_maxSeqLen));
    const int64_t B = int64_t(indices.size());
    Batch b;
    auto ids = torch::full({B, T}, m_padId, torch::kLong);
    auto mask = torch::zeros({B, T}, torch::kLong);
    auto labels = torch::full({B, T}, models::kIgnoreIndex, torch::kLong);
    auto* pi = ids.data_ptr<int64_t>();
    auto* pm = mask.data_ptr<int64_t>();
    auto* pl = labels.data_ptr<int64_t>();
    for (int64_t r = 0; r < B; ++r) {
        const auto& e = examples[indices[size_t(r)]];
        const int64_t n = std::min<int64_t>(int64_t(e.ids.size()), T);
        for (int64_t t = 0; t < n; ++t) {
            pi[r * T + t] = e.ids[size_t(t)];
            pm[r * T + t] = 1;
            pl[r * T + t] = e.labels[size_t(t)];
        }
        b.tokens += n;
    }
    const auto device = m_model.device();
    b.ids = ids.to(device);
    b.mask = mask.to(device);
    b.labels = labels.to(device);
    return b;
}

double SftObjective::stepNormaliser(const std::vector<std::vector<size_t>>& microBatches) const
{
    int64_t supervised = 0;
    for (const auto& idx : microBatches)
        for (size_t i : idx)
            supervised += supervisedTokens(m_train[i], m_maxSeqLen);
    return double(supervised);
}

StepOutcome SftObjective::step(const std::vector<std::vector<size_t>>& microBatches)
{
    // The loss is normalized by the supervised tokens of the whole step, so accumulation gives the
    // same gradient as one large batch.
    const int64_t supervised = int64_t(stepNormaliser(microBatches));
    // Summed on the device and left there: the trainer reads it when it logs (a read per step, or
    // per micro-batch, would make the host wait for the device each time).
    torch::Tensor lossSum;
    StepOutcome out;
    for (const auto& idx : microBatches) {
        const Batch b = collate(idx, m_train);
        out.tokens += b.tokens;
        const auto hidden = m_model.hiddenStates(b.ids, b.mask);
        const auto ls = models::causalLmLossSum(hidden, *m_model.lmHead(), b.labels, m_chunkTokens);
        if (ls.tokens == 0)
            continue;
        (ls.sum / double(std::max<int64_t>(1, supervised)) * m_lossScale).backward();
        const torch::Tensor sum = ls.sum.detach().to(torch::kDouble);
        lossSum = lossSum.defined() ? lossSum + sum : sum;
    }
    out.lossOnDevice = (lossSum.defined() ? lossSum : torch::zeros({}, torch::kDouble)) / double(std::max<int64_t>(1, supervised));
    out.normaliser = double(supervised);
    return out;
}

EvalOutcome SftObjective::evaluate(int64_t step)
{
    torch::NoGradGuard ng;
    const bool wasTraining = m_model.is_training();
    m_model.eval();
    double sum = 0.0;
    int64_t tokens = 0;
    for (size_t start = 0; start < m_validation.size(); start += size_t(m_batchSize)) {
        std::vector<size_t> idx;
        for (size_t i = start; i < std::min(m_validation.size(), start + size_t(m_batchSize)); ++i)
            idx.push_back(i);
        const Batch b = collate(idx, m_validation);
        const auto hidden = m_model.hiddenStates(b.ids, b.mask);
        const auto ls = models::causalLmLossSum(hidden, *m_model.lmHead(), b.labels, m_chunkTokens);
        sum += ls.sum.item<double>();
        tokens += ls.tokens;
    }
    m_model.train(wasTraining);
    EvalOutcome e;
    e.stats.step = step;
    e.stats.tokens = tokens;
    e.stats.loss = tokens > 0 ? sum / double(tokens) : 0.0;
    e.stats.perplexity = std::exp(e.stats.loss);
    e.metrics = {{"eval/loss", e.stats.loss}, {"eval/perplexity", e.stats.perplexity}};
    return e;
}

torch::Tensor SftObjective::probeLoss(const std::vector<size_t>& indices)
{
    const Batch batch = collate(indices, m_train);
    const auto hidden = m_model.hiddenStates(batch.ids, batch.mask);
    const auto ls = models::causalLmLossSum(hidden, *m_model.lmHead(), batch.labels, m_chunkTokens);
    if (ls.tokens == 0)
        return {};
    return ls.sum / double(ls.tokens);
}

} // namespace rslora::engine::objectives
