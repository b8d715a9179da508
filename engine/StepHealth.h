// What the training loop knows about its steps without asking the device: each step's loss and
// gradient norm stay on the device, with a sticky flag set by the first step whose loss or
// gradient is not finite (its step, loss and per-parameter gradient norms kept). Updates after
// that step are masked on the device (`updateMask`), so the adapters stay as they were before it,
// and the host reads everything in one transfer when it logs, evaluates, saves or ends: a GPU
// step never waits for the host in between.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace rslora::engine {

class StepHealth {
public:
    // `parameters`: how many trained tensors each step's per-parameter norms hold.
    void reset(const torch::Device& device, int64_t parameters);

    // The gradients' global L2 norm (0-dim double) and each one's norm (1-D double, 0 for a
    // tensor without gradient), computed on the device and not read.
    struct Norms {
        torch::Tensor global;
        torch::Tensor perParameter;
    };
    static Norms gradientNorms(const std::vector<torch::Tensor>& gradients, const torch::Device& device);

    // Step `step` (1-based) ended with this loss (0-dim, any floating dtype) and these norms.
    void record(int64_t step, const torch::Tensor& loss, const Norms& norms);
    // A 0-dim bool on the device: false from the first non-finite step on.
    torch::Tensor updateMask() const { return m_healthy; }

    struct Reading {
        double loss = 0.0;     // the last recorded step's
        double gradNorm = 0.0; // the last recorded step's
        // The first non-finite step since reset(), with its loss and the index of the first
        // parameter whose gradient norm was not finite (-1: all finite, the loss was not).
        std::optional<int64_t> firstBadStep;
        double badLoss = 0.0;
        int64_t badParameter = -1;
    };
    // One transfer from the device. Nothing recorded yet: zeros, no bad step.
    Reading read() const;

private:
    torch::Tensor m_healthy;        // bool
    torch::Tensor m_lastLoss;       // double
    torch::Tensor m_lastNorm;       // double
    torch::Tensor m_badStep;        // int64 (0: none)
    torch::Tensor m_badLoss;        // double
    torch::Tensor m_badNorms;       // double [parameters]
    int64_t m_parameters = 0;
};

} // namespace rslora::engine
