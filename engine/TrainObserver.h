// What a running training reports and how it is steered, as plain values and atomics (no
// LibTorch, no callbacks that block): the GUI's worker, the CLI and tests adapt this one class.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

// Per adapted module, for the gradient-balance plots.
struct ModuleStats {
    std::string module;
    double gradNormA = 0.0;   // after balancing
    double gradNormB = 0.0;
    double ratio = 0.0;       // |grad A| / |grad B| before balancing (0 while skipped)
    double ratioEma = 0.0;    // the balancer's moving average (0 when balancing is off)
    double balancedRatio = 0.0; // |grad A| / |grad B| after balancing
    double normA = 0.0;       // |A|_F, |B|_F
    double normB = 0.0;
};

struct StepStats {
    int64_t step = 0;          // optimizer steps done
    int64_t totalSteps = 0;
    int epoch = 0;
    int64_t tokensSeen = 0;    // input tokens (padding excluded)
    double loss = 0.0;         // mean over supervised tokens of this step
    double learningRate = 0.0;
    double gradNorm = 0.0;     // global norm before clipping
    double tokensPerSecond = 0.0;
    double elapsedSeconds = 0.0;
    double etaSeconds = 0.0;
    int64_t peakMemoryBytes = 0;        // the host's peak resident set
    int64_t cudaPeakAllocatedBytes = 0; // the CUDA allocator's peaks on a CUDA device; 0 elsewhere
    int64_t cudaPeakReservedBytes = 0;
    std::vector<ModuleStats> modules; // filled every log step
    // The objective's own numbers of the step ("dpo/margin", "dpo/accuracy", ...; empty for SFT).
    std::vector<std::pair<std::string, double>> objectiveMetrics;
};

struct EvalStats {
    int64_t step = 0;
    double loss = 0.0;
    double perplexity = 0.0;
    int64_t tokens = 0;
    // Everything the evaluation measured under its metric names ("eval/loss", "eval/dpo_accuracy", ...).
    std::vector<std::pair<std::string, double>> metrics;
};

class TrainObserver {
public:
    virtual ~TrainObserver() = default;
    // Called on the training thread; implementations copy the values and return quickly.
    virtual void onStep(const StepStats&) {}
    virtual void onEval(const EvalStats&) {}
    // Free-form progress ("injecting adapters", "saving checkpoint step 100").
    virtual void onStatus(const std::string&) {}

    // Steering from any thread; the trainer polls between steps.
    void requestStop(bool saveFinal = true)
    {
        m_saveOnStop.store(saveFinal);
        m_stop.store(true);
    }
    void requestPause() { m_pause.store(true); }
    void resume() { m_pause.store(false); }
    // Forget earlier requests before the observer serves another run.
    void clearRequests()
    {
        m_stop.store(false);
        m_saveOnStop.store(true);
        m_pause.store(false);
    }
    bool stopRequested() const { return m_stop.load(); }
    bool saveOnStop() const { return m_saveOnStop.load(); }
    bool pauseRequested() const { return m_pause.load(); }

private:
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_saveOnStop{true};
    std::atomic<bool> m_pause{false};
};

} // namespace rslora::engine
