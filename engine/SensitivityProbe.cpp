// Sensitivity probing (see SensitivityProbe.h).
#include "engine/SensitivityProbe.h"

#include "common/Error.h"
#include "engine/TrainData.h"
#include "engine/distributed/GradientReducer.h"
#include "engine/distributed/ProcessGroup.h"

#include <cstring>
#include <string>

namespace rslora::engine {

namespace {

// This rank's batches on the wire: for each, its index (int64), a flag byte (1: scored) and then
// the scores (doubles, bit for bit).
std::string packScores(const std::vector<std::pair<int64_t, ProbeBatchScores>>& mine)
{
    std::string bytes;
    for (const auto& [b, s] : mine) {
        bytes.append(reinterpret_cast<const char*>(&b), sizeof b);
        bytes.push_back(s ? 1 : 0);
        if (s)
            bytes.append(reinterpret_cast<const char*>(s->data()), s->size() * sizeof(double));
    }
    return bytes;
}

void unpackScores(const std::string& bytes, size_t plans, std::vector<ProbeBatchScores>& batches)
{
    size_t at = 0;
    auto take = [&](void* to, size_t n) {
        if (at + n > bytes.size())
            throw Error("sensitivity probing: a rank sent a truncated score list");
        std::memcpy(to, bytes.data() + at, n);
        at += n;
    };
    while (at < bytes.size()) {
        int64_t b = 0;
        char scored = 0;
        take(&b, sizeof b);
        take(&scored, 1);
        if (b < 0 || size_t(b) >= batches.size())
            throw Error("sensitivity probing: a rank sent scores for probe batch " + std::to_string(b) + " of "
                        + std::to_string(batches.size()));
        if (scored) {
            std::vector<double> s(plans);
            take(s.data(), plans * sizeof(double));
            batches[size_t(b)] = std::move(s);
        }
    }
}

} // namespace

std::vector<double> smoothSensitivity(const std::vector<ProbeBatchScores>& batches, size_t plans, double beta)
{
    std::vector<double> ema(plans, 0.0);
    for (size_t b = 0; b < batches.size(); ++b) {
        if (!batches[b])
            continue;
        if (batches[b]->size() != plans)
            throw Error("sensitivity probing: probe batch " + std::to_string(b) + " holds " + std::to_string(batches[b]->size())
                        + " scores for " + std::to_string(plans) + " modules");
        for (size_t i = 0; i < plans; ++i)
            ema[i] = b == 0 ? (*batches[b])[i] : beta * ema[i] + (1.0 - beta) * (*batches[b])[i];
    }
    return ema;
}

std::vector<double> probeSensitivity(models::CausalLM& model, objectives::Objective& objective, const TrainConfig& config,
                                     const std::vector<ModulePlan>& plans, distributed::GradientReducer* reducer)
{
    std::vector<torch::Tensor> weights;
    for (const auto& slot : model.linearSlots())
        for (const auto& p : plans)
            if (p.module.name == slot.name)
                weights.push_back(slot.get()->weight);
    if (weights.size() != plans.size())
        throw Error("sensitivity probing: " + std::to_string(plans.size()) + " planned modules but "
                    + std::to_string(weights.size()) + " of them found in the model");
    for (auto& p : model.parameters())
        p.set_requires_grad(false);
    for (auto& w : weights)
        w.set_requires_grad(true);
    const int batches = config.adapter.sensitivity.probeBatches;
    const int rank = reducer ? reducer->rank() : 0;
    const int ranks = reducer ? reducer->worldSize() : 1;
    const auto order = epochOrder(objective.trainCount(), config.seed ^ 0xA11C, 0, true);
    std::vector<std::pair<int64_t, ProbeBatchScores>> mine;
    for (int b = 0; b < batches; ++b) {
        if (b % ranks != rank)
            continue;
        // Batch b holds the same rows whichever rank scores it.
        std::vector<size_t> idx;
        for (int i = 0; i < config.batchSize; ++i)
            idx.push_back(order[(size_t(b) * size_t(config.batchSize) + size_t(i)) % order.size()]);
        const torch::Tensor loss = objective.probeLoss(idx);
        if (!loss.defined()) {
            mine.emplace_back(b, std::nullopt);
            continue;
        }
        loss.backward();
        torch::NoGradGuard ng;
        std::vector<double> s(plans.size());
        for (size_t i = 0; i < plans.size(); ++i) {
            s[i] = (weights[i] * weights[i].grad()).abs().mean().item<double>();
            weights[i].mutable_grad().zero_();
        }
        mine.emplace_back(b, std::move(s));
    }
    for (auto& w : weights) {
        w.set_requires_grad(false);
        w.mutable_grad() = torch::Tensor();
    }
    std::vector<ProbeBatchScores> all(static_cast<size_t>(batches));
    if (reducer && ranks > 1) {
        for (const auto& bytes : reducer->group().allGather(packScores(mine), "gathering the sensitivity probe's scores"))
            unpackScores(bytes, plans.size(), all);
    } else {
        for (auto& [b, s] : mine)
            all[size_t(b)] = std::move(s);
    }
    return smoothSensitivity(all, plans.size(), config.adapter.sensitivity.beta);
}

} // namespace rslora::engine
