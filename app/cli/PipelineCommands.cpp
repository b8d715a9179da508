// `rslora train PIPELINE.yaml`: a multi-stage pipeline from the command line. Every stage is checked
// before the first one trains; each stage then gets a header line, the step progress of its training
// and a result line; Ctrl-C stops the stage after saving a checkpoint, `--resume latest` continues.
#include "app/cli/Commands.h"
#include "app/cli/ShellWord.h"
#include "app/shared/PipelineRecorder.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Paths.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/pipeline/PipelineRunner.h"
#include "storage/Naming.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace rslora::cli {

namespace {

using namespace rslora::engine;
using namespace rslora::engine::pipeline;

std::atomic<TrainObserver*> g_pipelineObserver{nullptr};

extern "C" void onPipelineInterrupt(int)
{
    if (TrainObserver* o = g_pipelineObserver.load()) {
        o->requestStop(true);
        std::signal(SIGINT, SIG_DFL);
    }
}

// Step lines prefixed with the stage ("[2/3 dpo] step 10/50 ..."), rewritten in place on a terminal.
class StageConsole : public TrainObserver {
public:
    explicit StageConsole(bool quiet) : m_quiet(quiet), m_tty(isatty(fileno(stderr))) {}
    void setStage(const std::string& prefix) { m_prefix = prefix; }
    void onStep(const StepStats& s) override
    {
        if (m_quiet)
            return;
        std::fprintf(stderr, "%s[%s] step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s%s", m_tty ? "\r\033[K" : "",
                     m_prefix.c_str(), (long long)s.step, (long long)s.totalSteps, s.loss, s.learningRate,
                     s.tokensPerSecond, m_tty ? "" : "\n");
        std::fflush(stderr);
    }
    void onEval(const EvalStats& e) override
    {
        if (!m_quiet)
            std::fprintf(stderr, "%s[%s] eval at step %lld: loss %.4f\n", m_tty ? "\r\033[K" : "", m_prefix.c_str(),
                         (long long)e.step, e.loss);
    }
    void onStatus(const std::string& s) override
    {
        if (!m_quiet)
            std::fprintf(stderr, "%s%s\n", m_tty ? "\r\033[K" : "", s.c_str());
    }

private:
    bool m_quiet, m_tty;
    std::string m_prefix;
};

std::string stagePrefix(const StageContext& ctx)
{
    return std::to_string(ctx.index + 1) + "/" + std::to_string(ctx.count) + " " + ctx.spec->name;
}

// What stands below a stage, for its header line: "on sft (0.30), domain" or "merged: sft".
std::string describeBelow(const StageContext& ctx)
{
    std::string stacked, merged;
    for (const auto& b : ctx.below) {
        std::string& list = b.mergedIntoBase ? merged : stacked;
        char w[32];
        std::snprintf(w, sizeof w, " (%.2f)", b.weight);
        list += (list.empty() ? "" : ", ") + b.stage + (b.mergedIntoBase || b.weight == 1.0 ? "" : w);
    }
    std::string out;
    if (!merged.empty())
        out += "; merged into the base: " + merged;
    if (!stacked.empty())
        out += "; stacked on: " + stacked;
    return out;
}

void printStageEnd(const StageContext& ctx, const TrainResult& r, std::optional<int64_t> adapterId)
{
    std::fprintf(stderr, "\n");
    std::cout << "stage " << stagePrefix(ctx) << ": " << trainStatusName(r.status) << ", " << r.steps << " steps, loss "
              << r.finalLoss;
    if (r.finalEval)
        std::cout << ", eval loss " << r.finalEval->loss;
    if (adapterId)
        std::cout << ", adapter #" << *adapterId;
    else if (!r.adapterDir.empty())
        std::cout << ", adapter " << r.adapterDir;
    std::cout << describeBelow(ctx) << (r.message.empty() ? "" : " (" + r.message + ")") << std::endl;
}

// Hooks without a store (--no-store): files only.
class FolderHooks : public PipelineHooks {
public:
    explicit FolderHooks(StageConsole& console) : m_console(console) {}
    StageRecording stageStarting(const StageContext& ctx) override
    {
        m_console.setStage(stagePrefix(ctx));
        return {};
    }
    std::optional<int64_t> stageFinished(const StageContext& ctx, const TrainResult& r) override
    {
        printStageEnd(ctx, r, std::nullopt);
        return std::nullopt;
    }
    void stageSkipped(const StageContext& ctx, const std::string& why) override
    {
        std::cout << "stage " << stagePrefix(ctx) << ": " << why << std::endl;
    }

private:
    StageConsole& m_console;
};

} // namespace

PipelineResult runPipelineTrain(const std::string& configPath, const std::string& resume, bool noStore, bool quiet,
                                const std::vector<std::string>& overrides, const std::string& dbOption)
{
    if (!resume.empty() && resume != "latest")
        throw Error("--resume for a pipeline takes 'latest' (the pipeline continues where its state file says), found '"
                    + resume + "'");
    const std::filesystem::path db = dbOption.empty() ? defaultDatabasePath() : std::filesystem::path(dbOption);
    PipelineConfig config = PipelineConfig::load(configPath);
    // --set section.key=value changes the base config of every stage.
    for (const auto& o : overrides) {
        const auto eq = o.find('='), dot = o.find('.');
        if (eq == std::string::npos || dot == std::string::npos || dot > eq)
            throw Error("--set expects section.key=value, found '" + o + "'");
        if (dot == 0 || eq == dot + 1)
            throw Error("--set expects section.key=value, found '" + o + "'");
        nlohmann::json v = nlohmann::json::parse(o.substr(eq + 1), nullptr, false);
        if (v.is_discarded())
            v = o.substr(eq + 1);
        config.setBaseValue(o.substr(0, dot), o.substr(dot + 1, eq - dot - 1), v);
    }
    // A relative path given with --set is the shell's, taken from the working folder (the file's own
    // relative paths were taken from its folder when it was read).
    engine::resolveConfigPaths(config.base, std::filesystem::current_path().string());
    if (config.outputDir.empty())
        config.outputDir = (noStore ? dataDirectory() / "pipelines" / storage::sanitizeId(config.name)
                                    : app::PipelineRecorder::defaultOutputDir(db, config.name))
                               .string();

    StageConsole console(quiet);
    std::unique_ptr<app::PipelineRecorder> recorder;
    std::unique_ptr<FolderHooks> folderHooks;
    PipelineHooks* hooks = nullptr;
    if (noStore) {
        folderHooks = std::make_unique<FolderHooks>(console);
        hooks = folderHooks.get();
    } else {
        recorder = std::make_unique<app::PipelineRecorder>(db);
        recorder->onStageRun = [&console](const StageContext& ctx, int64_t runId) {
            console.setStage(stagePrefix(ctx));
            std::cout << "stage " << stagePrefix(ctx) << ": run #" << runId << describeBelow(ctx) << std::endl;
        };
        recorder->onStageEnd = printStageEnd;
        recorder->onStageSkipped = [](const StageContext& ctx, const std::string& why) {
            std::cout << "stage " << stagePrefix(ctx) << ": " << why << std::endl;
        };
        hooks = recorder.get();
    }
    PipelineRunner runner(config, *hooks);
    runner.check(); // every problem is named before the pipeline is announced
    // Ctrl-C is caught before the pipeline is announced: one pressed (or a SIGINT sent by a script)
    // as soon as the line shows stops the pipeline with its state kept, instead of killing it.
    g_pipelineObserver.store(&console);
    std::signal(SIGINT, onPipelineInterrupt);
    std::cout << "pipeline     " << config.name << ": " << config.stages.size() << " stages into " << config.outputDir << std::endl;
    PipelineResult result;
    try {
        result = runner.run(&console, resume == "latest");
    } catch (...) {
        g_pipelineObserver.store(nullptr);
        std::signal(SIGINT, SIG_DFL);
        throw;
    }
    g_pipelineObserver.store(nullptr);
    std::signal(SIGINT, SIG_DFL);
    std::cout << "status       " << trainStatusName(result.status) << (result.message.empty() ? "" : ": " + result.message) << "\n";
    for (const auto& s : result.stages)
        std::cout << "  " << s.stage << "  " << (s.trained ? trainStatusName(s.status) : "not trained here") << "  "
                  << s.adapterDir << (s.adapterId ? "  (version #" + std::to_string(*s.adapterId) + ")" : "") << "\n";
    if (result.status == TrainStatus::Stopped) {
        // The same command: without --no-store (or with another --db, or without the --set overrides)
        // the pipeline would look for its state elsewhere, or train another config.
        std::string again = "rslora train " + shellWord(configPath) + " --resume latest";
        if (noStore)
            again += " --no-store";
        if (!dbOption.empty())
            again += " --db " + shellWord(dbOption);
        for (const auto& o : overrides)
            again += " --set " + shellWord(o);
        std::cout << "continue with: " << again << "\n";
    }
    exitCode() = result.status == TrainStatus::Failed ? 3 : (result.status == TrainStatus::Stopped ? 130 : 0);
    return result;
}

} // namespace rslora::cli
