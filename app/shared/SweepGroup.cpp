// Creating a sweep's group and runs, and reading them back.
#include "app/shared/SweepGroup.h"

#include "app/shared/EvaluationRecorder.h"
#include "app/shared/RunRecorder.h"
#include "common/Error.h"
#include "engine/Evaluator.h"
#include "engine/RunDataCheck.h"
#include "engine/RunFolder.h"
#include "engine/TrainConfig.h"
#include "engine/objectives/DpoObjective.h"
#include "models/data/JsonlReader.h"
#include "models/data/PreferenceRecord.h"
#include "models/data/RecordMessages.h"
#include "storage/Database.h"
#include "storage/RunOwner.h"
#include "storage/Statement.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <filesystem>
#include <mutex>
#include <set>

namespace rslora::app {

namespace {

// A sweep's runs are new: a folder one of them would train in that already holds another run's
// checkpoints or final save is refused now, not when that run comes up after the ones before it
// trained (a sweep made twice with one output.dir names the same run-N folders).
void refuseUsedOutputFolder(const engine::TrainConfig& c)
{
    if (c.outputDir.empty())
        return;
    std::string held;
    if (const auto checkpoints = engine::RunFolder::checkpointsIn(c.outputDir); !checkpoints.empty())
        held = "checkpoints of another run (" + checkpoints.back().describe() + ")";
    const std::filesystem::path final =
        std::filesystem::path(c.outputDir) / (c.mode == engine::TrainMode::Lora ? "adapter" : "model");
    std::error_code ec;
    if (held.empty() && std::filesystem::exists(std::filesystem::symlink_status(final, ec))
        && !(std::filesystem::is_directory(final, ec) && std::filesystem::is_empty(final, ec)))
        held = "'" + final.filename().string() + "' (" + final.string() + "), which the run's final save would replace";
    if (!held.empty())
        throw Error("output.dir '" + c.outputDir + "' already holds " + held,
                    "give the sweep another output.dir (each run trains in <output.dir>/run-N), or leave output.dir empty "
                    "for folders of their own");
}

// Every run's config, read and checked as `rslora train` checks a config: against its model's layer
// shapes from config.json and its tokenizer's chat templates, and with its whole data set read as the
// trainer reads it (each data file once for all combinations and seeds), so that a rank a target
// layer cannot take, a data.chat_template the tokenizer lacks or a bad record is refused by value
// before any run is recorded, not by every run of its combination failing.
std::vector<engine::TrainConfig> validatedConfigs(const std::vector<engine::SweepPoint>& points)
{
    std::vector<engine::TrainConfig> configs;
    // Kept for the process: the sweep dialog checks its spec after each edit, and a data file that has
    // not changed since it was read is not read again.
    static std::mutex inputsMutex;
    static engine::RunDataCheck inputs;
    const std::lock_guard<std::mutex> lock(inputsMutex);
    for (const auto& p : points) {
        engine::TrainConfig c;
        try {
            c = engine::TrainConfig::fromJson(p.config);
            engine::TrainConfig check = c;
            if (check.outputDir.empty())
                check.outputDir = "(the run's own folder)";
            inputs.check(check);
            refuseUsedOutputFolder(c);
        } catch (const Error& e) {
            throw Error("sweep combination " + p.combinationLabel() + " (seed " + std::to_string(p.seed)
                            + "): " + e.what(), e.hint());
        }
        configs.push_back(std::move(c));
    }
    return configs;
}

// Every record of a preference file is a pair (prompt, chosen, rejected) that evaluation reads (an
// empty response, a missing side or a bad message refused as it would refuse them), and there is one.
void checkPreferenceRecords(const std::string& file)
{
    size_t records = 0;
    models::JsonlReader::read(
        file, models::MalformedLinePolicy::Fail,
        [&](const models::JsonRecord& r) {
            if (models::records::detectFormat(r.value) != models::SampleFormat::Preference)
                throw Error(r.where + ": expected a preference record (prompt, chosen, rejected)");
            models::records::readPreferenceRecord(r.value, r.where, "");
            ++records;
        },
        [](std::size_t, const std::string&) {});
    if (records == 0)
        throw Error("no preference records in the file");
}

} // namespace

int SweepGroup::validate(const nlohmann::json& baseConfig, const engine::SweepSpec& spec)
{
    const int runs = int(validatedConfigs(spec.expand(baseConfig)).size());
    checkEvaluationFiles(spec);
    return runs;
}

void SweepGroup::checkEvaluationFiles(const engine::SweepSpec& spec)
{
    for (const char* key : {"exact_match", "multiple_choice", "preference"}) {
        const std::string file = spec.evaluate.value(key, std::string());
        if (file.empty())
            continue;
        const std::string where = std::string("sweep.evaluate.") + key + " " + file;
        std::error_code ec;
        if (!std::filesystem::exists(file, ec))
            throw Error(where + ": no such file", "check the path (relative paths are taken from the sweep file's folder)");
        if (!std::filesystem::is_regular_file(file, ec))
            throw Error(where + ": not a file");
        try {
            if (std::string(key) == "exact_match")
                (void)engine::loadExactMatchItems(file);
            else if (std::string(key) == "multiple_choice")
                (void)engine::loadChoiceItems(file);
            else
                checkPreferenceRecords(file);
        } catch (const Error& e) {
            throw Error(where + ": " + e.what(), e.hint());
        }
    }
}

int64_t SweepGroup::create(storage::Store& store, const std::string& name, const std::string& configPath,
                           const nlohmann::json& baseConfig, const engine::SweepSpec& spec)
{
    const std::vector<engine::SweepPoint> points = spec.expand(baseConfig);
    std::vector<engine::TrainConfig> configs = validatedConfigs(points);
    checkEvaluationFiles(spec);
    storage::Transaction tx(store.database());
    storage::RunGroupRecord g;
    g.kind = "sweep";
    g.name = name;
    g.specJson = spec.toJson().dump();
    g.configJson = baseConfig.dump();
    g.configPath = configPath;
    const int64_t groupId = store.groups().create(g);
    for (size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        const std::string runName = name + " · " + p.combinationLabel() + " · seed " + std::to_string(p.seed);
        const int64_t runId = RunRecorder::createQueuedRun(store, configs[i], runName);
        store.runs().setTag(runId, "sweep", name);
        storage::RunGroupMember m;
        m.groupId = groupId;
        m.position = p.position;
        m.runId = runId;
        m.combinationIndex = p.combinationIndex;
        nlohmann::json combo = nlohmann::json::array();
        for (const auto& [k, v] : p.combination)
            combo.push_back({k, v});
        m.combinationJson = combo.dump();
        m.seedIndex = p.seedIndex;
        store.groups().addMember(m);
    }
    tx.commit();
    return groupId;
}

std::vector<storage::RunGroupMember> SweepGroup::pending(storage::Store& store, int64_t groupId)
{
    std::vector<storage::RunGroupMember> out;
    for (const auto& m : store.groups().members(groupId))
        if (store.runs().require(m.runId).status != storage::RunStatus::Finished)
            out.push_back(m);
    return out;
}

void SweepGroup::refuseHeld(storage::Store& store, int64_t groupId)
{
    for (const auto& m : pending(store, groupId)) {
        const storage::RunRecord run = store.runs().require(m.runId);
        const storage::RunOwner owner = storage::RunOwner::of(run);
        if (owner.alive() && !owner.thisProcess)
            throw Error(owner.describe(run) + ": sweep #" + std::to_string(groupId) + " is under way there",
                        "wait for it, or stop that process first");
    }
}

std::vector<storage::RunGroupMember> SweepGroup::claim(storage::Store& store, int64_t groupId)
{
    storage::Transaction tx(store.database());
    refuseHeld(store, groupId);
    std::vector<storage::RunGroupMember> out = pending(store, groupId);
    for (const auto& m : out)
        store.runs().markQueued(m.runId);
    tx.commit();
    return out;
}

void SweepGroup::probeWrite(storage::Store& store, int64_t groupId)
{
    storage::Transaction tx(store.database());
    auto st = store.database().cached("UPDATE run_groups SET name = name WHERE id = ?");
    st->bind(1, groupId);
    st->run();
    tx.commit();
}

std::vector<std::pair<int64_t, int64_t>> SweepGroup::unevaluated(storage::Store& store, int64_t groupId)
{
    std::vector<std::pair<int64_t, int64_t>> out;
    const engine::SweepSpec s = spec(store, groupId);
    if (!evaluates(s))
        return out;
    // The names the evaluations table keeps for what the spec asks (EvaluationRecorder).
    std::vector<std::string> datasets;
    for (const char* key : {"exact_match", "multiple_choice", "preference"})
        if (const std::string file = s.evaluate.value(key, std::string()); !file.empty())
            datasets.push_back(std::filesystem::path(file).filename().string());
    if (s.evaluate.value("diagnostics", false))
        datasets.push_back("(adapter)");
    for (const auto& m : store.groups().members(groupId)) {
        if (store.runs().require(m.runId).status != storage::RunStatus::Finished)
            continue;
        const auto adapter = store.queries().newestAdapterOf(m.runId);
        if (!adapter)
            continue;
        for (const std::string& dataset : datasets)
            if (!store.queries().runEvaluated(m.runId, *adapter, dataset)) {
                out.emplace_back(m.runId, *adapter);
                break;
            }
    }
    return out;
}

std::vector<engine::SweepRunResult> SweepGroup::results(storage::Store& store, int64_t groupId)
{
    std::vector<engine::SweepRunResult> out;
    for (const auto& r : store.queries().groupResults(groupId)) {
        engine::SweepRunResult x;
        x.runId = r.run.id;
        x.combinationIndex = r.member.combinationIndex;
        const nlohmann::json combo = nlohmann::json::parse(r.member.combinationJson, nullptr, false);
        if (combo.is_array())
            for (const auto& kv : combo)
                if (kv.is_array() && kv.size() == 2 && kv[0].is_string())
                    x.combination.emplace_back(kv[0].get<std::string>(), kv[1]);
        x.seed = r.run.seed ? uint64_t(*r.run.seed) : 0;
        x.finished = r.run.status == storage::RunStatus::Finished;
        x.failed = r.run.status == storage::RunStatus::Failed;
        if (x.failed)
            x.error = r.run.errorMessage;
        for (const auto& m : engine::sweepMetrics())
            if (auto it = r.values.find(m.key); it != r.values.end())
                x.metrics[m.key] = it->second;
        out.push_back(std::move(x));
    }
    return out;
}

std::vector<engine::SweepRunResult> SweepGroup::missing(storage::Store& store, int64_t groupId)
{
    std::vector<engine::SweepRunResult> out;
    const auto g = store.groups().get(groupId);
    if (!g)
        return out;
    const nlohmann::json base = nlohmann::json::parse(g->configJson, nullptr, false);
    if (base.is_discarded())
        return out;
    std::vector<engine::SweepPoint> points;
    try {
        points = spec(store, groupId).expand(base);
    } catch (const Error&) {
        return out; // a group this build cannot expand again: its members are all there is to show
    }
    std::set<int> present;
    for (const auto& m : store.groups().members(groupId))
        present.insert(m.position);
    for (const auto& p : points) {
        if (present.count(p.position))
            continue;
        engine::SweepRunResult x;
        x.missing = true;
        x.combinationIndex = p.combinationIndex;
        x.combination = p.combination;
        x.seed = p.seed;
        out.push_back(std::move(x));
    }
    return out;
}

engine::SweepSpec SweepGroup::spec(storage::Store& store, int64_t groupId)
{
    const auto g = store.groups().get(groupId);
    if (!g)
        throw Error("no run group with id " + std::to_string(groupId));
    const nlohmann::json j = nlohmann::json::parse(g->specJson, nullptr, false);
    if (j.is_discarded())
        throw Error("run group #" + std::to_string(groupId) + ": its stored spec is not JSON");
    return engine::SweepSpec::fromJson(j);
}

bool SweepGroup::evaluates(const engine::SweepSpec& spec)
{
    for (const char* key : {"exact_match", "multiple_choice", "preference"})
        if (!spec.evaluate.value(key, std::string()).empty())
            return true;
    return spec.evaluate.value("diagnostics", false);
}

std::string SweepGroup::evaluateRun(storage::Store& store, const engine::SweepSpec& spec, int64_t runId, int64_t adapterId)
{
    const engine::TrainConfig config = engine::TrainConfig::fromJson(nlohmann::json::parse(store.runs().require(runId).configJson));
    const auto adapter = store.adapters().get(adapterId);
    if (!adapter)
        throw Error("run #" + std::to_string(runId) + ": no adapter version with id " + std::to_string(adapterId));
    engine::EvalRequest req;
    req.modelPath = config.modelPath;
    // As the run trained: on top of its frozen stages, and preference pairs scored against the
    // reference and with the loss options it trained with.
    req.adapterPaths = config.adapter.stackOn;
    req.adapterPaths.push_back(adapter->path);
    req.diagnosedAdapter = config.adapter.stackOn.size();
    if (config.dpo.reference == engine::DpoReference::Stack)
        req.referenceAdapterPaths = config.adapter.stackOn;
    req.dpo = engine::objectives::dpoOptionsFrom(config.dpo);
    req.device = config.device;
    req.maxSeqLen = config.maxSeqLen;
    req.chatTemplate = config.chatTemplate;
    req.exactMatchData = spec.evaluate.value("exact_match", std::string());
    req.multipleChoiceData = spec.evaluate.value("multiple_choice", std::string());
    req.preferenceData = spec.evaluate.value("preference", std::string());
    req.maxNewTokens = spec.evaluate.value("max_new_tokens", req.maxNewTokens);
    req.limit = spec.evaluate.value("limit", 0);
    req.diagnostics = spec.evaluate.value("diagnostics", false);
    const engine::EvalReport report = engine::runEvaluation(req);
    EvaluationRecorder::record(store, adapterId, runId, req, report);
    return report.toText();
}

} // namespace rslora::app
