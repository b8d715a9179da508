// Preference losses (see DpoLoss.h).
#include "engine/objectives/DpoLoss.h"

#include "common/Error.h"
#include "engine/objectives/DpoLimits.h"

#include <cmath>

namespace rslora::engine::objectives {

const char* dpoVariantName(DpoVariant v)
{
    switch (v) {
    case DpoVariant::Sigmoid: return "sigmoid";
    case DpoVariant::Ipo: return "ipo";
    case DpoVariant::Simpo: return "simpo";
    }
    return "?";
}

DpoVariant parseDpoVariant(const std::string& name)
{
    if (name == "sigmoid" || name == "dpo")
        return DpoVariant::Sigmoid;
    if (name == "ipo")
        return DpoVariant::Ipo;
    if (name == "simpo")
        return DpoVariant::Simpo;
    throw Error("unknown preference loss \"" + name + "\" (expected sigmoid, ipo or simpo)");
}

void validateDpoOptions(const DpoOptions& o)
{
    if (const std::string problem = dpoScaleProblem(o.beta, o.variant == DpoVariant::Ipo, o.variant == DpoVariant::Simpo, o.simpoGamma);
        !problem.empty())
        throw Error(problem);
    if (!std::isfinite(o.labelSmoothing) || o.labelSmoothing < 0 || o.labelSmoothing >= 0.5)
        throw Error("dpo.label_smoothing must be in [0, 0.5), got " + std::to_string(o.labelSmoothing));
    if (o.labelSmoothing > 0 && o.variant == DpoVariant::Ipo)
        throw Error("dpo.label_smoothing applies to the sigmoid and simpo losses, not to ipo");
    if (!std::isfinite(o.simpoGamma) || o.simpoGamma < 0)
        throw Error("dpo.simpo_gamma must be a finite number >= 0 (SimPO's target margin), got " + std::to_string(o.simpoGamma));
    if (!std::isfinite(o.rpoAlpha) || o.rpoAlpha < 0 || o.rpoAlpha > kMaxRpoAlpha)
        throw Error("dpo.rpo_alpha must be in [0, " + std::to_string(int(kMaxRpoAlpha)) + "], got " + std::to_string(o.rpoAlpha));
}

DpoTerms dpoLoss(const DpoOptions& o, const PreferenceLogProbs& in)
{
    const auto dtype = in.policyChosen.scalar_type();
    const auto chosenLen = in.chosenTokens.to(in.policyChosen.device(), dtype).clamp_min(1);
    const auto rejectedLen = in.rejectedTokens.to(in.policyChosen.device(), dtype).clamp_min(1);
    DpoTerms t;
    torch::Tensor h;
    if (o.variant == DpoVariant::Simpo) {
        const auto chosen = in.policyChosen / chosenLen, rejected = in.policyRejected / rejectedLen;
        h = chosen - rejected - o.simpoGamma / o.beta;
        t.rewardsChosen = (o.beta * chosen).detach();
        t.rewardsRejected = (o.beta * rejected).detach();
        t.tieTolerance = torch::zeros_like(t.rewardsChosen);
    } else {
        auto chosenRatio = in.policyChosen - in.referenceChosen;
        auto rejectedRatio = in.policyRejected - in.referenceRejected;
        auto chosenScale = in.policyChosen.detach().abs() + in.referenceChosen.abs();
        auto rejectedScale = in.policyRejected.detach().abs() + in.referenceRejected.abs();
        if (o.variant == DpoVariant::Ipo) {
            chosenRatio = chosenRatio / chosenLen;
            rejectedRatio = rejectedRatio / rejectedLen;
            chosenScale = chosenScale / chosenLen;
            rejectedScale = rejectedScale / rejectedLen;
        }
        t.tieTolerance = (1e-6 * o.beta * (chosenScale + rejectedScale)).detach();
        h = chosenRatio - rejectedRatio;
        t.rewardsChosen = (o.beta * chosenRatio).detach();
        t.rewardsRejected = (o.beta * rejectedRatio).detach();
    }
    torch::Tensor losses;
    if (o.variant == DpoVariant::Ipo)
        losses = (h - 1.0 / (2.0 * o.beta)).pow(2);
    else
        losses = -torch::log_sigmoid(o.beta * h) * (1.0 - o.labelSmoothing) - torch::log_sigmoid(-o.beta * h) * o.labelSmoothing;
    if (o.rpoAlpha > 0) // per pair, so that micro-batches add up to the step's batch exactly
        losses = losses - o.rpoAlpha * in.policyChosen / chosenLen;
    t.loss = losses.mean();
    return t;
}

void DpoMetrics::add(const DpoTerms& t, const PreferenceLogProbs& in)
{
    const int64_t n = t.rewardsChosen.size(0);
    pairs += n;
    // One read from the device for all six sums (each .item() would wait for the device once).
    const torch::Tensor sums = torch::stack({t.loss.detach().to(torch::kDouble) * double(n),
                                             t.rewardsChosen.sum().to(torch::kDouble),
                                             t.rewardsRejected.sum().to(torch::kDouble),
                                             (t.rewardsChosen - t.rewardsRejected > t.tieTolerance).sum().to(torch::kDouble),
                                             in.policyChosen.detach().sum().to(torch::kDouble),
                                             in.policyRejected.detach().sum().to(torch::kDouble)})
                                   .cpu();
    const double* v = sums.data_ptr<double>();
    lossSum += v[0];
    rewardChosenSum += v[1];
    rewardRejectedSum += v[2];
    correct += v[3];
    logpChosenSum += v[4];
    logpRejectedSum += v[5];
}

void DpoMetrics::merge(const DpoMetrics& o)
{
    pairs += o.pairs;
    lossSum += o.lossSum;
    rewardChosenSum += o.rewardChosenSum;
    rewardRejectedSum += o.rewardRejectedSum;
    correct += o.correct;
    logpChosenSum += o.logpChosenSum;
    logpRejectedSum += o.logpRejectedSum;
}

} // namespace rslora::engine::objectives
