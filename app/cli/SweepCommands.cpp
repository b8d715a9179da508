// `rslora sweep` (a grid of config values × seeds run one after another as one group in the store,
// each run evaluated the same way at its end; Ctrl-C stops the group, `--resume GROUP` continues it)
// and `rslora sweeps list|show|delete` (group statistics: mean ± std over seeds, best, Welch p).
#include "app/cli/Commands.h"
#include "app/cli/ShellWord.h"
#include "app/cli/ConsoleObserver.h"
#include "app/cli/OutputPath.h"
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
#include "engine/pipeline/PipelineConfig.h"
#include "engine/sweep/SweepSpec.h"
#include "engine/sweep/SweepSummary.h"
#include "storage/Database.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include <sys/stat.h>
#include <unistd.h>

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

// The store file as the sweep found it: a file removed or replaced meanwhile is never opened again
// (opening a missing path would make a new, empty store there).
struct StoreFile {
    dev_t device = 0;
    ino_t inode = 0;
};

StoreFile storeFileOf(const fs::path& db)
{
    struct stat st {};
    if (::stat(db.c_str(), &st) != 0)
        throw Error("the store " + db.string() + " cannot be read: " + std::strerror(errno));
    return {st.st_dev, st.st_ino};
}

// "" while the store file is the one the sweep started with and takes a write; else what is wrong.
std::string storeProblem(const fs::path& db, const StoreFile& file, int64_t groupId)
{
    struct stat st {};
    if (::stat(db.c_str(), &st) != 0)
        return "the store file " + db.string() + " was removed during the sweep (" + std::strerror(errno) + ")";
    if (st.st_dev != file.device || st.st_ino != file.inode)
        return "the store file " + db.string() + " was replaced by another file during the sweep";
    try {
        storage::Store st(db);
        app::SweepGroup::probeWrite(st, groupId);
    } catch (const std::exception& e) {
        return std::string("the store no longer takes writes: ") + errorText(e);
    }
    return {};
}

// The run's metrics on their way to the store, remembering whether the store refused them: a run
// that fails because of that is a store failure, not a failure of its combination.
class StoreSink : public MetricsSink {
public:
    explicit StoreSink(MetricsSink& inner) : m_inner(inner) {}
    void write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) override
    {
        guard([&] { m_inner.write(step, metrics); });
    }
    void flush() override { guard([&] { m_inner.flush(); }); }
    void discardAfter(int64_t step) override { guard([&] { m_inner.discardAfter(step); }); }
    void writeParams(const std::vector<std::pair<std::string, std::string>>& params) override
    {
        guard([&] { m_inner.writeParams(params); });
    }
    const std::string& failure() const { return m_failure; }

private:
    template <typename F>
    void guard(F&& f)
    {
        try {
            f();
        } catch (const std::exception& e) {
            if (m_failure.empty())
                m_failure = errorText(e);
            throw;
        }
    }
    MetricsSink& m_inner;
    std::string m_failure;
};

// How a member run ended for the sweep: go on with the next, stop (Ctrl-C), or stop because the
// store failed (`why`), which every later run would meet too.
struct MemberOutcome {
    enum Kind { Next, Stopped, StoreFailed } kind = Next;
    std::string why;
};

MemberOutcome storeFailed(const std::string& why)
{
    return {MemberOutcome::StoreFailed, why};
}

// Ctrl-C while a run is evaluated: the evaluation cannot stop half-way, so the process ends at once
// as before, but first says how to continue (`--resume` evaluates the run again). Only what is
// async-signal-safe runs in the handler: the text is made before it is armed.
char g_evaluationStopText[1024];
size_t g_evaluationStopLength = 0;

extern "C" void onEvaluationInterrupt(int sig)
{
    const ssize_t written = ::write(STDERR_FILENO, g_evaluationStopText, g_evaluationStopLength);
    (void)written;
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void armEvaluationStop(int64_t groupId, int64_t runId, const SweepOptions& o)
{
    const std::string text = "\nsweep #" + std::to_string(groupId) + " stopped during the evaluation of run #"
                             + std::to_string(runId) + "; continue it with: " + resumeCommand(groupId, o)
                             + " (it evaluates run #" + std::to_string(runId) + " again)\n";
    g_evaluationStopLength = std::min(text.size(), sizeof g_evaluationStopText);
    std::memcpy(g_evaluationStopText, text.data(), g_evaluationStopLength);
    std::signal(SIGINT, onEvaluationInterrupt);
}

// Back to noting Ctrl-C for the sweep's next safe point (or, after one, to the default).
void disarmEvaluationStop()
{
    holdInterrupt();
}

// Evaluates a finished member's adapter as the spec asks. A failure of the store is returned (it
// stops the sweep); any other failure is reported with the command that evaluates it again.
MemberOutcome evaluateMember(const fs::path& db, const StoreFile& file, const SweepSpec& spec, int64_t groupId,
                             int64_t runId, int64_t adapterId, const SweepOptions& o)
{
    if (const std::string problem = storeProblem(db, file, groupId); !problem.empty())
        return storeFailed(problem);
    // A Ctrl-C since the run ended stops the sweep before the evaluation; --resume evaluates the run.
    if (interrupted())
        return {MemberOutcome::Stopped, {}};
    try {
        storage::Store st(db);
        armEvaluationStop(groupId, runId, o);
        if (!o.quiet)
            std::fprintf(stderr, "sweep #%lld: evaluating run #%lld\n", (long long)groupId, (long long)runId);
        const std::string text = app::SweepGroup::evaluateRun(st, spec, runId, adapterId);
        disarmEvaluationStop();
        if (!o.quiet)
            std::fprintf(stderr, "%s\n", text.c_str());
    } catch (const std::exception& e) {
        disarmEvaluationStop();
        if (dynamic_cast<const storage::DatabaseError*>(&e))
            return storeFailed("the store refused the evaluation of run #" + std::to_string(runId) + ": " + errorText(e));
        if (const std::string problem = storeProblem(db, file, groupId); !problem.empty())
            return storeFailed(problem + " (the evaluation of run #" + std::to_string(runId) + " failed: " + errorText(e) + ")");
        std::fprintf(stderr, "evaluation of run #%lld failed: %s\n(%s evaluates it again)\n", (long long)runId,
                     errorText(e).c_str(), resumeCommand(groupId, o).c_str());
    }
    return {};
}

// Trains one member run of the group in the store and evaluates its adapter.
MemberOutcome runMember(const fs::path& db, const StoreFile& file, const SweepSpec& spec, int64_t groupId,
                        int64_t runId, const SweepOptions& o)
{
    TrainConfig config;
    std::unique_ptr<app::RunRecorder> recorder;
    try {
        storage::Store st(db);
        const storage::RunRecord run = st.runs().require(runId);
        config = TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
        recorder = std::make_unique<app::RunRecorder>(db, runId);
    } catch (const std::exception& e) {
        return storeFailed("the store could not be read for run #" + std::to_string(runId) + ": " + errorText(e));
    }
    try {
        recorder->start(config.device);
    } catch (const storage::DatabaseError& e) {
        return storeFailed("the store refused to start run #" + std::to_string(runId) + ": " + errorText(e));
    } catch (const std::exception& e) {
        // Another process took the run meanwhile (or it finished there): not this sweep's to train.
        std::fprintf(stderr, "run #%lld skipped: %s\n", (long long)runId, errorText(e).c_str());
        return {};
    }
    // Complete checkpoints only: a save killed half-way leaves a hidden staging folder, nothing to resume.
    const std::string resume = RunFolder::checkpointsIn(config.outputDir).empty() ? "" : "latest";
    ConsoleObserver observer(o.quiet);
    StoreSink sink(*recorder);
    TrainResult r;
    try {
        watchInterrupt(&observer);
        r = runTraining(config, &observer, &sink, resume, recorder->identity());
        holdInterrupt();
    } catch (const std::exception& e) {
        holdInterrupt();
        try {
            recorder->fail(errorText(e));
        } catch (const std::exception& again) {
            logError(std::string("cannot record the failure: ") + again.what());
        }
        std::fprintf(stderr, "\nrun #%lld failed: %s\n", (long long)runId, errorText(e).c_str());
        if (!sink.failure().empty())
            return storeFailed("the store refused what run #" + std::to_string(runId) + " wrote: " + sink.failure());
        if (const std::string problem = storeProblem(db, file, groupId); !problem.empty())
            return storeFailed(problem + " (run #" + std::to_string(runId) + " failed: " + errorText(e) + ")");
        return {interrupted() ? MemberOutcome::Stopped : MemberOutcome::Next, {}};
    }
    std::optional<int64_t> adapterId;
    try {
        adapterId = recorder->finish(r);
    } catch (const std::exception& e) {
        return storeFailed("run #" + std::to_string(runId) + " trained, but " + errorText(e));
    }
    recorder.reset();
    std::fprintf(stderr, "\nrun #%lld %s after %lld steps, final loss %.4f%s\n", (long long)runId,
                 trainStatusName(r.status), (long long)r.steps, r.finalLoss,
                 r.finalEval ? (", val loss " + std::to_string(r.finalEval->loss)).c_str() : "");
    if (r.status == TrainStatus::Stopped || interrupted())
        return {MemberOutcome::Stopped, {}};
    if (adapterId && app::SweepGroup::evaluates(spec))
        return evaluateMember(db, file, spec, groupId, runId, *adapterId, o);
    return {};
}

SweepSummary summaryOf(storage::Store& store, int64_t groupId)
{
    std::vector<SweepRunResult> runs = app::SweepGroup::results(store, groupId);
    for (auto& m : app::SweepGroup::missing(store, groupId))
        runs.push_back(std::move(m));
    return SweepSummary::compute(runs);
}

nlohmann::json groupJson(storage::Store& store, const storage::RunGroupRecord& g)
{
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& m : store.groups().members(g.id)) {
        const auto run = store.runs().require(m.runId);
        runs.push_back({{"position", m.position}, {"run_id", m.runId}, {"name", run.name},
                        {"status", storage::toString(run.status)}, {"seed", run.seed ? uint64_t(*run.seed) : 0},
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
    const SweepSummary summary = summaryOf(store, groupId);
    std::cout << "sweep #" << g->id << " \"" << g->name << "\": " << finished << " of " << total + summary.missing
              << " runs finished" << (summary.missing ? " (" + std::to_string(summary.missing) + " deleted)" : std::string())
              << "\n" << summary.toText();
}

// Runs what is left of the group; prints the statistics. Exit code 130 when stopped; when the store
// fails, the sweep stops at once (every later run would fail the same way), says why and how to
// continue, and the command fails.
void runGroup(const fs::path& db, int64_t groupId, const SweepOptions& o)
{
    const StoreFile file = storeFileOf(db);
    // Ctrl-C is caught from here to the end: between runs and evaluations it stops the sweep at the
    // next one (before, one pressed there ended the process without saying how to continue).
    holdInterrupt();
    struct Unwatch {
        ~Unwatch() { unwatchInterrupt(); }
    } unwatch;
    SweepSpec spec;
    std::vector<storage::RunGroupMember> pending;
    std::vector<std::pair<int64_t, int64_t>> unevaluated;
    {
        storage::Store st(db);
        spec = app::SweepGroup::spec(st, groupId);
        unevaluated = app::SweepGroup::unevaluated(st, groupId);
        pending = app::SweepGroup::claim(st, groupId);
    }
    MemberOutcome outcome;
    // Runs that finished in an earlier session without their evaluation (it failed, or the sweep was
    // stopped during it) are evaluated first.
    for (const auto& [runId, adapterId] : unevaluated) {
        if (interrupted()) {
            outcome.kind = MemberOutcome::Stopped;
            break;
        }
        std::fprintf(stderr, "sweep #%lld: evaluating run #%lld (finished earlier, not evaluated)\n", (long long)groupId,
                     (long long)runId);
        outcome = evaluateMember(db, file, spec, groupId, runId, adapterId, o);
        if (outcome.kind != MemberOutcome::Next)
            break;
    }
    if (outcome.kind == MemberOutcome::Next && interrupted())
        outcome.kind = MemberOutcome::Stopped;
    for (size_t i = 0; i < pending.size() && outcome.kind == MemberOutcome::Next && !interrupted(); ++i) {
        // A store that is gone or refuses writes would fail this run and every one after it.
        if (const std::string problem = storeProblem(db, file, groupId); !problem.empty()) {
            outcome = storeFailed(problem);
            break;
        }
        std::fprintf(stderr, "[%zu/%zu] sweep #%lld: run #%lld\n", i + 1, pending.size(), (long long)groupId,
                     (long long)pending[i].runId);
        outcome = runMember(db, file, spec, groupId, pending[i].runId, o);
    }
    if (outcome.kind == MemberOutcome::Next && interrupted())
        outcome.kind = MemberOutcome::Stopped;
    if (outcome.kind == MemberOutcome::StoreFailed)
        throw Error("sweep #" + std::to_string(groupId) + " stopped: " + outcome.why
                        + "; no further run was started, since each would fail the same way",
                    "the group and its finished runs are kept; once the store takes writes again (free disk space, "
                    "put the file back, end what locks it), continue with: " + resumeCommand(groupId, o));
    storage::Store st(db);
    printResults(st, groupId, o.json);
    if (outcome.kind == MemberOutcome::Stopped) {
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
    // Each key of a pipeline's base and stages would be named unknown, once per combination.
    if (pipeline::PipelineConfig::isPipeline(base))
        throw Error(o.config + " is a pipeline (it has 'base', 'stages' or 'pipeline'); rslora sweep varies one training config",
                    "sweep the training config of one stage on its own, or run the pipeline with: rslora train "
                        + shellWord(o.config));
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
    refuseRepeatedKeys(o.overrides, "--set");
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
    // The name labels the group and each of its runs on one line of every listing.
    if (std::any_of(o.name.begin(), o.name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        throw Error("--name \"" + storecli::oneLine(o.name) + "\": a sweep's name is one line of text without control characters");
    if (!o.name.empty() && o.name.find_first_not_of(" ") == std::string::npos)
        throw Error("--name: a sweep's name cannot be only spaces", "leave --name out to name the sweep after its config file");
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
    list->add_option("--db", db, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
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
            // Runs deleted from the store still count among the runs the sweep was made with.
            const int missing = int(app::SweepGroup::missing(st, g.id).size());
            if (json)
                out.push_back({{"group_id", g.id}, {"name", g.name}, {"config", g.configPath}, {"runs", total + missing},
                               {"finished", finished}, {"missing", missing}, {"created_at", g.createdAt}});
            else
                std::cout << "#" << g.id << "  " << storecli::pad(storecli::oneLine(g.name), 24) << "  " << finished
                          << "/" << total + missing << " finished"
                          << (missing ? " (" + std::to_string(missing) + " deleted)" : std::string()) << "  "
                          << storecli::fmtTime(g.createdAt) << "  " << g.configPath << "\n";
        }
        if (json)
            std::cout << out.dump(2) << "\n";
        else if (st.groups().list("sweep").empty())
            std::cout << "no sweep groups in " << st.path().string() << " (make one with: rslora sweep CONFIG --vary KEY=V1,V2)\n";
    });
    auto* show = sweeps->add_subcommand("show", "Group statistics: mean ± std and n per combination, best, Welch p");
    show->add_option("group", groupRef, "Group id or name")->required();
    show->add_option("--csv", csvPath, "Also write the statistics as CSV to this file");
    show->add_option("--db", db, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    show->add_flag("--json", json, "Machine-readable output");
    show->callback([] {
        // Before the store opens: a path that cannot be written is refused whatever the group.
        const fs::path csv = csvPath.empty() ? fs::path() : outputPath(csvPath, "--csv");
        storage::Store st(databasePath(db));
        const auto g = st.groups().resolve(groupRef);
        std::error_code ec;
        if (!csvPath.empty() && fs::is_directory(csvPath, ec))
            throw Error("--csv " + csvPath + ": is a folder; the statistics go to a file",
                        "give a file name, e.g. " + shellWord((fs::path(csvPath) / ("sweep-" + std::to_string(g.id) + ".csv")).string()));
        if (!csvPath.empty()) {
            writeFileAtomic(csv, summaryOf(st, g.id).toCsv());
            // On stderr: with --json, stdout holds the JSON alone.
            std::cerr << "wrote " << csv.string() << "\n";
        }
        printResults(st, g.id, json);
    });
    auto* del = sweeps->add_subcommand("delete", "Delete a sweep group with all its runs (their adapter versions stay)");
    del->add_option("group", groupRef, "Group id or name")->required();
    del->add_flag("--yes,-y", yes, "Confirm the deletion");
    del->add_option("--db", db, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
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
