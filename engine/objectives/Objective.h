// What a training step optimises, behind one interface, so that the trainer's loop (optimizer,
// schedule, clipping, checkpoints) is the same for next-token SFT and for preference training.
// An objective owns its data, builds its batches, runs forward and backward over a step's
// micro-batches, evaluates on its validation set and keeps whatever extra state it needs in
// checkpoints.
#pragma once

#include "engine/AdapterSet.h"
#include "engine/TrainObserver.h"

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine::objectives {

using MetricList = std::vector<std::pair<std::string, double>>;

struct StepOutcome {
    // The step's loss as logged (the objective's own normalisation): either read (`loss`), or left
    // on the device as a 0-dim tensor (`lossOnDevice`) that the trainer reads only when it logs, so
    // that a step need not wait for the device. hostLoss() gives it either way.
    double loss = 0.0;
    torch::Tensor lossOnDevice;
    double hostLoss() const { return lossOnDevice.defined() ? lossOnDevice.item<double>() : loss; }
    int64_t tokens = 0;   // input tokens (padding excluded)
    // What the loss was divided by (supervised tokens for SFT, pairs for DPO): data-parallel ranks
    // weight their gradients by their share of its global sum.
    double normaliser = 0.0;
    MetricList metrics;   // objective-specific metrics of the step ("dpo/margin", ...)
};

struct EvalOutcome {
    EvalStats stats;
    MetricList metrics; // what the metrics sink stores for the evaluation ("eval/loss", ...)
};

// The adapters as the trainer set them up: while training the frozen earlier stages and the adapter
// being trained are active; `stacked` is the frozen stages alone (at weight 1).
struct AdapterContext {
    AdapterSet* adapters = nullptr;
    std::string trainedAdapter;
    std::vector<ActiveAdapter> stacked;
};

class Objective {
public:
    virtual ~Objective() = default;

    virtual const char* name() const = 0;
    // Training samples (one epoch), and whether a validation set exists.
    virtual size_t trainCount() const = 0;
    virtual bool hasValidation() const = 0;

    // Before the trainer injects adapters into the model (which may change the base weights).
    virtual void beforeAdapters() {}
    // After the adapters exist (LoRA mode only).
    virtual void attachAdapters(const AdapterContext&) {}
    // The stacked stages at the weights the stage starts with (carried weights × the curriculum's
    // first factor), when they are not all 1: the model the stage starts from.
    virtual void setStackedAtStart(const std::vector<ActiveAdapter>&) {}
    // Before the first step of a session, after any resume: heavy one-off work (reference log-probs).
    virtual void prepare(TrainObserver*) {}

    // Forward and backward over the step's micro-batches (indices into the training samples); the
    // gradients accumulate so that the step equals one batch of all of them.
    virtual StepOutcome step(const std::vector<std::vector<size_t>>& microBatches) = 0;
    // What step() will divide the loss of these micro-batches by (StepOutcome::normaliser), known
    // before any forward: data-parallel ranks weigh their gradients by their share of its sum.
    virtual double stepNormaliser(const std::vector<std::vector<size_t>>& microBatches) const = 0;
    // The loss of the validation set (no gradient), at `step`.
    virtual EvalOutcome evaluate(int64_t step) = 0;
    // A differentiable scalar on some training samples, for sensitivity probing of base weights.
    virtual torch::Tensor probeLoss(const std::vector<size_t>& indices) = 0;

    // Extra checkpoint tensors ("<objective>.<name>"), and reading them back on resume.
    virtual void saveState(std::vector<std::pair<std::string, torch::Tensor>>&) const {}
    virtual void loadState(const std::map<std::string, torch::Tensor>&) {}

    // The factor the step's losses are multiplied by before backward (float16 loss scaling; the
    // trainer divides the gradients by it again). 1 otherwise, an exact no-op.
    void setLossScale(double scale) { m_lossScale = scale; }

protected:
    double m_lossScale = 1.0;
};

} // namespace rslora::engine::objectives
