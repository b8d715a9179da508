// `rslora make-demo` (regenerates the built-in demo under resources/demo) and `rslora demo` (the
// default RS-LoRA run on it, recorded in the store, with held-out exact match before and after).
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/OutputPath.h"

#include "app/shared/RunRecorder.h"
#include "common/Error.h"
#include "common/Paths.h"
#include "engine/demo/DemoBuilder.h"
#include "engine/demo/DemoRun.h"
#include "engine/demo/DpoDemo.h"
#include "engine/pipeline/PipelineConfig.h"
#include "engine/pipeline/PipelineRunner.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace rslora::cli {

namespace {

using namespace rslora::engine;

// Progress on stderr: one line per logged step (rewritten in place on a terminal).
class DemoProgress : public TrainObserver {
public:
    explicit DemoProgress(bool quiet) : m_quiet(quiet), m_tty(isatty(fileno(stderr))) {}
    void onStep(const StepStats& s) override
    {
        if (m_quiet)
            return;
        std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  %.0f s%s", m_tty ? "\r\033[K" : "",
                     (long long)s.step, (long long)s.totalSteps, s.loss, s.learningRate, s.tokensPerSecond, s.elapsedSeconds,
                     m_tty ? "" : "\n");
        std::fflush(stderr);
    }
    void onStatus(const std::string& s) override
    {
        if (!m_quiet)
            std::fprintf(stderr, "%s%s\n", m_tty ? "\r\033[K" : "", s.c_str());
    }

private:
    bool m_quiet, m_tty;
};

struct DemoArgs {
    int steps = 0;
    bool json = false, quiet = false;
    bool dpo = false;
    bool pipeline = false;
};

// The preference stage stacked on the SFT demo adapter, recorded as its own run.
nlohmann::ordered_json runDpoStage(const std::string& sftAdapter, const DemoArgs& args, storage::Store& store,
                                   const std::filesystem::path& db)
{
    TrainConfig config = loadDpoDemoConfig(resourcesDirectory(), sftAdapter);
    config.outputDir.clear();
    const int64_t runId = app::RunRecorder::createQueuedRun(store, config, "demo-dpo");
    validateOrThrow(config);
    app::RunRecorder recorder(db, runId);
    recorder.start(config.device);
    DemoProgress progress(args.quiet || args.json);
    DpoDemoOutcome out;
    try {
        out = runDpoDemo(config, &progress, &recorder);
    } catch (const std::exception& e) {
        recorder.fail(e.what());
        throw;
    }
    const objectives::DpoMetrics& before = out.before.preference;
    const objectives::DpoMetrics& after = out.after.preference;
    const AccuracyResult& styleBefore = out.before.chosenAnswers;
    const AccuracyResult& styleAfter = out.after.chosenAnswers;
    recorder.write(0, {{"demo/preference_accuracy", before.accuracy()}, {"demo/chosen_exact_match", styleBefore.accuracy()}});
    if (after.pairs > 0)
        recorder.write(out.train.steps, {{"demo/preference_accuracy", after.accuracy()}, {"demo/chosen_exact_match", styleAfter.accuracy()}});
    recorder.flush();
    const auto adapterId = recorder.finish(out.train, "demo-preferences");
    if (adapterId && after.pairs > 0) {
        storage::EvaluationRecord ev;
        ev.adapterId = *adapterId;
        ev.runId = runId;
        ev.dataset = config.validationData;
        ev.metric = "preference_accuracy";
        ev.value = after.accuracy();
        store.evaluations().record(ev);
        ev.metric = "chosen_exact_match";
        ev.value = styleAfter.accuracy();
        store.evaluations().record(ev);
    }
    nlohmann::ordered_json j;
    j["status"] = trainStatusName(out.train.status);
    j["run_id"] = runId;
    j["steps"] = out.train.steps;
    j["final_loss"] = out.train.finalLoss;
    j["preference_accuracy_before"] = before.accuracy();
    j["preference_accuracy_after"] = after.accuracy();
    j["margin_before"] = before.margin();
    j["margin_after"] = after.margin();
    j["chosen_exact_match_before"] = styleBefore.accuracy();
    j["chosen_exact_match_after"] = styleAfter.accuracy();
    j["held_out_pairs"] = before.pairs;
    j["train_seconds"] = out.trainSeconds;
    j["total_seconds"] = out.totalSeconds;
    j["adapter"] = out.train.adapterDir;
    if (!args.json) {
        std::fprintf(stderr, "\n");
        std::printf("DPO stage      %s, beta %g, rpo alpha %g, stacked on %s\n", trainStatusName(out.train.status), config.dpo.beta,
                    config.dpo.rpoAlpha, sftAdapter.c_str());
        std::printf("steps          %lld in %.1f s (%.1f s in all)\n", (long long)out.train.steps, out.trainSeconds, out.totalSeconds);
        std::printf("preference     %.1f%% -> %.1f%%  (%lld held-out pairs, reward margin against the base > 0)\n",
                    100.0 * before.accuracy(), 100.0 * after.accuracy(), (long long)before.pairs);
        std::printf("margin         %.3f -> %.3f\n", before.margin(), after.margin());
        std::printf("chosen answer  %.1f%% -> %.1f%%  (greedy answer equal to the chosen response)\n", 100.0 * styleBefore.accuracy(),
                    100.0 * styleAfter.accuracy());
        for (const auto& line : styleAfter.samples)
            std::printf("               expected | got: %s\n", line.c_str());
        if (!out.train.adapterDir.empty())
            std::printf("adapter        %s\n", out.train.adapterDir.c_str());
        std::printf("run            #%lld\n", (long long)runId);
    }
    if (out.train.status != TrainStatus::Completed)
        exitCode() = 3;
    return j;
}

void runDemoCommand(const DemoArgs& args)
{
    const auto resources = resourcesDirectory();
    TrainConfig config = loadDemoConfig(resources);
    if (args.steps > 0)
        config.maxSteps = args.steps;
    // Recorded like `rslora train` and the GUI: a run row (whose own folder gets the outputs),
    // metrics, the adapter version.
    config.outputDir.clear();
    const auto db = defaultDatabasePath();
    storage::Store store(db);
    const int64_t runId = app::RunRecorder::createQueuedRun(store, config, "demo");
    validateOrThrow(config);
    app::RunRecorder recorder(db, runId);
    recorder.start(config.device);
    DemoProgress progress(args.quiet || args.json);
    DemoOutcome out;
    try {
        out = runDemo(config, &progress, &recorder);
    } catch (const std::exception& e) {
        recorder.fail(e.what());
        throw;
    }
    recorder.write(0, {{"demo/exact_match", out.before.accuracy()}});
    if (out.after.total > 0)
        recorder.write(out.train.steps, {{"demo/exact_match", out.after.accuracy()}});
    recorder.flush();
    const auto adapterId = recorder.finish(out.train, "demo-facts");
    if (adapterId && out.after.total > 0) {
        for (const auto& [metric, value] : {std::pair{"exact_match", out.after.accuracy()},
                                            std::pair{"exact_match_base", out.before.accuracy()}}) {
            storage::EvaluationRecord ev;
            ev.adapterId = *adapterId;
            ev.runId = runId;
            ev.dataset = config.validationData;
            ev.metric = metric;
            ev.value = value;
            store.evaluations().record(ev);
        }
    }
    const double lossValue = out.train.finalLoss;
    const bool dpoStage = args.dpo && out.train.status == TrainStatus::Completed && !out.train.adapterDir.empty();
    if (args.json) {
        nlohmann::ordered_json j;
        j["status"] = trainStatusName(out.train.status);
        j["run_id"] = runId;
        j["adapter_id"] = adapterId ? nlohmann::ordered_json(*adapterId) : nlohmann::ordered_json();
        j["steps"] = out.train.steps;
        j["final_loss"] = lossValue;
        if (out.train.finalEval)
            j["eval_loss"] = out.train.finalEval->loss;
        j["exact_match_before"] = out.before.accuracy();
        j["exact_match_after"] = out.after.accuracy();
        j["held_out"] = out.before.total;
        j["train_seconds"] = out.trainSeconds;
        j["total_seconds"] = out.totalSeconds;
        j["adapter"] = out.train.adapterDir;
        j["database"] = db.string();
        if (dpoStage)
            j["dpo"] = runDpoStage(out.train.adapterDir, args, store, db);
        std::cout << j.dump(2) << "\n";
    } else {
        std::fprintf(stderr, "\n");
        std::printf("RS-LoRA demo: %s (rank %d, alpha %g, %s scaling) on %s\n", trainStatusName(out.train.status),
                    config.adapter.rank, config.adapter.alpha, scalingModeName(config.adapter.scaling),
                    config.modelPath.c_str());
        std::printf("steps          %lld in %.1f s (%.1f s in all)\n", (long long)out.train.steps, out.trainSeconds,
                    out.totalSeconds);
        std::printf("final loss     %.4f", lossValue);
        if (out.train.finalEval)
            std::printf("   validation loss %.4f", out.train.finalEval->loss);
        std::printf("\nexact match    %.1f%% -> %.1f%%  (%lld held-out questions, greedy)\n", 100.0 * out.before.accuracy(),
                    100.0 * out.after.accuracy(), (long long)out.before.total);
        for (const auto& s : out.after.samples)
            std::printf("               expected | got: %s\n", s.c_str());
        if (!out.train.adapterDir.empty())
            std::printf("adapter        %s\n", out.train.adapterDir.c_str());
        std::printf("run            #%lld in %s\n", (long long)runId, db.string().c_str());
        if (dpoStage)
            runDpoStage(out.train.adapterDir, args, store, db);
    }
    if (out.train.status != TrainStatus::Completed)
        exitCode() = 3;
}

// Stores one evaluation of a stage's version.
void recordEvaluation(storage::Store& store, const engine::pipeline::StageOutcome& stage, const std::string& dataset,
                      const std::string& metric, double value)
{
    if (!stage.adapterId)
        return;
    storage::EvaluationRecord ev;
    ev.adapterId = *stage.adapterId;
    ev.dataset = dataset;
    ev.metric = metric;
    ev.value = value;
    store.evaluations().record(ev);
}

// `rslora demo --pipeline`: the demo pipeline (SFT, then DPO stacked on it) trained as `rslora train`
// trains any pipeline, then each stage measured on its held-out data: exact match of the answers
// stage, preference accuracy and chosen-style answers of the style stage.
void runDemoPipeline(const DemoArgs& args)
{
    using namespace engine::pipeline;
    if (args.steps > 0 || args.dpo)
        throw Error("--pipeline runs resources/pipelines/demo-sft-dpo.yaml as written: --steps and --dpo apply to the "
                    "single-run demo (edit the file, or train it with `rslora train FILE --set training.max_steps=N`)");
    const std::filesystem::path file = resourcesDirectory() / "pipelines" / "demo-sft-dpo.yaml";
    if (!std::filesystem::exists(file))
        throw Error("the demo pipeline '" + file.string() + "' is missing from the resources folder");
    const auto start = std::chrono::steady_clock::now();
    PipelineResult result;
    {
        // With --json only the summary goes to stdout.
        std::ostringstream progressText;
        std::streambuf* const stdoutBuffer = args.json ? std::cout.rdbuf(progressText.rdbuf()) : nullptr;
        try {
            result = runPipelineTrain(file.string(), "", false, args.quiet || args.json, {}, "");
        } catch (...) {
            if (stdoutBuffer)
                std::cout.rdbuf(stdoutBuffer);
            throw;
        }
        if (stdoutBuffer)
            std::cout.rdbuf(stdoutBuffer);
    }
    const double trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool complete = result.status == TrainStatus::Completed && result.stages.size() == 2 &&
                          !result.stages[0].adapterDir.empty() && !result.stages[1].adapterDir.empty();
    nlohmann::ordered_json j;
    j["status"] = trainStatusName(result.status);
    j["train_seconds"] = trainSeconds;
    if (!complete) {
        if (args.json)
            std::cout << j.dump(2) << "\n";
        return; // runPipelineTrain named the problem and set the exit code
    }
    const PipelineConfig config = PipelineConfig::load(file.string());
    const TrainConfig answersConfig = config.stageConfig(0), styleConfig = config.stageConfig(1);
    const std::string answers = result.stages[0].adapterDir, style = result.stages[1].adapterDir;
    if (!args.json && !args.quiet)
        std::fprintf(stderr, "measuring both stages on their held-out data...\n");
    const auto questions = templatedExactMatchItems(answersConfig, answersConfig.validationData);
    const AccuracyResult baseMatch = demoExactMatch(answersConfig, questions, {});
    const AccuracyResult answersMatch = demoExactMatch(answersConfig, questions, answers);
    const DpoDemoMeasure sftOnly = measurePreferenceStage(styleConfig, {answers});
    const DpoDemoMeasure withStyle = measurePreferenceStage(styleConfig, {answers, style});
    const double totalSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    storage::Store store(defaultDatabasePath());
    recordEvaluation(store, result.stages[0], answersConfig.validationData, "exact_match", answersMatch.accuracy());
    recordEvaluation(store, result.stages[1], styleConfig.validationData, "preference_accuracy", withStyle.preference.accuracy());
    recordEvaluation(store, result.stages[1], styleConfig.validationData, "chosen_exact_match", withStyle.chosenAnswers.accuracy());

    j["exact_match_base"] = baseMatch.accuracy();
    j["exact_match_answers"] = answersMatch.accuracy();
    j["held_out_questions"] = baseMatch.total;
    j["preference_accuracy_answers"] = sftOnly.preference.accuracy();
    j["preference_accuracy_style"] = withStyle.preference.accuracy();
    j["margin_answers"] = sftOnly.preference.margin();
    j["margin_style"] = withStyle.preference.margin();
    j["chosen_exact_match_answers"] = sftOnly.chosenAnswers.accuracy();
    j["chosen_exact_match_style"] = withStyle.chosenAnswers.accuracy();
    j["held_out_pairs"] = sftOnly.preference.pairs;
    j["total_seconds"] = totalSeconds;
    j["adapters"] = {answers, style};
    if (args.json) {
        std::cout << j.dump(2) << "\n";
        return;
    }
    std::printf("\ndemo pipeline  %s in %.1f s (%.1f s with the measurements)\n", trainStatusName(result.status), trainSeconds,
                totalSeconds);
    std::printf("answers (SFT)  exact match %.1f%% -> %.1f%%  (%lld held-out questions, greedy)\n", 100.0 * baseMatch.accuracy(),
                100.0 * answersMatch.accuracy(), (long long)baseMatch.total);
    std::printf("style (DPO)    preference accuracy %.1f%% -> %.1f%%, margin %.3f -> %.3f  (%lld held-out pairs, rewards against the base)\n",
                100.0 * sftOnly.preference.accuracy(), 100.0 * withStyle.preference.accuracy(), sftOnly.preference.margin(),
                withStyle.preference.margin(), (long long)sftOnly.preference.pairs);
    std::printf("               chosen answer %.1f%% -> %.1f%%  (greedy answer equal to the chosen response)\n",
                100.0 * sftOnly.chosenAnswers.accuracy(), 100.0 * withStyle.chosenAnswers.accuracy());
    for (const auto& line : withStyle.chosenAnswers.samples)
        std::printf("               expected | got: %s\n", line.c_str());
}

} // namespace

void registerDemoCommands(CLI::App& app)
{
    auto* make = app.add_subcommand("make-demo", "Regenerate the built-in demo (text, tokenizer, pretrained base model, datasets)");
    static DemoBuildOptions mo;
    static std::string out;
    make->add_option("--out", out, "Output folder (default: <resources>/demo)");
    make->add_option("--seed", mo.seed, "Seed of the text, the split and the pretraining")->capture_default_str()->check(notNegative());
    make->add_option("--steps", mo.pretrainSteps, "Pretraining steps")->capture_default_str();
    make->add_option("--threads", mo.threads, "Threads (fixed, so a rebuild reproduces the weights)")->capture_default_str();
    make->add_option("--hidden-size", mo.hiddenSize, "Base model hidden size")->capture_default_str();
    make->add_option("--intermediate-size", mo.intermediateSize, "Base model MLP size")->capture_default_str();
    make->add_option("--layers", mo.layers, "Base model layers")->capture_default_str();
    make->add_option("--heads", mo.heads, "Attention heads")->capture_default_str();
    make->add_option("--kv-heads", mo.kvHeads, "Key/value heads")->capture_default_str();
    make->add_option("--passes", mo.passes, "Reshuffles of the fact sentences into pretraining documents")->capture_default_str();
    make->add_option("--learning-rate", mo.learningRate, "Pretraining learning rate")->capture_default_str();
    make->add_option("--batch-size", mo.batchSize, "Pretraining batch size")->capture_default_str();
    make->add_option("--chat-echo", mo.chatEcho, "Chat turns that repeat a sentence in the pretraining text (true/false)")->default_str(mo.chatEcho ? "true" : "false");
    make->callback([] {
        mo.outputDir = out.empty() ? resourcesDirectory() / "demo" : outputPath(out, "--out");
        DemoProgress progress(false);
        const DemoBuildReport r = DemoBuilder(mo).build(&progress);
        std::fprintf(stderr, "\n");
        std::cout << r.summary() << "written to " << mo.outputDir.string() << "\n";
    });

    auto* demo = app.add_subcommand("demo", "Run the default RS-LoRA config on the built-in demo and show the gain");
    static DemoArgs da;
    demo->add_option("--steps", da.steps, "Training steps (default: the demo config's)")->check(CLI::Range(1, 1000000));
    demo->add_flag("--json", da.json, "Machine-readable summary");
    demo->add_flag("--quiet", da.quiet, "No progress lines");
    demo->add_flag("--dpo", da.dpo, "Then train the preference stage (DPO on the built-in pairs) on top of the demo adapter");
    demo->add_flag("--pipeline", da.pipeline,
                   "Run the demo pipeline instead (resources/pipelines/demo-sft-dpo.yaml: SFT, then DPO stacked on it) and measure each stage");
    demo->callback([] {
        if (da.pipeline)
            runDemoPipeline(da);
        else
            runDemoCommand(da);
    });
}

} // namespace rslora::cli
