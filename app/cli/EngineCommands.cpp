// `rslora train`, `rslora eval`, `rslora bench`: the engine from the command line, with a one-line
// progress display, Ctrl-C to save and stop, and metrics into the store (or a run bundle).
#include "app/cli/AdapterFolderArgument.h"
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/ConsoleObserver.h"
#include "app/cli/RankWarnings.h"
#include "app/cli/WorkerGroup.h"
#include "app/shared/AdapterDescription.h"
#include "app/shared/AdapterReference.h"
#include "app/shared/EvaluationRecorder.h"
#include "app/shared/RunRecorder.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Log.h"
#include "common/Paths.h"
#include "common/Sha256.h"
#include "engine/AdapterSet.h"
#include "engine/ChatTemplateCheck.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/EngineBench.h"
#include "engine/ErrorText.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "engine/RunDataCheck.h"
#include "engine/RunFolder.h"
#include "engine/Runtime.h"
#include "engine/TrainingRun.h"
#include "engine/distributed/DistributedContext.h"
#include "engine/distributed/ProcessGroup.h"
#include "engine/pipeline/PipelineRunner.h"
#include "engine/sweep/ConfigOverride.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"
#include "storage/MetricsWriter.h"
#include "storage/Naming.h"
#include "storage/RunBundle.h"
#include "storage/RunRepository.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>

namespace rslora::cli {

namespace {

using namespace rslora::engine;

// `--no-store`: a portable run bundle beside the outputs, imported by the workbench later. It holds
// the run, its metrics, its adapter (files, hash and record, as `rslora runs export` writes them) and
// its checkpoint record. A new run never writes into an existing bundle; a resumed one continues it.
class BundleSink : public MetricsSink {
public:
    BundleSink(const TrainConfig& config, const std::string& name, bool resuming = false)
        : m_config(config),
          m_createdFolder(firstMissingFolder(config.outputDir)),
          m_newBundle(!resuming || !std::filesystem::exists(std::filesystem::path(config.outputDir) / "run-bundle" / "run.json")),
          m_bundle(std::filesystem::path(config.outputDir) / "run-bundle",
                   resuming ? storage::RunBundleWriter::Existing::Continue : storage::RunBundleWriter::Existing::Refuse)
    {
        m_before = m_bundle.contents();
        const storage::RunRecord& before = m_before.run;
        storage::RunRecord run;
        run.name = name;
        run.configJson = config.toJson().dump();
        run.seed = int64_t(config.seed);
        run.device = config.device;
        run.status = storage::RunStatus::Running;
        run.baseModel.ref = config.modelPath;
        run.dataset.ref = config.trainData;
        // The identities a stored run records (RunRecorder), so that an imported bundle has them too.
        try {
            run.baseModel.sha256 = models::modelFingerprint(config.modelPath);
            run.dataset.sha256 = Sha256::fileHex(config.trainData);
        } catch (const std::exception&) {
            // Unreadable: the run fails with its own message when it loads them.
        }
        run.createdAt = before.createdAt; // 0 for a new bundle: the writer sets it
        run.startTime = before.startTime ? before.startTime : std::optional<double>(storage::nowSeconds());
        m_bundle.writeRun(run);
    }
    void write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) override
    {
        m_recorded = true;
        const double t = double(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count()) / 1000.0;
        std::vector<storage::MetricPoint> points;
        for (const auto& [k, v] : metrics) {
            storage::MetricPoint p;
            p.key = k;
            p.step = step;
            p.wallTime = t;
            p.value = v;
            points.push_back(p);
        }
        m_bundle.appendMetrics(points);
    }
    void flush() override { m_bundle.sync(); }
    void discardAfter(int64_t step) override { m_bundle.discardMetricsAfter(step); }
    // The end of a run: its adapter and checkpoint first, the final status last (a process killed in
    // between leaves the bundle "running", which import turns into "interrupted").
    void finish(const TrainResult& r)
    {
        m_recorded = true;
        m_bundle.sync();
        if (app::AdapterDescription::hasAdapter(m_config, r))
            addAdapter(r);
        if (!r.lastCheckpoint.empty()) {
            storage::BundleArtifact a;
            a.record.kind = "checkpoint";
            a.record.path = r.lastCheckpoint;
            a.record.step = r.steps;
            a.record.createdAt = storage::nowSeconds();
            m_bundle.addArtifact(a);
        }
        finish(r.status, r.message);
    }
    void finish(TrainStatus status, const std::string& message)
    {
        m_bundle.sync();
        m_bundle.setStatus(status == TrainStatus::Completed ? storage::RunStatus::Finished
                           : status == TrainStatus::Stopped ? storage::RunStatus::Stopped
                                                            : storage::RunStatus::Failed,
                           message);
    }
    std::string directory() const { return m_bundle.directory().string(); }

    // A start refused before anything was trained or recorded (its output folder, its data, its
    // model): the bundle this run created goes, and the folders it created for it, so a refused
    // start leaves nothing behind; a continued bundle gets its run back as it was. Returns false
    // (and keeps everything, to record the failure) once the run recorded a step.
    bool discardUnstarted()
    {
        if (m_recorded)
            return false;
        if (!m_newBundle) {
            // A refused resume leaves the bundle's run as it was (stopped, say), not failed.
            m_bundle.writeRun(m_before.run, m_before.tags, m_before.params, m_before.project);
            return true;
        }
        namespace fs = std::filesystem;
        const fs::path dir = m_bundle.directory();
        std::error_code ec;
        fs::remove(dir / "metrics.csv", ec);
        fs::remove(dir / "run.json", ec);
        fs::remove(dir / "adapters", ec); // only when empty
        fs::remove(dir, ec);              // only when empty
        if (!m_createdFolder.empty())
            for (fs::path p = fs::absolute(m_config.outputDir, ec).lexically_normal(); !p.empty(); p = p.parent_path()) {
                if (!fs::is_directory(p, ec) || !fs::is_empty(p, ec) || !fs::remove(p, ec) || p == m_createdFolder
                    || p == p.parent_path())
                    break;
            }
        return true;
    }

private:
    // The outermost folder of `dir` that does not exist yet (what creating `dir` creates); empty if none.
    static std::filesystem::path firstMissingFolder(const std::string& dir)
    {
        std::error_code ec;
        std::filesystem::path created;
        for (auto p = std::filesystem::absolute(dir, ec).lexically_normal(); !ec && !p.empty() && !std::filesystem::exists(p, ec);
             p = p.parent_path()) {
            created = p;
            if (p == p.parent_path())
                break;
        }
        return created;
    }

    void addAdapter(const TrainResult& r)
    {
        const storage::NewAdapter n = app::AdapterDescription::fromTraining(m_config, r);
        storage::BundleAdapter b;
        storage::AdapterRecord& rec = b.record;
        rec.task = n.task;
        rec.variant = n.variant;
        rec.method = n.method;
        rec.rank = n.rank;
        rec.alpha = n.alpha;
        rec.targets = n.targets;
        rec.trainableParams = n.trainableParams;
        rec.stage = n.stage;
        rec.sourceStep = n.sourceStep;
        rec.baseModel = n.baseModel;
        // A resumed run that finished before adds its next version beside the earlier one.
        rec.version = 1;
        for (const auto& other : m_bundle.contents().adapters)
            if (other.record.task == rec.task)
                rec.version = std::max(rec.version, other.record.version + 1);
        if (auto ev = app::AdapterDescription::finalEvaluation(m_config, r))
            b.evaluations.push_back({ev->dataset, ev->datasetSha256, ev->metric, ev->value});
        m_bundle.addAdapter(std::move(b), r.adapterDir);
    }

    TrainConfig m_config;
    std::filesystem::path m_createdFolder;
    bool m_newBundle = true;
    bool m_recorded = false;
    storage::RunBundleWriter m_bundle;
    storage::BundleContents m_before; // the bundle's run before this process continued it
};

// The folder of a --no-store run with no output.dir: new for every run, so a run never writes into
// (or appends to the bundle of) another one.
std::filesystem::path noStoreRunFolder(const std::string& name)
{
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const std::filesystem::path root = dataDirectory() / "runs";
    std::filesystem::path dir = root / (name + "-" + stamp);
    for (int i = 2; std::filesystem::exists(dir); ++i)
        dir = root / (name + "-" + stamp + "-" + std::to_string(i));
    return dir;
}

// `--resume latest` without --run-id: the newest stopped, failed or interrupted run of the store
// that trained the same config (and wrote to the same output.dir when one is named). A paused run
// belongs to the process that paused it; once that process is gone, opening the store has marked
// the run interrupted.
int64_t runToResume(storage::Store& store, const TrainConfig& config)
{
    storage::RunFilter f;
    f.statuses = {storage::RunStatus::Interrupted, storage::RunStatus::Stopped, storage::RunStatus::Failed};
    const std::string sha = trainingConfigSha256(config);
    for (const auto& run : store.runs().list(f)) {
        nlohmann::json j = nlohmann::json::parse(run.configJson, nullptr, false);
        if (j.is_discarded() || trainingConfigSha256(j) != sha)
            continue;
        if (!config.outputDir.empty() && j.value("/output/dir"_json_pointer, std::string()) != config.outputDir)
            continue;
        return run.id;
    }
    throw Error("--resume latest: no stopped, failed or interrupted run in " + store.path().string()
                    + " trained this config" + (config.outputDir.empty() ? "" : " into " + config.outputDir),
                "`rslora runs list` shows the runs; name one with --run-id N, or start a new run without --resume");
}

// The key of the --set that a problem is about ("adapter.r"), or "" when it is about none: the problem
// starts with the key, quotes it ("config key 'adapter.r'"), or names it as an unknown key of its section.
std::string overrideKeyOf(const std::string& problem, const std::vector<std::string>& overrides)
{
    for (const auto& o : overrides) {
        const std::string key = o.substr(0, o.find('='));
        const std::size_t dot = key.find('.');
        if (dot == std::string::npos)
            continue;
        const std::string section = key.substr(0, dot), name = key.substr(dot + 1);
        if (problem.rfind(key + " ", 0) == 0 || problem.rfind(key + ":", 0) == 0 || problem.find("'" + key + "'") != std::string::npos ||
            (problem.find("unknown key '" + name + "'") != std::string::npos && problem.find("section '" + section + "'") != std::string::npos))
            return key;
    }
    return {};
}

// validate() of a config read from a file: the problems name the file and, for a key written in a
// YAML file, its line and column, or the --set that gave the value.
void validateConfigFile(const std::string& configPath, const TrainConfig& config, const std::vector<std::string>& overrides)
{
    std::vector<std::string> errors = validate(config);
    if (const std::string problem = engine::chatTemplateProblem(config); !problem.empty())
        errors.push_back(problem);
    if (errors.empty())
        return;
    std::optional<YamlDocument> doc;
    if (isYamlPath(configPath)) {
        try {
            doc = readYaml(readFile(configPath), configPath);
        } catch (const std::exception&) {
            // it was read a moment ago; without positions the problems still name file and key
        }
    }
    static const std::regex keyAtStart("^([a-z_0-9]+)\\.([a-z_0-9]+)[ :]");
    for (auto& e : errors) {
        std::smatch m;
        if (!std::regex_search(e, m, keyAtStart)) {
            // An unknown key a --set added ("unknown key 'rr' ... in section 'adapter'") is not the file's.
            if (const std::string key = overrideKeyOf(e, overrides); !key.empty() && e.find("(line ") == std::string::npos)
                e += " (--set " + key + ")";
            continue;
        }
        const std::string key = m[1].str() + "." + m[2].str();
        if (overrideKeyOf(e, overrides) == key) {
            e += " (--set " + key + ")";
        } else if (doc) {
            const auto at = doc->positions.find("/" + m[1].str() + "/" + m[2].str());
            if (at != doc->positions.end())
                e += " (line " + std::to_string(at->second.line) + ", column " + std::to_string(at->second.column) + ")";
        }
    }
    std::string msg = configPath + ": ";
    if (errors.size() == 1) {
        msg += errors.front();
    } else {
        msg += "the training config has " + std::to_string(errors.size()) + " problems:";
        for (const auto& e : errors)
            msg += "\n  - " + e;
    }
    throw Error(msg);
}

// A run writes the config it trains to <output.dir>/train_config.json. When that is the file being
// trained (a config kept in its output folder under that name), the user's file would be replaced by
// the resolved config (paths made absolute, every default written out): refused, unless the file
// already is exactly what the run writes (the saved config of an earlier run, trained again).
void refuseOverwritingConfigFile(const std::string& configPath, const TrainConfig& config)
{
    if (config.outputDir.empty())
        return;
    const std::filesystem::path saved = std::filesystem::path(config.outputDir) / "train_config.json";
    std::error_code ec;
    if (!std::filesystem::equivalent(configPath, saved, ec) || ec)
        return;
    if (readFile(configPath) == config.toJson().dump(2) + "\n")
        return;
    throw Error("output.dir '" + config.outputDir + "' holds the config file being trained, " + saved.string() +
                    ", which the run would overwrite with the config it trains",
                "rename the config file, or choose another output.dir");
}

void runTrain(const std::string& configPath, const std::string& resume, bool noStore, bool quiet, int64_t runId,
              const std::vector<std::string>& overrides, const std::string& dbOption)
{
    const auto dist = engine::distributed::DistributedContext::fromEnvironment();
    // Every rank reads the same config, data and model: rank 0 prints its warnings as they come, the
    // other ranks theirs at the end, those rank 0 did not print, labelled (RankWarnings).
    std::unique_ptr<RankWarnings> rankWarnings;
    if (dist.distributed())
        rankWarnings = std::make_unique<RankWarnings>(dist, std::getenv(kEnvStepReportFd) ? "" : dist.describe() + ": ");
    refuseRepeatedKeys(overrides, "--set");
    if (engine::pipeline::PipelineConfig::isPipelineFile(configPath)) {
        if (dist.distributed())
            throw Error("a pipeline does not train data-parallel (" + std::string(engine::distributed::kEnvWorldSize) + "="
                        + std::to_string(dist.worldSize) + "): train its stages one by one with rslora launch");
        if (runId > 0)
            throw Error("--run-id names one run; a pipeline records a run per stage (use --resume latest to continue one)");
        runPipelineTrain(configPath, resume, noStore, quiet, overrides, dbOption);
        return;
    }
    const std::filesystem::path db = dbOption.empty() ? defaultDatabasePath() : std::filesystem::path(dbOption);
    const TrainConfig loaded = TrainConfig::load(configPath);
    nlohmann::json j = loaded.toJson();
    // --set section.key=value, the value read as JSON when it parses, as a string otherwise.
    for (const auto& o : overrides) {
        const auto [key, value] = parseAssignment(o, "--set");
        setConfigValue(j, key, value);
    }
    // The file's relative paths were taken from its folder; a relative path given with --set is the
    // shell's, taken from the working folder now, so that the run records (and a resume from
    // elsewhere finds) the file it names.
    resolveConfigPaths(j, std::filesystem::current_path().string());
    TrainConfig config;
    try {
        config = TrainConfig::fromJson(j);
    } catch (const Error& e) {
        // A value of the wrong type that a --set gave: said so, since the file holds another one.
        const std::string key = overrideKeyOf(e.what(), overrides);
        if (key.empty())
            throw;
        throw Error(configPath + ": " + std::string(e.what()) + " (--set " + key + ")", e.hint());
    }
    config.device = dist.rankDevice(config.device);
    // Unknown keys of the file survive the override round-trip, so validate() reports them.
    config.unknownKeys.insert(config.unknownKeys.begin(), loaded.unknownKeys.begin(), loaded.unknownKeys.end());
    const std::string name = std::filesystem::path(configPath).stem().string();
    // validate() before a run row exists; an empty output.dir is filled in below (a folder per run).
    // Then the whole data set, read as the trainer reads it: a bad record or data with no usable
    // sample is refused before a run row, a bundle or a run folder exists.
    {
        TrainConfig check = config;
        if (check.outputDir.empty())
            check.outputDir = "(the run's own folder)";
        validateConfigFile(configPath, check, overrides);
        engine::RunDataCheck().check(check);
    }
    refuseOverwritingConfigFile(configPath, config);
    // Allowed (as in transformers), but the schedule never reaches the learning rate the config names.
    if (config.maxSteps > 0 && config.warmupSteps >= config.maxSteps)
        logWarning(configPath + ": training.warmup_steps " + std::to_string(config.warmupSteps) + " is not shorter than the run "
                   "(training.max_steps " + std::to_string(config.maxSteps) + "): the learning rate never reaches training.learning_rate");
    // Under torchrun-style variables this process joins its data-parallel group; rank 0 records the
    // run and writes, the other ranks train their shards and write nothing.
    std::unique_ptr<engine::distributed::ProcessGroup> group;
    if (dist.distributed())
        group = std::make_unique<engine::distributed::ProcessGroup>(dist, models::parseDevice(config.device));
    const bool writer = dist.rank == 0;
    ConsoleObserver observer(quiet, writer);
    if (const char* fd = std::getenv(kEnvStepReportFd)) // under rslora launch: each step for its failure report
        observer.reportStepsTo(std::atoi(fd));
    std::string resumeFrom = resume;
    std::unique_ptr<app::RunRecorder> store;
    std::unique_ptr<BundleSink> bundle;
    RunIdentity identity;
    if (!writer) {
        identity.label = dist.describe();
    } else if (noStore) {
        if (config.outputDir.empty()) {
            if (resume == "latest")
                throw Error("--resume latest with --no-store needs output.dir: the folder of the run to continue");
            config.outputDir = noStoreRunFolder(name).string();
        }
        RunFolder::requireFolderPath(config.outputDir);
        bundle = std::make_unique<BundleSink>(config, name, !resume.empty());
        identity.label = "run \"" + name + "\" (bundle " + bundle->directory() + ")";
    } else {
        // The run row: the one given by --run-id (the workbench handing a run over), the stopped or
        // interrupted run of this config that --resume latest continues, or a new one.
        storage::Store st(db);
        int64_t id = runId;
        if (id <= 0 && resume == "latest")
            id = runToResume(st, config);
        if (id > 0) {
            const storage::RunRecord existing = st.runs().require(id);
            if (existing.status == storage::RunStatus::Finished)
                throw Error("run #" + std::to_string(id) + " (\"" + existing.name + "\") has finished: --run-id continues "
                                "an interrupted, stopped or failed run, and a finished one is not trained again "
                                "(its metrics, checkpoints and adapter version stay as they are)",
                            "start a new run: rslora train " + configPath + " without --run-id");
            // Before anything is written: a run another live process trains (or queued, or paused)
            // stays that process's.
            storage::RunRepository::refuseIfHeld(existing, "training");
            const TrainConfig stored = TrainConfig::fromJson(nlohmann::json::parse(existing.configJson));
            if (config.outputDir.empty())
                config.outputDir = stored.outputDir.empty() ? app::RunRecorder::runFolder(db, id, existing.uuid).string()
                                                            : stored.outputDir;
        } else {
            id = app::RunRecorder::createQueuedRun(st, config, name);
        }
        store = std::make_unique<app::RunRecorder>(db, id);
        store->start(config.device);
        // A continued run records the config it trains now (--set overrides included), so its
        // params and its adapter version describe what was trained.
        store->setConfig(config);
        identity = store->identity();
        // A stored run that ended before its first checkpoint (killed while loading, say) has nothing
        // to continue from: it starts over as the same run, instead of refusing to resume.
        if (resume == "latest" && RunFolder::checkpointsIn(config.outputDir).empty()) {
            observer.onStatus("run #" + std::to_string(id) + " has no checkpoint yet: starting it from step 0");
            resumeFrom.clear();
        }
    }
    watchInterrupt(&observer);
    MetricsSink* sink = store ? static_cast<MetricsSink*>(store.get()) : bundle.get();
    TrainResult r;
    try {
        r = runTraining(config, &observer, sink, resumeFrom, identity, {}, group.get());
    } catch (const std::exception& e) {
        // The first failure is the one recorded and reported. Ctrl-C stays caught until it is
        // recorded (the default action would end the process with the run left running).
        observer.endLine();
        try {
            if (store)
                store->fail(errorText(e));
            if (bundle && !bundle->discardUnstarted())
                bundle->finish(TrainStatus::Failed, errorText(e));
        } catch (const std::exception& again) {
            logError(std::string("cannot record the failure: ") + again.what());
        }
        unwatchInterrupt();
        throw;
    }
    // The ranks ended the run together: each prints the warnings only it met.
    if (rankWarnings && group) {
        observer.endLine();
        rankWarnings->share(*group);
    }
    // A Ctrl-C (or a launcher's forwarded SIGINT) after the last step is caught until the result and
    // the adapter version are recorded; a second one still ends the process at once.
    if (store) {
        if (const auto adapterId = store->finish(r))
            std::cout << "adapter      #" << *adapterId << " recorded in the store\n";
    }
    if (bundle)
        bundle->finish(r);
    unwatchInterrupt();
    observer.endLine();
    exitCode() = r.status == TrainStatus::Failed ? 3 : (r.status == TrainStatus::Stopped ? 130 : 0);
    if (!writer) {
        std::cout << "status       " << trainStatusName(r.status) << " (" << dist.describe() << ", steps " << r.steps << ")\n";
        return;
    }
    std::cout << "status       " << trainStatusName(r.status) << (r.message.empty() ? "" : ": " + r.message) << "\n"
              << "steps        " << r.steps << "\n"
              << "final loss   " << r.finalLoss << "\n";
    if (r.finalEval)
        std::cout << "eval loss    " << r.finalEval->loss << "  (perplexity " << r.finalEval->perplexity << ")\n";
    std::cout << "trainable    " << r.parameters.trainable << " / " << r.parameters.total << " parameters ("
              << 100.0 * r.parameters.ratio() << "%)\n";
    std::cout << "precision    " << config.dtype << " base"
              << (config.quantization != "none" ? " (decoder projections in " + config.quantization + ")" : std::string())
              << ", " << config.adapterDtype << " adapters"
              << (config.gradientCheckpointing ? ", gradient checkpointing" : "") << "\n";
    if (!r.rankTable.empty()) {
        std::cout << "rank table (sensitivity allocation)\n";
        for (const auto& row : r.rankTable)
            std::cout << "  " << row.module << "  score " << row.score << "  rank " << row.rank << "\n";
    }
    if (!r.adapterDir.empty())
        std::cout << "saved        " << r.adapterDir << "\n";
    if (!r.lastCheckpoint.empty())
        std::cout << "checkpoint   " << r.lastCheckpoint << "\n";
    if (store)
        std::cout << "run          #" << store->runId() << " in " << db.string() << "\n";
    if (bundle)
        std::cout << "run bundle   " << bundle->directory() << "\n";
    if (group)
        std::cout << "processes    " << group->size() << " (data-parallel, " << group->backendName() << ")\n";
}

} // namespace

void registerEngineCommands(CLI::App& app)
{
    auto* train = app.add_subcommand("train", "Train an adapter (or a full model) from a JSON or YAML config, or run a multi-stage pipeline");
    static std::string configPath, resume;
    static bool noStore = false, quiet = false;
    static int64_t runId = 0;
    static std::vector<std::string> overrides;
    static std::string dbPath;
    train->add_option("config", configPath, "Training or pipeline config (.json, .yaml)")->required()->check(CLI::ExistingFile);
    train->add_option("--resume", resume, "Continue from a checkpoint folder, or 'latest'");
    train->add_flag("--no-store", noStore, "Write a portable run bundle instead of the SQLite store");
    train->add_flag("--quiet", quiet, "No progress line");
    train->add_option("--set", overrides, "Override a config value: section.key=value (repeatable)");
    train->add_option("--run-id", runId,
                      "Record into this existing interrupted, stopped or failed run of the store (continuing a run the "
                      "workbench started); the config it trains now, --set overrides included, replaces the stored one");
    train->add_option("--db", dbPath, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    train->callback([] { runTrain(configPath, resume, noStore, quiet, runId, overrides, dbPath); });

    auto* eval = app.add_subcommand("eval", "Evaluate a model (and adapter): loss/perplexity, exact match, multiple choice, preference pairs");
    static EvalRequest req;
    static bool asJson = false;
    eval->add_option("--model", req.modelPath, "Base model folder")->required();
    eval->add_option("--adapter", req.adapterPaths, "PEFT adapter folder(s) or stored versions (task@vN, name or id), applied together");
    eval->add_option("--data", req.lossData, "JSONL for validation loss and perplexity");
    eval->add_option("--exact-match", req.exactMatchData, "JSONL of {prompt, answer} (or alpaca/chat records) for greedy exact match");
    eval->add_option("--multiple-choice", req.multipleChoiceData, "MMLU-style JSONL or CSV for answer log-likelihood accuracy");
    eval->add_option("--max-new-tokens", req.maxNewTokens, "Generation length for exact match")->check(CLI::Range(1, 1 << 20))->capture_default_str();
    eval->add_option("--chat-template", req.chatTemplate, "Chat template for SFT records in --data and --exact-match and for --preference pairs (as data.chat_template in training; default: the tokenizer's)");
    eval->add_option("--max-seq-len", req.maxSeqLen, "Truncation length")->check(CLI::Range(2, 1 << 20))->capture_default_str();
    eval->add_option("--batch-size", req.batchSize, "Batch size")->check(CLI::Range(1, 65536))->capture_default_str();
    eval->add_option("--limit", req.limit, "Evaluate at most this many records per set (0: all)")->check(CLI::Range(0, 1 << 30))->capture_default_str();
    eval->add_option("--samples", req.samples, "Exact-match \"expected | got\" lines to show (default 5)")->check(CLI::Range(0, 1 << 20));
    eval->add_option("--preference", req.preferenceData,
                     "JSONL of preference pairs {prompt, chosen, rejected} (strings or messages): DPO loss, rewards, margin, accuracy");
    eval->add_option("--reference-adapter", req.referenceAdapterPaths,
                     "Adapter folder(s) or stored versions of the frozen reference for --preference (default: the base alone)");
    eval->add_option("--beta", req.dpo.beta, "DPO beta for --preference (default 0.1)")->check(finiteIn(0, 1000, End::Open));
    static std::string lossType = "sigmoid";
    eval->add_option("--loss-type", lossType, "Preference loss: sigmoid (DPO), ipo or simpo (default sigmoid)")
        ->each([](const std::string& v) { req.dpo.variant = objectives::parseDpoVariant(v); });
    eval->add_option("--label-smoothing", req.dpo.labelSmoothing, "Conservative DPO: share of pairs assumed mislabelled, in [0, 0.5)")->check(finiteIn(0, 0.5, End::Closed, End::Open));
    eval->add_option("--simpo-gamma", req.dpo.simpoGamma, "SimPO's target margin gamma (default 0.5)")->check(finiteIn(0, 1000));
    eval->add_option("--rpo-alpha", req.dpo.rpoAlpha, "RPO: weight of the chosen responses' NLL in the reported loss (default 0)")->check(finiteIn(0, 1000));
    eval->add_flag("--diagnostics", req.diagnostics, "lora_A std against sigma/sqrt(r), adapted-output std, trainable ratio");
    eval->add_option("--device", req.device, "cpu (default) or cuda[:N]: where the model and adapters are evaluated");
    eval->add_flag("--json", asJson, "Machine-readable output");
    static std::string matchMode = "first-line";
    static bool ignoreCasePunct = false;
    eval->add_option("--match", matchMode, "Exact match compares the whole answer or its first line: whole, first-line (default)");
    eval->add_flag("--ignore-case-punctuation", ignoreCasePunct, "Exact match ignores case, punctuation and repeated spaces");
    eval->add_option("--k-shot", req.choice.kShot, "Multiple choice: solved examples before each question (MMLU format)")->check(CLI::Range(0, 64));
    eval->add_option("--shots", req.choiceShotsData, "Multiple choice: file of the k-shot examples (MMLU's dev split; default: the first k items, not scored)");
    eval->add_option("--subject", req.choice.subject, "Multiple choice: the subject named in MMLU's header line");
    static std::string recordRef, dbPathEval;
    eval->add_option("--record", recordRef,
                     "Evaluate this stored adapter version (id, name or task@vN) and store every result against it");
    eval->add_option("--db", dbPathEval, "Experiment database for --record and stored versions named by --adapter");
    eval->callback([] {
        if (req.dpo.variant == objectives::DpoVariant::Ipo && req.dpo.labelSmoothing != 0)
            throw Error("--label-smoothing applies to the sigmoid and simpo losses, not to --loss-type ipo; leave it out");
        // Named with its option before anything loads ("invalid device 'gpu'" did not say which option).
        try {
            models::parseDevice(req.device);
        } catch (const Error& e) {
            throw Error("--device: " + e.message(), e.hint());
        }
        req.match = MatchOptions::parse(matchMode, ignoreCasePunct);
        std::unique_ptr<storage::Store> store;
        std::optional<storage::AdapterRecord> target;
        if (!recordRef.empty()) {
            if (!req.adapterPaths.empty())
                throw Error("--record evaluates the stored version alone: leave out --adapter");
            store = std::make_unique<storage::Store>(dbPathEval.empty() ? defaultDatabasePath() : std::filesystem::path(dbPathEval));
            const app::ResolvedAdapter a = app::resolveAdapterArgument(recordRef, store.get());
            if (!a.record)
                throw Error("--record: '" + recordRef + "' is not an adapter version of the store " + store->path().string());
            target = a.record;
            req.adapterPaths = {a.path.string()};
        } else {
            req.adapterPaths = adapterFolderArguments(req.adapterPaths, "--adapter", dbPathEval);
        }
        req.referenceAdapterPaths = adapterFolderArguments(req.referenceAdapterPaths, "--reference-adapter", dbPathEval);
        const EvalReport rep = runEvaluation(req);
        std::cout << (asJson ? rep.toJson().dump(2) : rep.toText()) << "\n";
        if (target) {
            const int n = app::EvaluationRecorder::record(*store, target->id, std::nullopt, req, rep);
            std::cerr << n << " evaluation values stored for adapter #" << target->id << " (" << target->name << ")\n";
        }
    });

    auto* bench = app.add_subcommand("bench", "Training-step benchmark on Llama-shaped random models");
    static BenchOptions bo;
    bench->add_option("--shapes", bo.shapes, "Model shapes: 5m, 30m, 135m (the CPU's default), qwen2.5-0.5b, qwen2.5-1.5b, llama-3.1-8b (CUDA's default); random weights of those configs");
    bench->add_option("--device", bo.device, "cpu, cuda or cuda:N");
    bench->add_option("--dtype", bo.dtype, "The base model's dtype: float32, bfloat16 (CPU or CUDA), float16 (CUDA)")
        ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
    bench->add_option("--steps", bo.steps, "Timed steps per case")->check(CLI::Range(1, 100000));
    bench->add_option("--warmup", bo.warmup, "Untimed steps first")->check(CLI::Range(0, 100000));
    bench->add_option("--batch", bo.batch, "Batch size")->check(CLI::Range(1, 65536))->capture_default_str();
    bench->add_option("--seq", bo.seq, "Sequence length")->check(CLI::Range(2, 1 << 20));
    bench->add_option("--rank", bo.rank, "LoRA rank")->check(CLI::Range(1, 65536));
    bench->add_flag("--options", bo.options, "Also measure each adapter option's overhead");
    bench->add_flag("--gradient-checkpointing", bo.gradientCheckpointing,
                    "Also run each shape with activation checkpointing and report the tensor memory it saves");
    bench->add_option("--cases", bo.cases,
                      "Only these cases, comma-separated, e.g. 'lora + ckpt' (the 8B shape fits only checkpointed); "
                      "default: lora plus what the flags add")
        ->delimiter(',');
    bench->add_flag("--profile", bo.profile, "Also print the operators taking the most time in a step");
    bench->add_option("--threads", bo.threads, "LibTorch/BLAS threads (0: default)")->check(CLI::Range(0, 1024));
    bench->add_option("--python", bo.pythonResults, "JSON written by bench/python_lora_step.py, shown side by side");
    bench->add_option("--quantization", bo.quantization, "Base projections in 4 bits: none, nf4 or fp4 (reports the bytes saved)");
    bench->add_flag("--json", bo.json, "Machine-readable output");
    bench->callback([] {
        // Under `rslora launch` only rank 0 reports.
        const std::string report = runBenchmarks(bo);
        if (!report.empty())
            std::cout << report << "\n";
    });
}

} // namespace rslora::cli
