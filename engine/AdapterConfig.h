// The adapter options of DESIGN.md §4 as a plain value type (no LibTorch), shared by the trainer,
// the GUI forms and the PEFT writer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

// s = alpha / r (LoRA) or alpha / sqrt(r) (rank-stabilized).
enum class ScalingMode { AlphaOverR, AlphaOverSqrtR };
// How A and B start (DESIGN.md §4, "init").
enum class InitMode { Lora, Gaussian, Rescaled, Spectral };
// Which factors are trained: A and B themselves, or 2k coefficients over frozen seeded bases.
enum class Parameterization { Full, RandomSubspace };
// PEFT's `bias`: "none" keeps every bias frozen, "lora_only" trains the biases of adapted layers.
enum class BiasMode { None, LoraOnly };
// How ranks are chosen per module.
enum class RankAllocation { Uniform, Pattern, Sensitivity };

// An ordered regex → value table (first match wins), as PEFT's rank_pattern / alpha_pattern.
template <typename T>
using PatternTable = std::vector<std::pair<std::string, T>>;

struct GradientBalancing {
    bool enabled = false;
    double beta = 0.9;   // EMA factor of rho = |grad A| / |grad B|
    double band = 2.0;   // tau: the allowed band is [target/tau, target*tau]
    double target = 1.0; // kappa
};

struct SensitivityAllocation {
    int probeBatches = 4;
    double beta = 0.85;                     // EMA of |W ⊙ grad W| over the probe batches
    std::vector<int> candidateRanks{4, 8, 16, 32};
    int64_t parameterBudget = 0;            // 0: the parameter count of uniform `rank`
};

struct AdapterConfig {
    std::string name = "default";
    // Short names (q_proj ... down_proj), "all-linear", or empty when targetRegex is used.
    std::vector<std::string> targetModules{"q_proj", "k_proj", "v_proj", "o_proj"};
    // When not empty: a module is adapted iff the regex matches its full name (PEFT's string form).
    std::string targetRegex;
    std::vector<int> layersToTransform; // empty: every layer
    // PEFT's layers_pattern: the names of the module lists a layer index follows ("layers", "h");
    // empty: any (PEFT reads the index after the last "<name>.<digits>." of the module's name).
    std::vector<std::string> layersPattern;
    // PEFT's exclude_modules: names matched as targetModules are (exact or a dotted suffix), or, when
    // excludeRegex is set, a regex over full names; an excluded module is never adapted.
    std::vector<std::string> excludeModules;
    std::string excludeRegex;
    // Set for a PEFT adapter_config.json without target_modules: PEFT then targets its default for
    // the decoder families read here, q_proj and v_proj (layers and exclusions still apply).
    bool targetsFromWeights = false;
    int rank = 8;
    double alpha = 16.0;
    PatternTable<int> rankPattern;
    PatternTable<double> alphaPattern;
    ScalingMode scaling = ScalingMode::AlphaOverSqrtR;
    InitMode init = InitMode::Lora;
    double initSigma = 0.02;       // `rescaled`: A ~ N(0, sigma^2 / r)
    bool randomizedSvd = false;    // `spectral`: randomized range finder instead of a full SVD
    int svdIterations = 4;         // power iterations of the randomized SVD
    double dropout = 0.0;
    BiasMode bias = BiasMode::None;
    Parameterization parameterization = Parameterization::Full;
    int subspaceDim = 16;          // k: bases per factor in `random_subspace`
    uint64_t projectionSeed = 0;   // bases are regenerated from this seed and the module name
    GradientBalancing balancing;
    double loraPlusRatio = 1.0;    // lambda: B's learning rate = lambda * A's
    RankAllocation allocation = RankAllocation::Uniform;
    SensitivityAllocation sensitivity;
    uint64_t initSeed = 0;         // 0: derived from the training seed
    // Earlier stages (PEFT folders) loaded frozen and active beneath the new adapter.
    std::vector<std::string> stackOn;
};

// Names used in configs and files, kept in one place.
const char* scalingModeName(ScalingMode m);
const char* initModeName(InitMode m);
const char* parameterizationName(Parameterization m);
const char* biasModeName(BiasMode m);
const char* rankAllocationName(RankAllocation m);

// The projection names of the Llama family, in model order; "all-linear" expands to these.
const std::vector<std::string>& llamaProjectionNames();

} // namespace rslora::engine
