// AdamW with decoupled weight decay and per-group learning-rate multipliers (LoRA+ puts B in a
// group with multiplier λ). Written here rather than torch::optim so that its state is plain named
// tensors that checkpoints save and restore bitwise.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace rslora::engine {

struct AdamWParam {
    std::string name;       // stable key for checkpoints
    torch::Tensor param;
    double lrMultiplier = 1.0;
    bool decay = true;
};

struct AdamWOptions {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weightDecay = 0.0;
};

class AdamW {
public:
    AdamW(std::vector<AdamWParam> params, AdamWOptions options);

    // One update with base learning rate `lr`; parameters without a gradient are skipped. With
    // `apply` (a 0-dim bool on the parameters' device) the parameters and moments change only where
    // it is true, decided on the device without a read (the step count advances either way).
    void step(double lr, const torch::Tensor& apply = {});
    void zeroGrad();
    int64_t stepCount() const { return m_step; }
    const std::vector<AdamWParam>& params() const { return m_params; }

    // "exp_avg.<name>" / "exp_avg_sq.<name>" tensors, plus the step count in stateStep().
    std::map<std::string, torch::Tensor> state() const;
    void loadState(const std::map<std::string, torch::Tensor>& state, int64_t step);

private:
    std::vector<AdamWParam> m_params;
    AdamWOptions m_options;
    std::vector<torch::Tensor> m_expAvg, m_expAvgSq;
    int64_t m_step = 0;
};

} // namespace rslora::engine
