// What a sweep varies: a grid over config keys (or an explicit list of combinations) times a number
// of seeds, and its expansion into one training config per run, as pure values (no LibTorch).
#pragma once

#include "engine/sweep/ConfigOverride.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

struct SweepAxis {
    ConfigKey key;
    std::vector<nlohmann::json> values;
};

// One combination of swept values, in axis order.
using SweepCombination = std::vector<std::pair<std::string, nlohmann::json>>;

// One run of a sweep.
struct SweepPoint {
    int position = 0;          // order of the runs: seed-major, so a stopped sweep has whole seed rounds
    int combinationIndex = 0;
    int seedIndex = 0;
    uint64_t seed = 0;
    SweepCombination combination;
    nlohmann::json config;     // the base config with the combination and the seed applied
    // "adapter.r=8, adapter.init=lora" (the group a run belongs to; "(base config)" without axes).
    std::string combinationLabel() const;
};

struct SweepSpec {
    // The most runs one sweep expands to (combinations × seeds) and the most seeds it lists: a typo
    // such as one value too many on ten axes is refused by name instead of filling the memory.
    static constexpr int64_t kMaxRuns = 10000;
    static constexpr int kMaxSeeds = 1000;

    std::vector<SweepAxis> axes;                  // a grid: every combination of the axes' values
    std::vector<SweepCombination> combinations;   // or an explicit list (when not empty, axes are empty)
    int seeds = 1;                                // runs per combination, seeds base, base+1, ...
    std::vector<uint64_t> seedList;               // explicit seeds instead (sweep: seeds: [1, 7, 9])
    // Evaluations every run gets at its end besides the trainer's validation loss:
    // {exact_match: FILE, multiple_choice: FILE, preference: FILE, max_new_tokens: N, limit: N,
    // diagnostics: true (std of lora_A against its expected value, adapted-layer output std)}.
    nlohmann::json evaluate = nlohmann::json::object();
    // (dotted key, text) of each addVary so far: what a second --vary of the same key is refused by.
    std::vector<std::pair<std::string, std::string>> varied;

    // The `sweep:` block of a config: {vary: {"adapter.r": [4, 8]} or {adapter: {r: [4, 8]}},
    // list: [{"adapter.r": 4, ...}, ...], seeds: 5 | [1, 2, 3], evaluate: {...}}. Also reads what
    // toJson() writes. Throws rslora::Error naming the field.
    static SweepSpec fromJson(const nlohmann::json& block);
    nlohmann::json toJson() const;
    // `--vary KEY=V1,V2,...`: adds an axis, or replaces the one the config's sweep: block gave that
    // key (the command line overrides the file). A key given to addVary twice is refused naming both
    // texts: silently keeping only the last would drop runs the user asked for. Throws rslora::Error
    // naming the text.
    void addVary(const std::string& text);
    // Sets one evaluation of `evaluate` (a file key or a number key); throws for an unknown key.
    void setEvaluation(const std::string& key, const nlohmann::json& value);
    int seedCount() const { return seedList.empty() ? seeds : int(seedList.size()); }
    // Combinations of the grid or list (saturating at INT_MAX), and runs = combinations × seeds
    // (saturating at INT64_MAX).
    int combinationCount() const;
    int64_t runCount() const;
    // What expand() refuses before building anything: repeats (refuseRepeats), fewer than 1 seed, more
    // than kMaxRuns runs, a swept training.seed with more than one seed. Throws rslora::Error naming
    // the count or the key.
    void checkSize() const;
    // A seed listed twice, a value listed twice on one axis, a key varied twice, a list combination
    // given twice (or with a key twice): their runs would be copies counted as independent samples,
    // which makes the statistics lie. Throws rslora::Error naming the repeat.
    void refuseRepeats() const;
    // Every run: combinations × seeds. The base seed is the config's training.seed. A config with
    // output.dir gets one sub-folder per run (run-<position>), so runs never share a folder.
    // Throws rslora::Error when a swept key is also the seed with more than one seed, when it would
    // hold more than kMaxRuns runs, or nothing is valid.
    std::vector<SweepPoint> expand(const nlohmann::json& baseConfig) const;
};

// Reads a config file (JSON, or YAML by extension through the config reader) and splits off its
// `sweep:` block: returns the config without it, and the block (null when absent).
std::pair<nlohmann::json, nlohmann::json> readSweepConfigFile(const std::string& path);

} // namespace rslora::engine
