// Running a pipeline stage by stage (see PipelineRunner.h).
#include "engine/pipeline/PipelineRunner.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/Log.h"
#include "engine/TrainingRun.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/ModelExport.h"
#include "engine/PeftConfigFile.h"
#include "engine/RunFolder.h"
#include "engine/pipeline/StageFingerprint.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace rslora::engine::pipeline {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kStateMagic = "rslora-pipeline";
constexpr int kStateVersion = 1;

// The state file: one entry per stage reached, rewritten atomically after every change.
class PipelineState {
public:
    PipelineState(fs::path path, std::string name) : m_path(std::move(path)), m_name(std::move(name)) {}

    bool load()
    {
        if (!fs::exists(m_path))
            return false;
        try {
            m_json = json::parse(readFile(m_path));
        } catch (const json::parse_error& e) {
            throw Error(m_path.string() + ": not valid JSON (" + jsonErrorText(e) + ")");
        }
        if (m_json.value("magic", "") != kStateMagic || m_json.value("version", 0) != kStateVersion)
            throw Error(m_path.string() + ": not a pipeline state file of this version");
        return true;
    }
    std::string name() const { return m_json.value("name", ""); }
    std::vector<std::string> doneStages() const
    {
        std::vector<std::string> out;
        for (const auto& s : m_json.value("stages", json::array()))
            if (s.value("status", "") == "done")
                out.push_back(s.value("name", ""));
        return out;
    }
    json& stage(size_t i, const std::string& name)
    {
        if (!m_json.contains("stages"))
            m_json["stages"] = json::array();
        while (m_json["stages"].size() <= i)
            m_json["stages"].push_back(json::object());
        json& s = m_json["stages"][i];
        if (s.value("name", name) != name)
            s = json::object(); // the pipeline's stages changed at this position: start it anew
        s["name"] = name;
        return s;
    }
    void save()
    {
        m_json["magic"] = kStateMagic;
        m_json["version"] = kStateVersion;
        m_json["name"] = m_name;
        writeFileAtomic(m_path, m_json.dump(2) + "\n");
    }

private:
    fs::path m_path;
    std::string m_name;
    json m_json = json::object();
};

std::optional<int64_t> optionalId(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer())
        return std::nullopt;
    return it->get<int64_t>();
}

void setOptional(json& j, const char* key, const std::optional<int64_t>& v)
{
    if (v)
        j[key] = *v;
    else
        j.erase(key);
}

// Renames a stage folder that holds a stale result to "<folder>.stale-N" (the first N free); returns
// the new name, or "" when there was no folder.
std::string moveAside(const fs::path& folder)
{
    std::error_code ec;
    if (!fs::exists(folder, ec))
        return {};
    for (int n = 1;; ++n) {
        fs::path to = folder;
        to += ".stale-" + std::to_string(n);
        if (fs::exists(to, ec))
            continue;
        fs::rename(folder, to, ec);
        if (ec)
            throw Error("cannot move the stale stage folder " + folder.string() + " aside to " + to.string() + ": " + ec.message());
        return to.string();
    }
}

bool hasCheckpoint(const std::string& outputDir)
{
    return !RunFolder::checkpointsIn(outputDir).empty();
}

} // namespace

std::pair<fs::path, std::optional<int64_t>> PipelineHooks::resolveFrom(const std::string& reference)
{
    throw Error("no experiment store is open to look up '" + reference + "' in");
}

PipelineRunner::PipelineRunner(PipelineConfig config, PipelineHooks& hooks) : m_config(std::move(config)), m_hooks(hooks)
{
    if (m_config.outputDir.empty())
        throw Error("pipeline '" + m_config.name + "': no output folder (pipeline.output_dir)");
}

fs::path PipelineRunner::statePath() const
{
    return fs::path(m_config.outputDir) / kPipelineStateFile;
}

void PipelineRunner::check()
{
    m_config.validateOrThrow([this](const std::string& ref) { return m_hooks.checkFrom(ref); });
    m_checked = true;
}

PipelineResult PipelineRunner::run(TrainObserver* observer, bool resume)
{
    if (!m_checked)
        check();
    fs::create_directories(m_config.outputDir);
    PipelineState state(statePath(), m_config.name);
    if (state.load()) {
        if (!resume) {
            std::string done;
            for (const auto& s : state.doneStages())
                done += (done.empty() ? "" : ", ") + s;
            throw Error(m_config.outputDir + " holds the progress of pipeline '" + state.name() + "' (stages done: "
                            + (done.empty() ? "none" : done) + ")",
                        "continue it with --resume latest, or name another pipeline.output_dir");
        }
        if (state.name() != m_config.name)
            throw Error(statePath().string() + ": the progress there is pipeline '" + state.name() + "', not '" + m_config.name + "'");
    }

    PipelineResult out;
    std::vector<StageBelow> below;
    std::vector<std::string> tokens; // the fingerprint of each stage in `below`
    std::vector<size_t> stacked; // indices into `below` of the stages stacked (not merged)
    std::string mergedBase;      // the current base when earlier stages were merged into it
    const size_t n = m_config.stages.size();
    for (size_t i = 0; i < n; ++i) {
        const StageSpec& spec = m_config.stages[i];
        json& st = state.stage(i, spec.name);
        StageContext ctx;
        ctx.pipeline = m_config.name;
        ctx.index = i;
        ctx.count = n;
        ctx.spec = &spec;
        const std::string label = "stage " + std::to_string(i + 1) + "/" + std::to_string(n) + " '" + spec.name + "'";
        if (observer && observer->stopRequested()) {
            out.status = TrainStatus::Stopped;
            out.message = "stopped before " + label;
            return out;
        }

        // Earlier stages merged into the base weights: a new base folder, once.
        const bool mergeHere = spec.mergeIntoBase && !stacked.empty();
        const fs::path mergeDir = fs::path(m_config.stageFolder(i)) / kMergedBaseFolder;
        const std::string modelBefore = mergedBase.empty() ? m_config.stageConfig(i).modelPath : mergedBase;
        if (mergeHere)
            mergedBase = mergeDir.string();

        // What this stage depends on; a stage recorded with other inputs is stale and starts anew,
        // its old folder kept beside the new one.
        std::string fingerprint;
        TrainConfig cfg;
        StackWeights weights;
        if (spec.trained()) {
            cfg = m_config.stageConfig(i);
            if (!mergedBase.empty())
                cfg.modelPath = mergedBase;
            bool anyCarried = false;
            for (size_t k : mergeHere ? std::vector<size_t>{} : stacked) {
                cfg.adapter.stackOn.push_back(below[k].adapterDir.string());
                weights.carried.push_back(below[k].weight);
                anyCarried = anyCarried || below[k].weight != 1.0;
            }
            if (!anyCarried)
                weights.carried.clear();
            if (spec.curriculum.enabled() && !stacked.empty() && !mergeHere) {
                const Curriculum c = spec.curriculum;
                weights.factor = [c](int64_t step, int64_t total) { return c.factor(step, total); };
            }
            std::vector<std::string> under = tokens;
            for (size_t k = 0; k < below.size(); ++k)
                under[k] += below[k].mergedIntoBase || (mergeHere && std::count(stacked.begin(), stacked.end(), k)) ? ":merged" : ":stacked";
            fingerprint = stageFingerprint(cfg, weights, spec.curriculum, under);
        }
        const std::string recorded = st.value("fingerprint", "");
        if (!recorded.empty() && spec.trained() && recorded != fingerprint) {
            const std::string aside = moveAside(m_config.stageFolder(i));
            st = json::object();
            st["name"] = spec.name;
            const std::string why = label + ": its config, its data or a stage below it changed since it ran; it trains again"
                                    + (aside.empty() ? std::string() : " (its earlier folder is kept as " + aside + ")");
            // Said once: to the run's observer (the console, the workbench's log), else to the log.
            if (observer)
                observer->onStatus(why);
            else
                logWarning(why);
        }

        if (mergeHere) {
            if (!fs::exists(mergeDir / "config.json")) {
                if (observer)
                    observer->onStatus(label + ": merging " + std::to_string(stacked.size()) + " earlier stage(s) into the base");
                fusion::MergeRequest req;
                req.modelDir = modelBefore;
                for (size_t k : stacked)
                    req.adapters.push_back({fusion::readAdapterFactors(below[k].adapterDir, fusion::TrainedBiasUse::Read), below[k].weight, {}});
                req.outDir = mergeDir;
                fs::create_directories(mergeDir.parent_path());
                fusion::exportMergedModel(req);
            }
            for (size_t k : stacked)
                below[k].mergedIntoBase = true;
            stacked.clear();
            st["merged_base"] = mergedBase;
            state.save();
        }

        if (!spec.trained()) {
            auto [dir, id] = m_hooks.resolveFrom(spec.from);
            ctx.below = below;
            m_hooks.stageSkipped(ctx, "takes its adapter from " + spec.from);
            st["status"] = "from";
            st["adapter_dir"] = dir.string();
            setOptional(st, "adapter_id", id);
            state.save();
            StageOutcome o;
            o.stage = spec.name;
            o.trained = false;
            o.adapterDir = dir.string();
            o.adapterId = id;
            out.stages.push_back(o);
            below.push_back({spec.name, dir, id, false, 1.0});
            tokens.push_back(adoptedAdapterFingerprint(dir, id));
            stacked.push_back(below.size() - 1);
            continue;
        }

        // What the later stages see of this one's stack: the weights at its last step.
        const double endFactor = spec.curriculum.enabled() ? spec.curriculum.floor : 1.0;
        ctx.below = below;
        for (size_t k : stacked)
            ctx.below[k].weight = below[k].weight * endFactor;
        ctx.config = cfg;
        ctx.runId = optionalId(st, "run_id");

        // Killed after the stage's run finished but before the state said so: the run's result stands.
        if (st.value("status", "") == "started" && st.value("fingerprint", "") == fingerprint
            && fs::exists(fs::path(cfg.outputDir) / "adapter" / kPeftConfigFile))
            if (const std::optional<int64_t> version = m_hooks.finishedEarlier(ctx)) {
                st["status"] = "done";
                st["adapter_dir"] = (fs::path(cfg.outputDir) / "adapter").string();
                st["adapter_id"] = *version;
                state.save();
            }

        if (st.value("status", "") == "done") {
            m_hooks.stageSkipped(ctx, "done in an earlier session");
            StageOutcome o;
            o.stage = spec.name;
            o.trained = false;
            o.adapterDir = st.value("adapter_dir", "");
            o.adapterId = optionalId(st, "adapter_id");
            o.runId = ctx.runId;
            out.stages.push_back(o);
        } else {
            ctx.resuming = resume && st.value("status", "") == "started" && hasCheckpoint(cfg.outputDir);
            if (observer)
                observer->onStatus(label + (ctx.resuming ? ": resuming" : ": training")
                                   + (stacked.empty() ? "" : " on top of " + std::to_string(stacked.size()) + " frozen stage(s)")
                                   + (mergedBase.empty() ? "" : ", earlier stages merged into the base"));
            StageRecording rec;
            TrainResult r;
            try {
                rec = m_hooks.stageStarting(ctx);
                st["status"] = "started";
                st["fingerprint"] = fingerprint;
                setOptional(st, "run_id", rec.runId);
                state.save();
                r = runTraining(cfg, observer, rec.sink, ctx.resuming ? "latest" : "", rec.identity, weights);
            } catch (const std::exception& e) {
                const std::string msg = label + ": " + e.what();
                m_hooks.stageFailed(ctx, e.what());
                out.status = TrainStatus::Failed;
                out.message = msg;
                return out;
            }
            StageOutcome o;
            o.stage = spec.name;
            o.status = r.status;
            o.adapterDir = r.adapterDir;
            o.runId = rec.runId;
            o.adapterId = m_hooks.stageFinished(ctx, r);
            o.result = r;
            out.stages.push_back(o);
            if (r.status != TrainStatus::Completed) {
                out.status = r.status;
                out.message = label + ": " + (r.message.empty() ? trainStatusName(r.status) : r.message);
                return out;
            }
            st["status"] = "done";
            st["adapter_dir"] = r.adapterDir;
            setOptional(st, "adapter_id", o.adapterId);
            state.save();
        }
        for (size_t k : stacked)
            below[k].weight *= endFactor;
        below.push_back({spec.name, out.stages.back().adapterDir, out.stages.back().adapterId, false, 1.0});
        tokens.push_back(fingerprint);
        stacked.push_back(below.size() - 1);
    }
    return out;
}

} // namespace rslora::engine::pipeline
