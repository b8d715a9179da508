// The preference losses (DESIGN.md §4; reference/peft.md §10): DPO with optional label smoothing
// (conservative DPO), IPO, and the length-normalised, reference-free SimPO form, with the numbers
// users watch (rewards, margin, accuracy, policy log-probs).
#pragma once

#include <torch/torch.h>

#include <string>

namespace rslora::engine::objectives {

// sigmoid: −(1−ε)·log σ(β·h) − ε·log σ(−β·h), h = (π_w − ref_w) − (π_l − ref_l), log-probs summed.
// ipo: (h − 1/(2β))², with log-probs averaged over each response's tokens.
// simpo: the sigmoid form on h = avg π_w − avg π_l − γ/β (log-probs averaged, no reference).
enum class DpoVariant { Sigmoid, Ipo, Simpo };

const char* dpoVariantName(DpoVariant v);
// "sigmoid" (also "dpo"), "ipo", "simpo"; throws rslora::Error listing them otherwise.
DpoVariant parseDpoVariant(const std::string& name);

struct DpoOptions {
    DpoVariant variant = DpoVariant::Sigmoid;
    double beta = 0.1;
    double labelSmoothing = 0.0; // ε ∈ [0, 0.5): the share of pairs assumed mislabelled (sigmoid, simpo)
    double simpoGamma = 0.5;     // γ: the target reward margin of SimPO
    // α of RPO: adds α · NLL of each chosen response per token (−π_w / n_w) to every pair's loss, in
    // any variant, so that the chosen style is learned as text, not only as a margin over the rejected
    // one. Per pair rather than per batch token: micro-batches then add up to the step's batch exactly.
    double rpoAlpha = 0.0;
};

// Throws rslora::Error naming the option for β outside (0, 1000] or where the loss overflows float32
// (DpoLimits.h), ε outside [0, 0.5), γ non-finite,
// α negative or non-finite.
void validateDpoOptions(const DpoOptions& options);

// Per-pair inputs: log-probs summed over response tokens, [B] each, and the responses' token counts.
// The reference tensors are ignored by simpo (pass undefined tensors).
struct PreferenceLogProbs {
    torch::Tensor policyChosen, policyRejected;
    torch::Tensor referenceChosen, referenceRejected;
    torch::Tensor chosenTokens, rejectedTokens;
};

struct DpoTerms {
    torch::Tensor loss;            // mean over pairs (+ α·NLL of the chosen tokens), differentiable
    torch::Tensor rewardsChosen;   // [B], detached: β·(π_w − ref_w) (simpo: β·avg π_w)
    torch::Tensor rewardsRejected; // [B], detached
    // [B], detached: how far apart the rewards may be from float rounding alone (policy and reference
    // are scored in batches of different shapes), 1e-6 of the log-probs' magnitudes; zero for simpo.
    torch::Tensor tieTolerance;
};

DpoTerms dpoLoss(const DpoOptions& options, const PreferenceLogProbs& in);

// Sums over pairs for logging and evaluation; averages come out of it.
struct DpoMetrics {
    int64_t pairs = 0;
    double lossSum = 0, rewardChosenSum = 0, rewardRejectedSum = 0, correct = 0;
    double logpChosenSum = 0, logpRejectedSum = 0;

    void add(const DpoTerms& terms, const PreferenceLogProbs& in);
    void merge(const DpoMetrics& other);
    double loss() const { return pairs ? lossSum / double(pairs) : 0.0; }
    double rewardChosen() const { return pairs ? rewardChosenSum / double(pairs) : 0.0; }
    double rewardRejected() const { return pairs ? rewardRejectedSum / double(pairs) : 0.0; }
    double margin() const { return rewardChosen() - rewardRejected(); }
    // Share of pairs whose reward margin is > 0 beyond float rounding (DpoTerms::tieTolerance): at the
    // start, when policy and reference are the same model, every pair is a tie and none is correct.
    double accuracy() const { return pairs ? correct / double(pairs) : 0.0; }
    double logpChosen() const { return pairs ? logpChosenSum / double(pairs) : 0.0; }
    double logpRejected() const { return pairs ? logpRejectedSum / double(pairs) : 0.0; }
};

} // namespace rslora::engine::objectives
