// A learned gate over fused adapters: a small network that reads the base model's pooled hidden
// state of a sequence (adapters off; mean of the final-norm states over its non-pad tokens) and
// outputs one weight per adapter for that sequence. The network is a linear layer, or one hidden
// tanh layer, followed by a softmax: the weights are positive and sum to 1, so the gate chooses a
// convex mix of the adapters per example (a routing between tasks, not a task negation; use the
// grid search for signed weights). The pooled features are standardized with the training rows'
// mean and std. Trained with the base and the adapters frozen, by AdamW on the causal-LM loss of
// base + Σ gᵢ(x) ΔWᵢ over the tasks' data mixed; the adapters take the weights per row through
// AdaptedLinear's per-row active weights. Saved as a folder: gate.safetensors + gate.json.
#pragma once

#include "engine/AdapterSet.h"
#include "engine/TrainData.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace rslora::models {
class Tokenizer;
}

namespace rslora::engine::fusion {

inline constexpr const char* kGateWeightsFile = "gate.safetensors";
inline constexpr const char* kGateConfigFile = "gate.json";

// One adapter the gate weighs, as the gate folder records it.
struct GateAdapter {
    std::string name;   // name in the AdapterSet
    std::string label;  // how the user named it
    std::string path;   // PEFT folder
    std::string sha256; // Sha256::directoryHex of the folder when trained
};

struct GateTrainOptions {
    int hidden = 0;        // 0: linear gate; > 0: one tanh hidden layer of this width
    int steps = 200;
    double lr = 0.005;
    double weightDecay = 0.0;
    int batchSize = 8;
    int maxSeqLen = 512;
    uint64_t seed = 0;
};

struct GateTrainStats {
    int steps = 0;
    int64_t examples = 0;
    double firstLoss = 0.0; // mean loss of the first step's batch
    double finalLoss = 0.0; // mean loss of the last step's batch
    double seconds = 0.0;
};

class FusionGate {
public:
    FusionGate() = default;
    // A gate for `adapters` over hidden states of size `hiddenSize`, initialized to equal weights
    // (the output layer starts at zero); the hidden layer, if any, from `seed`.
    FusionGate(std::vector<GateAdapter> adapters, int64_t hiddenSize, int hidden, uint64_t seed);

    // Weights [B, n] (each row sums to 1) from pooled features [B, H]; differentiable in the gate's
    // parameters.
    torch::Tensor weights(const torch::Tensor& pooled) const;
    // The base model's pooled hidden states [B, H] (float32) for a batch, adapters switched off for
    // the call (the active set is restored).
    static torch::Tensor pooledHidden(AdapterSet& set, const torch::Tensor& ids, const torch::Tensor& mask);
    // Sets the adapters active on `set` with per-row weights `weights` [B, n] for the next forward.
    void activate(AdapterSet& set, const torch::Tensor& weights) const;
    // pooledHidden → weights → activate, for a batch (eval, generation); returns the weights.
    torch::Tensor route(AdapterSet& set, const torch::Tensor& ids, const torch::Tensor& mask) const;

    // Sets the feature standardization (mean and std [H]) from the training rows' pooled features.
    void setFeatureStats(const torch::Tensor& mean, const torch::Tensor& std);
    // The gate's trainable tensors, named as in gate.safetensors.
    std::vector<std::pair<std::string, torch::Tensor>> parameters() const;

    const std::vector<GateAdapter>& adapters() const { return m_adapters; }
    int64_t hiddenSize() const { return m_hiddenSize; }
    int hidden() const { return m_hidden; }

    GateTrainStats& stats() { return m_stats; }
    const GateTrainStats& stats() const { return m_stats; }
    // Extra facts saved in gate.json (base model, options, data).
    nlohmann::ordered_json& info() { return m_info; }
    const nlohmann::ordered_json& info() const { return m_info; }

    // Writes gate.safetensors and gate.json into `dir` atomically (the folder appears whole).
    void save(const std::filesystem::path& dir) const;
    // Reads a gate folder; throws naming the file and field for anything missing or mis-shaped.
    static FusionGate load(const std::filesystem::path& dir);

private:
    std::vector<GateAdapter> m_adapters;
    int64_t m_hiddenSize = 0;
    int m_hidden = 0;
    torch::Tensor m_featMean, m_featStd; // [H]
    torch::Tensor m_w1, m_b1;            // [hidden, H], [hidden] (hidden > 0 only)
    torch::Tensor m_w2, m_b2;            // [n, hidden or H], [n]
    GateTrainStats m_stats;
    nlohmann::ordered_json m_info = nlohmann::ordered_json::object();
};

// Per-step progress of training: (step, steps, batch loss); returning false cancels (throws).
using GateProgress = std::function<bool(int step, int steps, double loss)>;

// Trains `gate` on `examples` with the model and the adapters of `set` frozen. The gate's
// adapters must be in `set`. Leaves no adapter active.
GateTrainStats trainGate(FusionGate& gate, AdapterSet& set, const std::vector<TrainExample>& examples,
                         const GateTrainOptions& options, const GateProgress& progress = {});

struct GateExampleResult {
    std::vector<double> weights; // one per adapter
    double loss = 0.0;           // mean over the example's supervised tokens
    int64_t tokens = 0;
};

struct GateEvaluation {
    std::vector<std::string> adapters; // labels
    std::vector<GateExampleResult> examples;
    double loss = 0.0;                 // over all supervised tokens, with the gate's weights
    int64_t tokens = 0;
    std::vector<double> singleLoss;    // each adapter alone at weight 1
    double uniformLoss = 0.0;          // every adapter at 1/n
    nlohmann::ordered_json toJson() const;
    std::string toText(size_t maxExamples = 50) const;
};

// Loss per example with the gate's weights, and the same data with each adapter alone and with
// equal weights, for comparison. Leaves no adapter active.
GateEvaluation evaluateGate(const FusionGate& gate, AdapterSet& set, const std::vector<TrainExample>& examples,
                            int batchSize, int maxSeqLen);

// Throws naming the adapter when its recorded folder is gone or no longer has the recorded hash.
void checkGateAdapterFolder(const GateAdapter& adapter);

// Loads the gate's adapters from their recorded folders into `set` under the gate's adapter names,
// checking that each folder still has the recorded hash.
void loadGateAdapters(const FusionGate& gate, AdapterSet& set);

} // namespace rslora::engine::fusion
