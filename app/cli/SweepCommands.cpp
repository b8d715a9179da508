// `rslora sweep` (a grid of config values × seeds run one after another as one group in the store,
// each run evaluated the same way at its end; Ctrl-C stops the group, `--resume GROUP` continues it)
// and `rslora sweeps list|show|delete` (group statistics: mean ± std over seeds, best, Welch p).
#include "app/cli/Commands.h"
#include "app/cli/ShellWord.h"
#include "app/cli/ConsoleObserver.h"
#include "app/cli/StorageCli.h"
#include "app/shared/RunRecorder.h"
#include "app/shared/SweepGroup.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Log.h"
#include "common/Paths.h"
#include "engine/ErrorText.h"
#include "engine/Evaluator.h"
#include "engine/RunFolder.h"
#include "engine/TrainingRun.h"
#include "engine/sweep/SweepSpec.h"
#include "engine/sweep/SweepSummary.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace rslora::cli {

namespace {

using namespace rslora::engine;
namespace fs = std::filesystem;

struct SweepOptions {
    std::string config;
    std::vector<std::string> vary, overrides;
    int seeds = 0;
    std::string resume, name, db, exactMatch, multipleChoice, preference;
    bool json = false, quiet = false, dryRun = false, diagnostics = false;
};

fs::path databasePath(const std::string& db)
{
    return db.empty() ? defaultDatabasePath() : fs::path(db);
}

// The command that continues the group: in the same database (without --db it was looked for in the
// default one, which does not hold it).
std::string resumeCommand(int64_t groupId, const SweepOptions& o)
{
    return "rslora sweep --resume " + std::to_string(groupId) + (o.db.empty() ? "" : " --db " + shellWord(o.db));
}

// Trains one member run of the group in the store and evaluates its adapter. Returns false when the
// user stopped it (Ctrl-C), so no further run starts.
bool runMember(const fs::path& db, const SweepSpec& spec, int64_t groupId, int64_t runId, const SweepOptions& o)
{
    TrainConfig config;
    {
        storage::Store st(db);
        const storage::RunRecord run = st.runs().require(runId);
        config = TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
    }
    // Complete checkpoints only: a save killed half-way leaves a hidden staging folder, nothing to resume.
    const std::string resume = RunFolder::checkpointsIn(config.outputDir).empty() ? "" : "latest";
    ConsoleObserver observer(o.quiet);
    app::RunRecorder recorder(db, runId);
    TrainResult r;
    try {
        recorder.start(config.device);
        watchInterrupt(&observer);
        r = runTraining(config, &observer, &recorder, resume, recorder.identity());
        unwatchInterrupt();
    } catch (const std::exception& e) {
        unwatchInterrupt();
        try {
            recorder.fail(errorText(e));
        } catch (const std::exception& again) {
            logError(std::string("cannot record the failure: ") + again.what());
        }
        std::fprintf(stderr, "\nrun #%lld failed: %s\n", (long long)runId, errorText(e).c_str());
        return !interrupted();
    }
    const std::optional<int64_t> adapterId = recorder.finish(r);
    std::fprintf(stderr, "\nrun #%lld %s after %lld steps, final loss %.4f%s\n", (long long)runId,
                 trainStatusName(r.status), (long long)r.steps, r.finalLoss,
                 r.finalEval ? (", val loss " + std::to_string(r.finalEval->loss)).c_str() : "");
    if (r.status == TrainStatus::Stopped || interrupted())
        return false;
    if (adapterId && app::SweepGroup::evaluates(spec)) {
        storage::Store st(db);
        try {
            const std::string text = app::SweepGroup::evaluateRun(st, spec, runId, *adapterId);
            if (!o.quiet)
                std::fprintf(stderr, "%s\n", text.c_str());
        } catch (const std::exception& e) {
            // The run itself finished; its evaluation failing is reported and the sweep goes on.
            std::fprintf(stderr, "evaluation of run #%lld failed: %s\n(%s evaluates it again)\n", (long long)runId,
                         errorText(e).c_str(), resumeCommand(groupId, o).c_str());
        }
    }
    return true;
}

SweepSummary summaryOf(storage::Store& store, int64_t groupId)
{
    return SweepSummary::compute(app::SweepGroup::results(store, groupId));
}

nlohmann::json groupJson(storage::Store& store, const storage::RunGroupRecord& g)
{
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& m : store.groups().members(g.id)) {
        const auto run = store.runs().require(m.runId);
        runs.push_back({{"position", m.position}, {"run_id", m.runId}, {"name", run.name},
                        {"status", storage::toString(run.status)}, {"seed", run.seed ? *run.seed : 0},
                        {"combination", nlohmann::json::parse(m.combinationJson, nullptr, false)}});
    }
    nlohmann::json j{{"group_id", g.id}, {"name", g.name}, {"kind", g.kind}, {"config", g.configPath},
                     {"spec", nlohmann::json::parse(g.specJson, nullptr, false)}, {"runs", runs}};
    j["statistics"] = summaryOf(store, g.id).toJson();
    return j;
}

void printResults(storage::Store& store, int64_t groupId, bool json)
{
    const auto g = store.groups().get(groupId);
    if (json) {
        std::cout << groupJson(store, *g).dump(2) << "\n";
        return;
    }
    int finished = 0, total = 0;
    for (const auto& m : store.groups().members(groupId)) {
        ++total;
        finished += store.runs().require(m.runId).status == storage::RunStatus::Finished;
    }
    std::cout << "sweep #" << g->id << " \"" << g->name << "\": " << finished << " of " << total << " runs finished\n"
              << summaryOf(store, groupId).toText();
}

// Runs what is left of the group; prints the statistics. Exit code 130 when stopped.
void runGroup(const fs::path& db, int64_t groupId, const SweepOptions& o)
{
    SweepSpec spec;
    std::vector<storage::RunGroupMember> pending;
    std::vector<std::pair<int64_t, int64_t>> unevaluated;
    {
        storage::Store st(db);
        spec = app::SweepGroup::spec(st, groupId);
        pending = app::SweepGroup::pending(st, groupId);
        unevaluated = app::SweepGroup::unevaluated(st, groupId);
        app::SweepGroup::refuseHeld(st, groupId);
    }
    // Runs that finished in an earlier session without their evaluation (it failed, or the sweep was
    // stopped during it) are evaluated first.
    for (const auto& [runId, adapterId] : unevaluated) {
        std::fprintf(stderr, "sweep #%lld: evaluating run #%lld (finished earlier, not evaluated)\n", (long long)groupId,
                     (long long)runId);
        storage::Store st(db);
        try {
            const std::string text = app::SweepGroup::evaluateRun(st, spec, runId, adapterId);
            if (!o.quiet)
                std::fprintf(stderr, "%s\n", text.c_str());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "evaluation of run #%lld failed: %s\n(%s evaluates it again)\n", (long long)runId,
                         errorText(e).c_str(), resumeCommand(groupId, o).c_str());
        }
        if (interrupted())
            break;
    }
    bool stopped = interrupted();
    for (size_t i = 0; i < pending.size() && !stopped; ++i) {
        std::fprintf(stderr, "[%zu/%zu] sweep #%lld: run #%lld\n", i + 1, pending.size(), (long long)groupId,
                     (long long)pending[i].runId);
        if (!runMember(db, spec, groupId, pending[i].runId, o)) {
            stopped = true;
            break;
        }
    }
    storage::Store st(db);
    printResults(st, groupId, o.json);
    if (stopped) {
        std::fprintf(stderr, "sweep #%lld stopped; continue it with: %s\n", (long long)groupId, resumeCommand(groupId, o).c_str());
        exitCode() = 130;
    }
}

void runSweep(SweepOptions& o)
{
    const fs::path db = databasePath(o.db);
    if (!o.resume.empty()) {
        if (!o.config.empty() || !o.vary.empty() || o.seeds > 0 || !o.overrides.empty())
            throw Error("--resume GROUP continues a sweep as it was made; give no CONFIG, --vary, --seeds or --set with it");
        int64_t id;
        {
            storage::Store st(db);
            id = st.groups().resolve(o.resume).id;
        }
        runGroup(db, id, o);
        return;
    }
    if (o.config.empty())
        throw Error("rslora sweep needs a CONFIG file (or --resume GROUP)");
    auto [base, block] = readSweepConfigFile(o.config);
    SweepSpec spec;
    try {
        spec = SweepSpec::fromJson(block);
    } catch (const Error& e) {
        throw Error(o.config + ": " + e.what(), e.hint());
    }
    for (const auto& v : o.vary)
        spec.addVary(v);
    if (o.seeds > 0) {
        spec.seeds = o.seeds;
        spec.seedList.clear();
    }
    for (const auto& s : o.overrides) {
        const auto [key, value] = parseAssignment(s, "--set");
        setConfigValue(base, key, value);
    }
    if (!o.exactMatch.empty())
        spec.setEvaluation("exact_match", o.exactMatch);
    if (!o.multipleChoice.empty())
        spec.setEvaluation("multiple_choice", o.multipleChoice);
    if (!o.preference.empty())
        spec.setEvaluation("preference", o.preference);
    if (o.diagnostics)
        spec.setEvaluation("diagnostics", true);
    if (spec.axes.empty() && spec.combinations.empty() && spec.seedCount() < 2)
        throw Error("nothing to sweep: " + o.config
                        + (block.is_null() ? " has no sweep: block"
                                           : "'s sweep: block varies nothing (no vary or list values, one seed)"),
                    "add --vary KEY=V1,V2 (repeatable) and/or --seeds N");
    const std::string name = o.name.empty() ? fs::path(o.config).stem().string() : o.name;
    if (o.dryRun) {
        app::SweepGroup::validate(base, spec); // what creating the group would refuse, said now
        const auto points = spec.expand(base);
        nlohmann::json list = nlohmann::json::array();
        for (const auto& p : points) {
            if (o.json)
                list.push_back({{"position", p.position}, {"combination", p.combinationLabel()}, {"seed", p.seed},
                                {"config", p.config}});
            else
                std::cout << p.position << "  " << p.combinationLabel() << "  seed " << p.seed << "\n";
        }
        if (o.json)
            std::cout << list.dump(2) << "\n";
        else
            std::cout << points.size() << " runs (" << spec.combinationCount() << " combinations × " << spec.seedCount()
                      << " seeds)\n";
        return;
    }
    int64_t id;
    {
        storage::Store st(db);
        id = app::SweepGroup::create(st, name, o.config, base, spec);
        std::fprintf(stderr, "sweep #%lld \"%s\": %d runs (%d combinations × %d seeds) in %s\n", (long long)id,
                     name.c_str(), spec.combinationCount() * spec.seedCount(), spec.combinationCount(), spec.seedCount(),
                     db.string().c_str());
    }
    runGroup(db, id, o);
}

} // namespace

void registerSweepCommands(CLI::App& app)
{
    static SweepOptions o;
    auto* sweep = app.add_subcommand(
        "sweep", "Run a grid of config values × seeds as one group of runs, each evaluated the same way at its end");
    sweep->add_option("config", o.config, "Training config (.json, .yaml); its sweep: block is read too")
        ->check(CLI::ExistingFile);
    sweep->add_option("--vary", o.vary, "KEY=V1,V2,... : a grid axis over any config key (repeatable)");
    sweep->add_option("--seeds", o.seeds, "Runs per combination, seeds training.seed, +1, ... (default 1)")
        ->check(CLI::Range(1, 1000));
    sweep->add_option("--set", o.overrides, "Override a config value for every run: section.key=value (repeatable)");
    sweep->add_option("--resume", o.resume, "Continue a stopped sweep group (id or name)");
    sweep->add_option("--name", o.name, "Group name (default: the config file's name)");
    sweep->add_option("--exact-match", o.exactMatch, "Also evaluate every run's adapter: exact match on this JSONL");
    sweep->add_option("--multiple-choice", o.multipleChoice, "Also evaluate: multiple choice on this JSONL or CSV");
    sweep->add_option("--preference", o.preference, "Also evaluate: preference pairs JSONL");
    sweep->add_flag("--diagnostics", o.diagnostics, "Also evaluate: std of lora_A against its init's expected value, adapted-layer output std change");
    sweep->add_flag("--dry-run", o.dryRun, "List the runs without creating or training anything");
    sweep->add_flag("--json", o.json, "Machine-readable output");
    sweep->add_flag("--quiet", o.quiet, "No progress line");
    sweep->add_option("--db", o.db, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    sweep->callback([] { runSweep(o); });

    auto* sweeps = app.add_subcommand("sweeps", "Sweep groups in the store: list, show (statistics, CSV), delete");
    sweeps->require_subcommand(1);
    static std::string groupRef, csvPath, db;
    static bool json = false, yes = false;
    auto* list = sweeps->add_subcommand("list", "Sweep groups, newest first");
    list->add_option("--db", db, "Experiment database");
    list->add_flag("--json", json, "Machine-readable output");
    list->callback([] {
        storage::Store st(databasePath(db));
        nlohmann::json out = nlohmann::json::array();
        for (const auto& g : st.groups().list("sweep")) {
            int finished = 0, total = 0;
            for (const auto& m : st.groups().members(g.id)) {
                ++total;
                finished += st.runs().require(m.runId).status == storage::RunStatus::Finished;
            }
            if (json)
                out.push_back({{"group_id", g.id}, {"name", g.name}, {"config", g.configPath}, {"runs", total},
                               {"finished", finished}, {"created_at", g.createdAt}});
            else
                std::cout << "#" << g.id << "  " << storecli::pad(storecli::oneLine(g.name), 24) << "  " << finished
                          << "/" << total << " finished  " << storecli::fmtTime(g.createdAt) << "  " << g.configPath
                          << "\n";
        }
        if (json)
            std::cout << out.dump(2) << "\n";
    });
    auto* show = sweeps->add_subcommand("show", "Group statistics: mean ± std and n per combination, best, Welch p");
    show->add_option("group", groupRef, "Group id or name")->required();
    show->add_option("--csv", csvPath, "Also write the statistics as CSV to this file");
    show->add_option("--db", db, "Experiment database");
    show->add_flag("--json", json, "Machine-readable output");
    show->callback([] {
        storage::Store st(databasePath(db));
        const auto g = st.groups().resolve(groupRef);
        std::error_code ec;
        if (!csvPath.empty() && fs::is_directory(csvPath, ec))
            throw Error("--csv " + csvPath + ": is a folder; the statistics go to a file",
                        "give a file name, e.g. " + shellWord((fs::path(csvPath) / ("sweep-" + std::to_string(g.id) + ".csv")).string()));
        if (!csvPath.empty())
            writeFileAtomic(csvPath, summaryOf(st, g.id).toCsv());
        printResults(st, g.id, json);
    });
    auto* del = sweeps->add_subcommand("delete", "Delete a sweep group with all its runs (their adapter versions stay)");
    del->add_option("group", groupRef, "Group id or name")->required();
    del->add_flag("--yes,-y", yes, "Confirm the deletion");
    del->add_option("--db", db, "Experiment database");
    del->callback([] {
        storage::Store st(databasePath(db));
        const auto g = st.groups().resolve(groupRef);
        if (!yes)
            throw Error("refusing to delete sweep #" + std::to_string(g.id) + " and its "
                            + std::to_string(st.groups().members(g.id).size()) + " runs without --yes");
        const int n = st.groups().remove(g.id);
        std::cout << "deleted sweep #" << g.id << " (" << g.name << ") and " << n << " runs\n";
    });
}

} // namespace rslora::cli
