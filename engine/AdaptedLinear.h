// The adapted projection: a frozen base linear layer plus named adapters, of which an active set
// with per-adapter weights contributes. Every adapted projection of a model runs through this
// module's forward, the only place the adapter math lives:
//   y = x Wᵀ + b + Σ_active w_i · (s_i · (drop_i(x) A_iᵀ) B_iᵀ + Δb_i)
// where Δb_i is the bias change of a bias "lora_only" adapter loaded beside others (LoraAdapter.h;
// zero for every other adapter).
#pragma once

#include "engine/LoraAdapter.h"
#include "engine/RowLowRank.h"
#include "models/LinearLayer.h"

#include <memory>
#include <string>
#include <vector>

namespace rslora::engine {

struct ActiveAdapter {
    ActiveAdapter() = default;
    ActiveAdapter(std::string adapterName, double adapterWeight = 1.0, torch::Tensor perRow = {})
        : name(std::move(adapterName)), weight(adapterWeight), rowWeights(std::move(perRow))
    {
    }
    std::string name;
    double weight = 1.0;
    // Optional weights per sequence, shape [batch]: row b of the input gets weight · rowWeights[b]
    // (a learned gate's choice per example; gradients flow into it). Undefined, the default: the
    // scalar weight alone, on the fast path.
    torch::Tensor rowWeights;
};

// One row's adapters in a mixed batch: (adapter name, weight) pairs; empty: the base alone.
using RowAdapterSet = std::vector<std::pair<std::string, double>>;

class AdaptedLinear : public models::LinearLayer {
public:
    // Shares the base's weight and bias tensors (registered under the same names, so the model's
    // parameter names stay those of Hugging Face) and freezes them. A base without a dense weight
    // (4-bit codes) computes its own part through its forward; spectral init is refused there.
    AdaptedLinear(std::shared_ptr<models::LinearLayer> base, std::string moduleName);

    torch::Tensor forward(const torch::Tensor& x) override;
    int64_t inFeatures() const override { return m_base->inFeatures(); }
    int64_t outFeatures() const override { return m_base->outFeatures(); }
    torch::TensorOptions weightOptions() const override { return m_base->weightOptions(); }

    // Adds an adapter and makes it active with weight 1 (alongside the already active ones).
    // Spectral init replaces the base weight by the residual W − s·B₀A₀.
    LoraAdapterImpl& addAdapter(const std::string& name, const AdapterSpec& spec);
    bool hasAdapter(const std::string& name) const;
    LoraAdapterImpl& adapter(const std::string& name);
    const LoraAdapterImpl& adapter(const std::string& name) const;
    std::vector<std::string> adapterNames() const;
    // Removes an adapter; a spectral one gives its base correction back first.
    void removeAdapter(const std::string& name);

    void setActiveAdapters(std::vector<ActiveAdapter> active);
    const std::vector<ActiveAdapter>& activeAdapters() const { return m_active; }

    // Mixed batches (inference): row b of the input gets Σ_k w_bk · s_k · (x_b A_kᵀ) B_kᵀ over its
    // own set. On the CPU in float32 each row's factors are read in place (RowLowRank.h); elsewhere
    // all rows run in one batched product per set position, with each row's factors gathered
    // (zero-padded to the largest rank) once here rather than per forward. Adapters this module
    // lacks are skipped. While set, it replaces the active set; an empty list returns to it.
    void setRowAdapters(const std::vector<RowAdapterSet>& rows);
    bool hasRowAdapters() const { return m_rowCount > 0; }

    const std::string& moduleName() const { return m_moduleName; }
    const std::shared_ptr<models::LinearLayer>& base() const { return m_base; }
    // The base weight before any spectral init (W_res + Σ s·B₀A₀).
    torch::Tensor originalWeight() const;
    // W + Σ_active w_i ΔW_i (for merging and checks); refused while per-row weights are active.
    torch::Tensor mergedWeight() const;
    // PEFT's bias = "lora_only": the base bias of adapted layers trains.
    void setBiasTrainable(bool trainable);

    // Forward and backward through the hand-written node (LowRankLinear.h) when PrecisionPolicy
    // lets it take the compute dtype (the default), or always through autograd's generic nodes; the two agree to
    // rounding, and tests compare them.
    static void setHandWrittenBackward(bool on) { s_handWritten = on; }

private:
    // x Wᵀ + b: through `weight`, or the base's own forward when it has no dense weight.
    torch::Tensor baseOutput(const torch::Tensor& x);
    // A dense copy of the (residual) base weight.
    torch::Tensor denseBase() const;
    // Σ_active w_i Δb_i over the active adapters that change the bias; undefined when none does.
    torch::Tensor activeBiasShift() const;

    std::shared_ptr<models::LinearLayer> m_base;
    std::string m_moduleName;
    std::vector<std::pair<std::string, LoraAdapter>> m_adapters;
    std::vector<ActiveAdapter> m_active;
    // y with per-row adapter weights (m_rowWeights), through autograd's generic nodes.
    torch::Tensor forwardPerRow(const torch::Tensor& x);

    // One set position of a mixed batch: each row's own factors (`rows`, read in place on the CPU),
    // or the gathered ones: A [B, in, r], B [B, r, out] (both transposed for bmm), coefficient w·s
    // per row [B, 1, 1] (0 where the row has no adapter there).
    struct RowPass {
        std::vector<RowFactors> rows;
        torch::Tensor at, bt, coef;
    };
    std::vector<RowPass> m_rowPasses;
    // Σ_k w_bk Δb_k per row of the mixed batch [B, 1, out]; undefined when no row's adapter changes the bias.
    torch::Tensor m_rowBiasShift;
    int64_t m_rowCount = 0;  // rows of the mixed batch (0: no mixed batch set)
    torch::Tensor forwardMixed(const torch::Tensor& x);

    // Resolved pointers of the active set, rebuilt when it changes (forward is hot).
    std::vector<std::pair<LoraAdapterImpl*, double>> m_activeResolved;
    // Per-row weights of the active set, parallel to m_activeResolved; empty when no adapter has any.
    std::vector<torch::Tensor> m_rowWeights;
    static bool s_handWritten;
};

} // namespace rslora::engine
