// The whole description of a training run as a plain value type (no LibTorch): what the GUI form
// produces, what `rslora train CONFIG` reads, what is stored with the run. JSON round-trip and one
// validate() that names every problem before any work starts.
#pragma once

#include "engine/AdapterConfig.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

enum class LrSchedule { Constant, Linear, Cosine };
// `lora` trains adapters on a frozen base; `full` trains every parameter (used for the demo base).
enum class TrainMode { Lora, Full };
// What a step optimises: next-token loss on responses (sft) or a preference loss on pairs (dpo).
enum class TrainObjective { Sft, Dpo };
// The preference loss (DESIGN.md §4): DPO's sigmoid form, IPO, or the reference-free SimPO form.
enum class DpoLossType { Sigmoid, Ipo, Simpo };
// The frozen reference of DPO: the original base alone, or the base plus the adapter.stack_on stages.
enum class DpoReference { Base, Stack };

// [dpo]: read when training.objective is dpo.
struct DpoConfig {
    double beta = 0.1;
    DpoLossType lossType = DpoLossType::Sigmoid;
    double labelSmoothing = 0.0; // conservative DPO: the share of pairs assumed mislabelled, in [0, 0.5)
    double simpoGamma = 0.5;     // SimPO's target reward margin
    double rpoAlpha = 0.0;       // RPO: weight of the chosen responses' NLL added to the preference loss
    DpoReference reference = DpoReference::Base;
    bool cacheReference = true;  // reference log-probs once before step 0 instead of a forward per step
};

// The start of validate()'s message for dpo.reference 'stack' without adapter.stack_on (a pipeline
// fills stack_on for its later stages itself).
// The dtypes model.dtype accepts, in the order forms offer them.
inline constexpr const char* kModelDtypes[] = {"float32", "bfloat16", "float16"};

inline constexpr const char* kStackReferenceProblem = "dpo.reference is 'stack' but adapter.stack_on is empty";

struct TrainConfig {
    // [model]
    std::string modelPath;
    std::string device = "cpu";     // "cpu", "cuda", "cuda:1"
    // The frozen base's dtype, held and computed in it (models::PrecisionPolicy): "float32",
    // "bfloat16", or "float16" (CUDA only, with loss scaling).
    std::string dtype = "float32";
    // The adapters' master weights: "float32" (default; cast to the base dtype per forward), or the
    // base's 16-bit dtype itself. Optimizer state is float32 either way.
    std::string adapterDtype = "float32";
    int threads = 0;                // 0: chosen from the machine (engine/Runtime)
    std::string quantization = "none"; // "none", or "nf4"/"fp4": the decoder projections held in 4 bits

    // [data]
    std::string trainData;          // JSONL
    std::string validationData;     // JSONL; empty: split `validationSplit` off the training set
    double validationSplit = 0.0;
    int maxSeqLen = 512;
    std::string chatTemplate;       // empty: the model's own, or plain prompt/response
    bool shuffle = true;

    // [adapter]
    AdapterConfig adapter;

    // [training]
    TrainMode mode = TrainMode::Lora;
    TrainObjective objective = TrainObjective::Sft;
    double learningRate = 2e-4;
    double weightDecay = 0.0;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    LrSchedule schedule = LrSchedule::Cosine;
    int warmupSteps = 0;
    double minLrRatio = 0.0;        // the schedule decays to learningRate * minLrRatio
    int batchSize = 8;
    int gradAccumulation = 1;
    double clipNorm = 1.0;          // <= 0: no clipping
    int epochs = 1;
    int maxSteps = 0;               // > 0 overrides epochs
    uint64_t seed = 42;
    int logEvery = 1;
    int evalEvery = 0;              // 0: only at the end
    int saveEvery = 0;              // 0: only the final adapter
    int lossChunkTokens = 1024;     // the loss is computed in chunks of this many positions
    // Decoder layers keep only their inputs in forward and recompute their activations in backward.
    bool gradientCheckpointing = false;
    // Data-parallel runs: the dtype gradients travel in ("float32": as computed; "bfloat16" on NCCL
    // or "float16" halve the bytes, rounded once after each rank's share is applied) and the most
    // gradient megabytes (of float32) one all-reduce carries.
    std::string allreduceDtype = "float32";
    int allreduceBucketMb = 16;

    // [dpo]
    DpoConfig dpo;

    // [output]
    std::string outputDir;

    // Keys found in the JSON that no field knows, with a suggestion; reported by validate().
    std::vector<std::string> unknownKeys;

    nlohmann::json toJson() const;
    // Reads a config; missing keys keep their defaults; unknown keys are collected, not fatal,
    // so that validate() reports everything at once. Wrong types and unknown enum values throw.
    static TrainConfig fromJson(const nlohmann::json& j);
    // JSON, or YAML by extension (.yaml/.yml: the flat subset the GUI writes).
    static TrainConfig load(const std::string& path);
    void save(const std::string& path) const;
};

// What validate() needs to know about the model and the data (gathered cheaply before training).
struct ModuleFacts {
    std::string name;       // "model.layers.0.self_attn.q_proj"
    std::string shortName;  // "q_proj"
    int layer = -1;
    int64_t inFeatures = 0;
    int64_t outFeatures = 0;
};
struct DatasetFacts {
    std::string path;
    int64_t samples = 0;
    int64_t supervisedTokens = 0; // tokens with a label (not masked)
};
struct ValidationFacts {
    bool haveModel = false;
    std::vector<ModuleFacts> modules;
    int numLayers = 0;
    bool haveData = false;
    DatasetFacts train;
    bool haveValidation = false;
    DatasetFacts validation;
};

// Every problem found, one specific message each; empty when the config can run.
std::vector<std::string> validate(const TrainConfig& config, const ValidationFacts& facts = {});
// Throws rslora::Error listing every problem when validate() finds any.
void validateOrThrow(const TrainConfig& config, const ValidationFacts& facts = {});

const char* lrScheduleName(LrSchedule s);
const char* trainModeName(TrainMode m);
const char* trainObjectiveName(TrainObjective o);
const char* dpoLossTypeName(DpoLossType t);
const char* dpoReferenceName(DpoReference r);

} // namespace rslora::engine
