// A multi-stage pipeline as the user writes it: a base training config plus an ordered list of
// stages, each with its objective, its own data, overrides of any config key, whether the earlier
// stages are merged into the base weights, an optional stored version to start from instead of
// training, and curriculum fusion. Reading, the per-stage training configs, and one check that
// names every problem (stage and key, with line and column for YAML) before anything trains.
// No LibTorch.
#pragma once

#include "engine/ConfigYaml.h"
#include "engine/TrainConfig.h"
#include "engine/pipeline/Curriculum.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rslora::engine::pipeline {

// Key names of the pipeline format, in one place.
namespace keys {
inline constexpr const char* kPipeline = "pipeline";
inline constexpr const char* kBase = "base";
inline constexpr const char* kStages = "stages";
inline constexpr const char* kName = "name";
inline constexpr const char* kOutputDir = "output_dir";
inline constexpr const char* kObjective = "objective";
inline constexpr const char* kData = "data";
inline constexpr const char* kOverrides = "overrides";
inline constexpr const char* kMergeIntoBase = "merge_into_base";
inline constexpr const char* kFrom = "from";
inline constexpr const char* kCurriculum = "curriculum";
inline constexpr const char* kSchedule = "schedule";
inline constexpr const char* kFloor = "floor";
} // namespace keys

struct StageSpec {
    std::string name;
    std::string objective = "sft";   // "sft" or "dpo" (training.objective)
    nlohmann::json data = nlohmann::json::object();      // keys of the data section ({train, validation, ...})
    nlohmann::json overrides = nlohmann::json::object(); // {section: {key: value}}
    bool mergeIntoBase = false;      // earlier stages merged into the base weights instead of stacked
    std::string from;                // "task@vN": a stored version instead of training; empty: trained
    Curriculum curriculum;
    // False when the file's entry is not a mapping (`- 3`, `- text`): that is its one problem,
    // reported when read; nothing else is checked of it.
    bool readable = true;

    bool trained() const { return from.empty(); }
};

// "task@vN" split; nullopt when it is not of that form.
struct VersionReference {
    std::string task;
    int64_t version = 0;
};
std::optional<VersionReference> parseVersionReference(const std::string& text);

class PipelineConfig {
public:
    std::string name;                      // pipeline.name, else the file's stem
    nlohmann::json base = nlohmann::json::object(); // the base training config
    std::vector<StageSpec> stages;
    std::string outputDir;                 // pipeline.output_dir, else base output.dir; may be empty
    std::string file;                      // the file read ("" when built in memory)

    // Whether a config (JSON or YAML read into JSON) is a pipeline: it has a top-level key only a
    // pipeline has (`stages`, `pipeline` or `base`), so a pipeline with a misspelt key is read as one
    // and its problems are named against the pipeline's keys.
    static bool isPipeline(const nlohmann::json& j);
    // Whether a .json/.yaml/.yml file holds a pipeline; false for a file that does not parse (its
    // reader then names the problem).
    static bool isPipelineFile(const std::string& path);
    // Reads a .json/.yaml/.yml file; relative paths (model, data, output) are taken from the file's
    // folder. Throws rslora::Error naming file, line and column for what cannot be read at all;
    // everything else is left to problems().
    static PipelineConfig load(const std::string& path);
    // `positions` (optional) gives messages their line and column; `folder` resolves relative paths.
    static PipelineConfig fromJson(const nlohmann::json& j, const std::string& defaultName = "pipeline",
                                   const std::string& folder = {}, const YamlDocument* positions = nullptr);
    nlohmann::json toJson() const;
    void save(const std::string& path) const;

    // `--set section.key=value`: a value of the base config from the command line; messages about
    // it name "--set section.key" instead of the file's line. Throws rslora::Error for an empty
    // section or key, or a section of the base that is not a mapping.
    void setBaseValue(const std::string& section, const std::string& key, const nlohmann::json& value);

    // The training config of stage `i`: base, then the stage's data, then its overrides; the
    // adapter is named after the stage. stack_on and output.dir are left for the runner.
    TrainConfig stageConfig(size_t i) const;
    // "<NN>-<name>" under outputDir: where stage `i` writes.
    std::string stageFolder(size_t i) const;

    // Every problem, one message each naming the stage and key (and line and column when read from
    // YAML). `checkFrom` checks a `from:` reference against the store (returns the problem, "" when
    // fine); without it, references are only checked for their form.
    std::vector<std::string> problems(const std::function<std::string(const std::string&)>& checkFrom = {}) const;
    // Throws rslora::Error listing every problem.
    void validateOrThrow(const std::function<std::string(const std::string&)>& checkFrom = {}) const;

    // "stage 'sft' (line 12, column 5)": how messages name a stage.
    std::string stageLabel(size_t i) const;

private:
    std::string where(const std::string& pointer) const;
    KeyLocator stageLocator(size_t i) const;
    // When a `from:` task of stage `i` that names no stored version is the task another stage of
    // this pipeline stores its versions in: why that cannot work ("" otherwise).
    std::string ownStageHint(size_t i, const std::string& task) const;

    std::vector<std::string> m_readProblems; // shapes that could not be read (reported by problems())
    std::set<std::string> m_setOnCommandLine;  // "section.key" of each setBaseValue
    YamlDocument m_positions;
};

} // namespace rslora::engine::pipeline
