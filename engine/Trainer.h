// The training loop: AdamW (LoRA+ groups), LR schedule, gradient accumulation, balancing,
// clipping, NaN diagnostics, evaluation, checkpoints with bitwise resume, PEFT adapters.
// TrainConfig in, TrainResult out, an observer for progress that can pause or stop it.
#pragma once

#include "engine/AdamW.h"
#include "engine/AdapterSet.h"
#include "engine/GradientBalancer.h"
#include "engine/LossScaler.h"
#include "engine/MetricsSink.h"
#include "engine/ProgressClock.h"
#include "engine/RankAllocator.h"
#include "engine/RunIdentity.h"
#include "engine/StackWeights.h"
#include "engine/StepHealth.h"
#include "engine/TrainConfig.h"
#include "engine/TrainData.h"
#include "engine/TrainObserver.h"
#include "engine/objectives/Objective.h"
#include "models/CausalLM.h"
#include "models/PrecisionPolicy.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

namespace distributed {
class GradientReducer;
}

enum class TrainStatus { Completed, Stopped, Failed };

struct TrainResult {
    TrainStatus status = TrainStatus::Completed;
    std::string message;          // the diagnostic when Failed
    int64_t steps = 0;
    double finalLoss = 0.0;
    std::optional<EvalStats> finalEval;
    std::string adapterDir;       // final PEFT folder (LoRA) or model folder (full), when saved
    std::string lastCheckpoint;   // the last good checkpoint folder
    ParameterCounts parameters;
    std::vector<RankAllocationRow> rankTable; // sensitivity allocation, when used
};

// Checkpoint file names and format identity, in one place.
inline constexpr const char* kCheckpointMagic = "rslora-checkpoint";
inline constexpr int kCheckpointVersion = 1;
inline constexpr const char* kCheckpointStateFile = "state.safetensors";
inline constexpr const char* kCheckpointInfoFile = "checkpoint.json";
// Generator states in the state file: the CPU one always, the GPU's when the run is on CUDA.
inline constexpr const char* kCpuRngTensor = "rng.cpu";
inline constexpr const char* kCudaRngTensor = "rng.cuda";

class Trainer {
public:
    // The model must outlive the trainer. Adapters are injected by the constructor (LoRA mode).
    // Next-token SFT on `train`.
    Trainer(TrainConfig config, models::CausalLM& model, std::vector<TrainExample> train,
            std::vector<TrainExample> validation = {});
    // Any objective (it owns the data); e.g. objectives::DpoObjective for preference pairs.
    // Data-parallel training: `reducer` (it must outlive the trainer) deals the sensitivity probe's
    // batches to the ranks, this process trains its shard of every micro-batch, and the reducer makes
    // the gradients global after backward; only rank 0 writes checkpoints and adapters (the caller
    // gives the other ranks no metrics sink). Null: one process.
    Trainer(TrainConfig config, models::CausalLM& model, std::unique_ptr<objectives::Objective> objective,
            distributed::GradientReducer* reducer = nullptr);
    ~Trainer();

    void setObserver(TrainObserver* observer) { m_observer = observer; }
    void setMetricsSink(MetricsSink* sink) { m_sink = sink; }
    // Recorded in every checkpoint, so that a resume can tell this run's checkpoints from others'.
    void setRunIdentity(RunIdentity run) { m_run = std::move(run); }
    // Weights of the stacked earlier stages per step (curriculum fusion); default: 1 each throughout.
    void setStackWeights(StackWeights weights);
    // Continues from a checkpoint folder written by this trainer (same config and data).
    void resumeFrom(const std::filesystem::path& checkpointDir);

    TrainResult run();

    // The objective's loss over its validation set (no gradient).
    objectives::EvalOutcome evaluate();
    objectives::Objective& objective() { return *m_objective; }
    int64_t totalSteps() const { return m_totalSteps; }
    AdapterSet& adapters() { return *m_adapters; }
    const std::vector<RankAllocationRow>& rankTable() const { return m_rankTable; }

    // Writes a checkpoint of the current state (used by run(); public for tests).
    std::filesystem::path saveCheckpoint();

private:
    std::vector<size_t> nextMicroBatch();
    void setupParameters();
    // Sensitivity rank allocation: scores the planned modules and fills m_rankTable.
    void allocateBySensitivity();
    // Reads the steps' health from the device; false (and `result` failed, naming the first
    // non-finite step) when one was not finite.
    bool healthy(TrainResult& result);
    void failOnNonFinite(const StepHealth::Reading& reading, TrainResult& result);
    // Logs a log interval's step (reading the device once); false when the run failed instead.
    bool report(double lr, int64_t stepTokens, std::vector<ModuleStats> modules,
                std::vector<std::pair<std::string, double>> objectiveMetrics, TrainResult& result);
    void saveFinal(TrainResult& result);
    // Activates the stacked stages with their weights for the step about to be taken; returns the factor.
    double applyStackWeights();

    TrainConfig m_config;
    models::CausalLM& m_model;
    std::unique_ptr<objectives::Objective> m_objective;
    std::unique_ptr<AdapterSet> m_adapters;
    std::unique_ptr<AdamW> m_optimizer;
    GradientBalancer m_balancer;
    models::PrecisionPolicy m_policy;
    LossScaler m_scaler;
    StepHealth m_health;
    std::vector<AdamWParam> m_params;
    std::vector<RankAllocationRow> m_rankTable;
    TrainObserver* m_observer = nullptr;
    MetricsSink* m_sink = nullptr;
    RunIdentity m_run;
    torch::Device m_device = torch::kCPU;
    int64_t m_padId = 0;

    // Position: optimizer steps done, epoch, next index into the epoch order.
    int64_t m_step = 0;
    int m_epoch = 0;
    size_t m_cursor = 0;
    std::vector<size_t> m_order;
    int64_t m_tokensSeen = 0;
    int64_t m_totalSteps = 0;
    bool m_resumed = false;
    std::string m_lastCheckpoint;
    ProgressClock m_clock;
    double m_earlierSeconds = 0.0; // training time of the sessions before the checkpoint resumed from
    int64_t m_windowTokens = 0;
    StackWeights m_stackWeights;
    distributed::GradientReducer* m_reducer = nullptr;
};

const char* trainStatusName(TrainStatus s);

} // namespace rslora::engine
