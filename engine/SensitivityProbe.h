// AdaLoRA's sensitivity |W ⊙ ∇W| of each targeted base weight (DESIGN.md §4): the mean over the
// weight, per probe batch, smoothed by an EMA over the probe batches in order. In data-parallel
// training the probe batches are dealt out (batch b to rank b mod N); each rank scores its own and
// the per-batch scores are gathered, so every rank smooths the same numbers in the same order and
// holds the table one process would compute, in a 1/N share of its time.
#pragma once

#include "engine/ModuleSelection.h"
#include "engine/TrainConfig.h"
#include "engine/objectives/Objective.h"
#include "models/CausalLM.h"

#include <optional>
#include <vector>

namespace rslora::engine {

namespace distributed {
class GradientReducer;
}

// One probe batch's scores, one per plan; none when the batch had nothing to score (no supervised token).
using ProbeBatchScores = std::optional<std::vector<double>>;

// The smoothed score per plan from the batches' scores in probe order: the first scored batch
// starts the average, later ones enter with weight 1 - beta. (A batch without scores is skipped; a
// first batch without scores leaves the average at zero, as one process always did.)
std::vector<double> smoothSensitivity(const std::vector<ProbeBatchScores>& batches, size_t plans, double beta);

// Scores `plans` of `model` on `config.adapter.sensitivity.probeBatches` batches of
// `config.batchSize` rows drawn (seeded) from the objective's training data. Gradients of the
// planned base weights are taken and released; the base ends with no parameter requiring gradients.
// `reducer`: the data-parallel group the batches are dealt to (null: one process probes them all).
std::vector<double> probeSensitivity(models::CausalLM& model, objectives::Objective& objective, const TrainConfig& config,
                                     const std::vector<ModulePlan>& plans, distributed::GradientReducer* reducer);

} // namespace rslora::engine
