// Records a pipeline in the experiment store for both front ends: the pipeline is one group (a project
// named after it, and run tags), each trained stage a run, its adapter a version of task
// <pipeline>_<stage> with one lineage edge to every stage below it (stacked-on or merged-into-base,
// with the weight it had), and `from:` references resolved against the stored versions.
#pragma once

#include "app/shared/RunRecorder.h"
#include "engine/pipeline/PipelineRunner.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rslora::storage {
class Store;
struct RunRecord;
}

namespace rslora::app {

// Tag keys and values of pipeline runs and versions, in one place.
inline constexpr const char* kPipelineTag = "pipeline";
inline constexpr const char* kPipelineStageTag = "pipeline_stage";
inline constexpr const char* kRelationStackedOn = "stacked-on";
inline constexpr const char* kRelationMergedIntoBase = "merged-into-base";

class PipelineRecorder : public engine::pipeline::PipelineHooks {
public:
    explicit PipelineRecorder(std::filesystem::path databasePath);
    ~PipelineRecorder() override;

    // Called with the stage's run id when it starts and its version when it ends (progress display).
    std::function<void(const engine::pipeline::StageContext&, int64_t runId)> onStageRun;
    std::function<void(const engine::pipeline::StageContext&, const engine::TrainResult&, std::optional<int64_t>)> onStageEnd;
    std::function<void(const engine::pipeline::StageContext&, const std::string&)> onStageSkipped;

    std::string checkFrom(const std::string& reference) override;
    std::pair<std::filesystem::path, std::optional<int64_t>> resolveFrom(const std::string& reference) override;
    engine::pipeline::StageRecording stageStarting(const engine::pipeline::StageContext& ctx) override;
    std::optional<int64_t> stageFinished(const engine::pipeline::StageContext& ctx, const engine::TrainResult& r) override;
    std::optional<int64_t> finishedEarlier(const engine::pipeline::StageContext& ctx) override;
    void stageFailed(const engine::pipeline::StageContext& ctx, const std::string& message) override;
    void stageSkipped(const engine::pipeline::StageContext& ctx, const std::string& why) override;

    // The task a stage's versions go to: "<pipeline>_<stage>".
    static std::string stageTask(const std::string& pipeline, const std::string& stage);
    // The folder a pipeline writes to when its config names none: <folder of the database>/pipelines/<name>.
    static std::filesystem::path defaultOutputDir(const std::filesystem::path& databasePath, const std::string& pipeline);
    // The lineage edges of a stage's version to the stages below it.
    static VersionLineage lineageOf(const engine::pipeline::StageContext& ctx, const std::string& pipeline);
    // The runs of the pipeline `run` belongs to, in stage order, up to and including it (the newest of
    // each stage at or before it: a pipeline run again has several); empty for a run of no pipeline.
    static std::vector<storage::RunRecord> runsUpTo(storage::Store& store, const storage::RunRecord& run);

private:
    std::filesystem::path m_db;
    std::unique_ptr<storage::Store> m_store;
    std::unique_ptr<RunRecorder> m_recorder;
};

} // namespace rslora::app
