// Multi-stage pipelines on a tiny saved model: two SFT stages end to end (the second trained on top of
// the first, so that base + both saved adapters give the loss the trainer reported), curriculum
// factors at known steps, merge_into_base, bitwise resume within and between stages, the store group
// with a lineage edge to every stage below, `from:` a stored version, and bad configs refused before
// anything trains with the stage and key named.
#include "app/shared/PipelineRecorder.h"
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Log.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/TrainData.h"
#include "engine/pipeline/PipelineRunner.h"
#include "models/CausalLmLoss.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "storage/LineageRepository.h"
#include "storage/RunRepository.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::pipeline;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Records metrics and can stop the pipeline once a given stage has ended.
class RecordingHooks : public PipelineHooks, public MetricsSink {
public:
    std::map<std::string, std::vector<std::pair<int64_t, double>>> metrics;
    std::vector<StageContext> finished;
    TrainObserver* stopAfterStage = nullptr;
    size_t stopIndex = 0;

    StageRecording stageStarting(const StageContext&) override { return {this, {}, std::nullopt}; }
    std::optional<int64_t> stageFinished(const StageContext& ctx, const TrainResult&) override
    {
        finished.push_back(ctx);
        if (stopAfterStage && ctx.index == stopIndex)
            stopAfterStage->requestStop(true);
        return std::nullopt;
    }
    void write(int64_t step, const std::vector<std::pair<std::string, double>>& m) override
    {
        for (const auto& [k, v] : m)
            metrics[k].emplace_back(step, v);
    }
    void flush() override {}
    void discardAfter(int64_t) override {}
};

void writeData(const fs::path& path, int offset)
{
    std::ofstream data(path);
    for (int i = 0; i < 12; ++i) {
        const int a = 4 + (i + offset) % 30, b = 5 + (i * 7 + offset) % 29;
        data << "{\"input_ids\": [1, " << a << ", " << b << ", 3, " << b << ", 2], "
             << "\"labels\": [-100, -100, -100, -100, " << b << ", 2]}\n";
    }
}

// The mean loss of `examples` under the model as it is (one padded batch).
double meanLoss(models::CausalLM& model, const std::vector<TrainExample>& examples)
{
    torch::NoGradGuard ng;
    model.eval();
    int64_t T = 0;
    for (const auto& e : examples)
        T = std::max<int64_t>(T, int64_t(e.ids.size()));
    const int64_t B = int64_t(examples.size());
    auto ids = torch::zeros({B, T}, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
    auto labels = torch::full({B, T}, models::kIgnoreIndex, torch::kLong);
    for (int64_t r = 0; r < B; ++r)
        for (size_t t = 0; t < examples[size_t(r)].ids.size(); ++t) {
            ids[r][int64_t(t)] = examples[size_t(r)].ids[t];
            mask[r][int64_t(t)] = 1;
            labels[r][int64_t(t)] = examples[size_t(r)].labels[t];
        }
    const auto ls = models::causalLmLossSum(model.hiddenStates(ids, mask), *model.lmHead(), labels, 1024);
    return ls.sum.item<double>() / double(ls.tokens);
}

bool sameTensors(const fs::path& a, const fs::path& b)
{
    const auto x = models::loadSafeTensorsMap(a), y = models::loadSafeTensorsMap(b);
    if (x.size() != y.size())
        return false;
    for (const auto& [k, v] : x) {
        auto it = y.find(k);
        if (it == y.end() || !torch::equal(v, it->second))
            return false;
    }
    return true;
}

} // namespace

class PipelineTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_root;

    // A two-stage pipeline as YAML text: stage "a" on data a, stage "b" on data b with `bExtra` lines.
    std::string pipelineYaml(const std::string& out, const std::string& bExtra = {}, const std::string& aExtra = {}) const
    {
        return "pipeline:\n  name: p\n  output_dir: " + out + "\n"
               "base: &base\n"
               "  model: {path: model}\n"
               "  data: {max_seq_len: 16, validation: val.jsonl}\n"
               "  adapter: {r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj]}\n"
               "  training: {max_steps: 4, batch_size: 4, learning_rate: 0.05, save_every: 2, lr_schedule: constant}\n"
               "stages:\n"
               "  - name: a\n    data: a.jsonl\n" + aExtra +
               "  - name: b\n    data: {train: b.jsonl}\n" + bExtra;
    }

    PipelineConfig write(const std::string& name, const std::string& text) const
    {
        const fs::path p = m_root / name;
        std::ofstream(p) << text;
        return PipelineConfig::load(p.string());
    }

private slots:
    void initTestCase()
    {
        models::ModelConfig c;
        c.vocabSize = 40;
        c.hiddenSize = 16;
        c.intermediateSize = 32;
        c.numLayers = 2;
        c.numHeads = 2;
        c.numKvHeads = 1;
        c.headDim = 8;
        c.maxPositionEmbeddings = 32;
        c.eosTokenIds = {2};
        c.bosTokenId = 1;
        m_root = m_dir.path().toStdString();
        models::createCausalLM(c, 5)->saveModelFolder(m_root / "model");
        writeData(m_root / "a.jsonl", 0);
        writeData(m_root / "b.jsonl", 11);
        writeData(m_root / "val.jsonl", 5);
        // Data a later stage's run would refuse only as it reads it: an id past the vocabulary on line
        // 3, and records whose every label is masked.
        std::ofstream(m_root / "big-id.jsonl") << "{\"input_ids\": [1, 4, 2]}\n{\"input_ids\": [1, 5, 2]}\n{\"input_ids\": [1, 40, 2]}\n";
        std::ofstream(m_root / "masked.jsonl") << "{\"input_ids\": [1, 4, 2], \"labels\": [-100, -100, -100]}\n";
    }

    void curriculumFactors()
    {
        const Curriculum linear{CurriculumSchedule::Linear, 0.3}, cosine{CurriculumSchedule::Cosine, 0.3};
        QCOMPARE(linear.factor(0, 11), 1.0);
        QVERIFY(std::abs(linear.factor(5, 11) - 0.65) < 1e-12);
        QVERIFY(std::abs(linear.factor(10, 11) - 0.3) < 1e-12);
        QVERIFY(std::abs(cosine.factor(5, 11) - 0.65) < 1e-12);
        QVERIFY(std::abs(cosine.factor(2, 11) - (0.3 + 0.7 * 0.5 * (1.0 + std::cos(M_PI * 0.2)))) < 1e-12);
        QVERIFY(std::abs(cosine.factor(10, 11) - 0.3) < 1e-12);
        QCOMPARE(Curriculum{}.factor(3, 11), 1.0);
    }

    // Stage b trains on top of a (frozen, active): base + a + b as saved give the loss the trainer
    // reported at its end, and without a the loss differs.
    void twoStagesStacked()
    {
        RecordingHooks hooks;
        PipelineRunner runner(write("two.yaml", pipelineYaml("out-two")), hooks);
        const PipelineResult r = runner.run(nullptr, false);
        QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
        QCOMPARE(r.stages.size(), size_t(2));
        QCOMPARE(hooks.finished[1].config.adapter.stackOn.size(), size_t(1));
        QCOMPARE(hooks.finished[1].below.size(), size_t(1));
        QVERIFY(!hooks.finished[1].below[0].mergedIntoBase);

        auto model = models::loadCausalLM((m_root / "model").string());
        AdapterSet set(*model);
        loadPeftAdapter(set, r.stages[0].adapterDir, "a");
        loadPeftAdapter(set, r.stages[1].adapterDir, "b");
        const auto val = loadTokenizedJsonl((m_root / "val.jsonl").string());
        set.setActive({{"a", 1.0}, {"b", 1.0}});
        const double both = meanLoss(*model, val);
        QVERIFY2(std::abs(both - r.stages[1].result.finalEval->loss) < 1e-5,
                 qPrintable(QString("%1 vs %2").arg(both).arg(r.stages[1].result.finalEval->loss)));
        set.setActive({{"b", 1.0}});
        QVERIFY(std::abs(meanLoss(*model, val) - both) > 1e-4);
        QVERIFY(fs::exists(runner.statePath()));
    }

    // Curriculum: the earlier stage's factor at known steps, and the saved stack reproduces the end.
    void curriculumStage()
    {
        RecordingHooks hooks;
        PipelineRunner runner(write("cur.yaml", pipelineYaml("out-cur", "    curriculum: {schedule: linear, floor: 0.3}\n")), hooks);
        const PipelineResult r = runner.run(nullptr, false);
        QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
        const auto& f = hooks.metrics["train/stack_factor"];
        QCOMPARE(f.size(), size_t(4)); // stage a has nothing below it: no factor
        const double expected[] = {1.0, 1.0 - 0.7 / 3.0, 1.0 - 1.4 / 3.0, 0.3};
        for (size_t i = 0; i < 4; ++i) {
            QCOMPARE(f[i].first, int64_t(i + 1));
            QVERIFY2(std::abs(f[i].second - expected[i]) < 1e-12, qPrintable(QString::number(f[i].second)));
        }
        QCOMPARE(hooks.finished[1].below[0].weight, 0.3);
        auto model = models::loadCausalLM((m_root / "model").string());
        AdapterSet set(*model);
        loadPeftAdapter(set, r.stages[0].adapterDir, "a");
        loadPeftAdapter(set, r.stages[1].adapterDir, "b");
        set.setActive({{"a", 0.3}, {"b", 1.0}});
        const auto val = loadTokenizedJsonl((m_root / "val.jsonl").string());
        QVERIFY(std::abs(meanLoss(*model, val) - r.stages[1].result.finalEval->loss) < 1e-5);
    }

    // merge_into_base: stage b trains on a base folder with a merged in, which equals base + a.
    void mergeIntoBase()
    {
        RecordingHooks hooks;
        PipelineRunner runner(write("merge.yaml", pipelineYaml("out-merge", "    merge_into_base: true\n")), hooks);
        const PipelineResult r = runner.run(nullptr, false);
        QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
        const fs::path merged = m_root / "out-merge" / "02-b" / kMergedBaseFolder;
        QVERIFY(fs::exists(merged / "config.json"));
        QCOMPARE(hooks.finished[1].config.modelPath, merged.string());
        QVERIFY(hooks.finished[1].config.adapter.stackOn.empty());
        QVERIFY(hooks.finished[1].below[0].mergedIntoBase);

        const auto val = loadTokenizedJsonl((m_root / "val.jsonl").string());
        auto base = models::loadCausalLM((m_root / "model").string());
        AdapterSet set(*base);
        loadPeftAdapter(set, r.stages[0].adapterDir, "a");
        const double withA = meanLoss(*base, val);
        auto mergedModel = models::loadCausalLM(merged.string());
        QVERIFY(std::abs(meanLoss(*mergedModel, val) - withA) < 1e-5);
        AdapterSet onMerged(*mergedModel);
        loadPeftAdapter(onMerged, r.stages[1].adapterDir, "b");
        QVERIFY(std::abs(meanLoss(*mergedModel, val) - r.stages[1].result.finalEval->loss) < 1e-5);
    }

    // Stopped inside stage b and between the stages, resumed: the same adapters to the bit.
    void resumeBitwise()
    {
        RecordingHooks straightHooks;
        PipelineRunner straight(write("s.yaml", pipelineYaml("out-straight")), straightHooks);
        const PipelineResult s = straight.run(nullptr, false);
        QVERIFY(s.status == TrainStatus::Completed);

        // Within stage b: stop after its step 2 (a checkpoint), resume.
        {
            RecordingHooks hooks;
            PipelineRunner first(write("w.yaml", pipelineYaml("out-within")), hooks);
            // Stage a must run through: stop only counts in stage b.
            class StopInB : public TrainObserver {
            public:
                RecordingHooks* hooks = nullptr;
                void onStep(const StepStats& st) override
                {
                    if (hooks->finished.size() == 1 && st.step == 2)
                        requestStop(true);
                }
            } observer;
            observer.hooks = &hooks;
            const PipelineResult r1 = first.run(&observer, false);
            QCOMPARE(int(r1.status), int(TrainStatus::Stopped));
            QVERIFY2(QString::fromStdString(r1.message).contains("stage 2/2 'b'"), r1.message.c_str());
            // A fresh start into the same folder is refused; a resume continues.
            QVERIFY_THROWS_EXCEPTION(Error, first.run(nullptr, false));
            RecordingHooks again;
            PipelineRunner second(write("w.yaml", pipelineYaml("out-within")), again);
            const PipelineResult r2 = second.run(nullptr, true);
            QVERIFY2(r2.status == TrainStatus::Completed, r2.message.c_str());
            QVERIFY(!r2.stages[0].trained);        // done before
            QVERIFY(r2.stages[1].result.steps == 4);
            for (size_t i = 0; i < 2; ++i)
                QVERIFY2(sameTensors(fs::path(s.stages[i].adapterDir) / kPeftWeightsFile, fs::path(r2.stages[i].adapterDir) / kPeftWeightsFile),
                         qPrintable(QString("stage %1").arg(i)));
        }
        // Between the stages.
        {
            TrainObserver observer;
            RecordingHooks hooks;
            hooks.stopAfterStage = &observer;
            hooks.stopIndex = 0;
            PipelineRunner first(write("b.yaml", pipelineYaml("out-between")), hooks);
            const PipelineResult r1 = first.run(&observer, false);
            QCOMPARE(int(r1.status), int(TrainStatus::Stopped));
            QCOMPARE(r1.stages.size(), size_t(1));
            QVERIFY(!fs::exists(m_root / "out-between" / "02-b"));
            RecordingHooks again;
            PipelineRunner second(write("b.yaml", pipelineYaml("out-between")), again);
            const PipelineResult r2 = second.run(nullptr, true);
            QVERIFY2(r2.status == TrainStatus::Completed, r2.message.c_str());
            QVERIFY(sameTensors(fs::path(s.stages[1].adapterDir) / kPeftWeightsFile, fs::path(r2.stages[1].adapterDir) / kPeftWeightsFile));
        }
    }

    // A resume never reuses a stage whose inputs changed: a changed override of stage a trains a and
    // b again (b stood on the old a), their old folders kept aside; an unchanged resume trains
    // nothing; stage b's data file touched trains b alone again.
    void staleStagesTrainAgain()
    {
        RecordingHooks first;
        PipelineRunner r1(write("stale.yaml", pipelineYaml("out-stale")), first);
        QVERIFY(r1.run(nullptr, false).status == TrainStatus::Completed);
        RecordingHooks same;
        PipelineRunner r2(write("stale.yaml", pipelineYaml("out-stale")), same);
        QVERIFY(r2.run(nullptr, true).status == TrainStatus::Completed);
        QVERIFY(same.finished.empty());

        RecordingHooks changed;
        PipelineRunner r3(write("stale.yaml", pipelineYaml("out-stale", {}, "    overrides: {training: {learning_rate: 0.02}}\n")), changed);
        // Each stale stage is announced once (the console showed it twice: as a warning and a status).
        struct Said : TrainObserver {
            int times = 0;
            void onStatus(const std::string& s) override { times += s.find("it trains again") != std::string::npos; }
        } said;
        int warned = 0;
        setLogCallback([&warned](LogLevel, const std::string& m) { warned += m.find("it trains again") != std::string::npos; });
        const PipelineResult again = r3.run(&said, true);
        setLogCallback({});
        QCOMPARE(said.times + warned, 2);
        QVERIFY2(again.status == TrainStatus::Completed, again.message.c_str());
        QCOMPARE(changed.finished.size(), size_t(2));
        QVERIFY(fs::exists(m_root / "out-stale" / "01-a.stale-1" / "adapter"));
        QVERIFY(fs::exists(m_root / "out-stale" / "02-b.stale-1" / "adapter"));
        QVERIFY(!sameTensors(m_root / "out-stale" / "01-a.stale-1" / "adapter" / kPeftWeightsFile,
                             fs::path(again.stages[0].adapterDir) / kPeftWeightsFile));

        fs::last_write_time(m_root / "b.jsonl", fs::last_write_time(m_root / "b.jsonl") + std::chrono::seconds(2));
        RecordingHooks touched;
        PipelineRunner r4(write("stale.yaml", pipelineYaml("out-stale", {}, "    overrides: {training: {learning_rate: 0.02}}\n")), touched);
        QVERIFY(r4.run(nullptr, true).status == TrainStatus::Completed);
        QCOMPARE(touched.finished.size(), size_t(1));
        QCOMPARE(touched.finished[0].spec->name, std::string("b"));
        QVERIFY(fs::exists(m_root / "out-stale" / "02-b.stale-2"));
    }

    // Every problem is named with its stage, key and position; nothing trains.
    void badConfigsRefused_data()
    {
        QTest::addColumn<QString>("bExtra");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("unknown override key") << "    overrides: {training: {lerning_rate: 0.1}}\n"
                                              << QStringList{"stage 'b'", "unknown key 'lerning_rate' (did you mean 'learning_rate'?)", "line 14, column 28"};
        QTest::newRow("dotted override of a bad type") << "    overrides:\n      training.max_steps: many\n"
                                                       << QStringList{"stage 'b'", "config key 'training.max_steps' (line 15, column 7): expected an integer"};
        QTest::newRow("unknown stage key") << "    epochs: 3\n" << QStringList{"stage 'b'", "unknown key 'epochs'", "line 14, column 5"};
        QTest::newRow("missing data") << "  - name: c\n    data: nowhere.jsonl\n"
                                      << QStringList{"stage 'c'", "nowhere.jsonl' does not exist"};
        QTest::newRow("bad from") << "  - name: c\n    from: latest\n" << QStringList{"stage 'c' (line 15, column 5)", "must name a stored version as task@vN"};
        QTest::newRow("from without a store") << "  - name: c\n    from: p_a@v1\n" << QStringList{"stage 'c'", "no experiment store is open"};
        QTest::newRow("duplicate name") << "  - name: a\n    data: a.jsonl\n" << QStringList{"name 'a' is used by an earlier stage"};
        QTest::newRow("bad objective") << "    objective: ppo\n" << QStringList{"stage 'b'", "objective 'ppo' is unknown"};
        QTest::newRow("id past the vocabulary") << "  - name: c\n    data: big-id.jsonl\n"
                                                << QStringList{"stage 'c'", "big-id.jsonl:3: input_ids[1] = 40 is outside the model's vocabulary"};
        QTest::newRow("every label masked") << "  - name: c\n    data: masked.jsonl\n"
                                            << QStringList{"stage 'c'", "masked.jsonl: no usable samples"};
        QTest::newRow("dpo stage on sft data") << "    objective: dpo\n" << QStringList{"stage 'b'", "line 1 is not a preference record"};
        QTest::newRow("bad floor") << "    curriculum: {schedule: linear, floor: 2}\n" << QStringList{"curriculum.floor must be in [0, 1]"};
        QTest::newRow("bad schedule") << "    curriculum: {schedule: steps}\n" << QStringList{"unknown curriculum schedule 'steps'", "line 14, column 18"};
        QTest::newRow("a section given as a value") << "    overrides: {adapter: 8}\n"
                                                    << QStringList{"stage 'b'", "'adapter' must be a mapping of keys, found 8"};
        QTest::newRow("a section given as a value and with keys") << "    overrides: {training.max_steps: 5, training: 3}\n"
                                                                  << QStringList{"stage 'b'", "overrides: 'training.max_steps' sets a key of 'training', which is given as 3"};
        QTest::newRow("stack reference on a merged base")
            << "    objective: dpo\n    merge_into_base: true\n    overrides: {dpo: {reference: stack}}\n"
            << QStringList{"stage 'b'", "the stages below are merged into the base", "use reference 'base'"};
    }
    void badConfigsRefused()
    {
        QFETCH(QString, bExtra);
        QFETCH(QStringList, expected);
        RecordingHooks hooks;
        PipelineRunner runner(write("bad.yaml", pipelineYaml("out-bad", bExtra.toStdString())), hooks);
        try {
            runner.run(nullptr, false);
            QFAIL("the pipeline ran");
        } catch (const Error& e) {
            for (const auto& x : expected)
                QVERIFY2(QString::fromUtf8(e.what()).contains(x), e.what());
        }
        QVERIFY(hooks.finished.empty());
        QVERIFY(!fs::exists(m_root / "out-bad" / "01-a"));
    }

    // A DPO stage above others may take them as its reference: the runner fills its stack_on. The
    // first stage has nothing below it.
    void stackReferenceAboveEarlierStages()
    {
        std::ofstream(m_root / "prefs.jsonl") << R"({"prompt": "a", "chosen": "b", "rejected": "c"})" << "\n";
        const std::string dpoStack = "    objective: dpo\n    overrides: {dpo: {reference: stack}, data: {train: prefs.jsonl, validation: prefs.jsonl}}\n";
        // The stack reference passes; what is left is that this model folder has no tokenizer to read
        // the stage's text pairs with (its run would fail on that).
        const auto fine = write("dpo-stack.yaml", pipelineYaml("out-dpo", dpoStack)).problems();
        QCOMPARE(fine.size(), size_t(1));
        QVERIFY2(fine[0].find("stage 'b'") != std::string::npos && fine[0].find("no tokenizer.json") != std::string::npos,
                 fine[0].c_str());
        const auto first = write("dpo-first.yaml", pipelineYaml("out-dpo", {}, dpoStack)).problems();
        QCOMPARE(first.size(), size_t(1));
        QVERIFY2(first[0].find("stage 'a'") != std::string::npos && first[0].find(kStackReferenceProblem) != std::string::npos,
                 first[0].c_str());
    }

    // The store: one group, a run per stage, versions named by the scheme, lineage to every stage below,
    // and a later pipeline starting from a stored version.
    void storeGroupAndLineage()
    {
        const fs::path db = m_root / "store.sqlite";
        {
            app::PipelineRecorder recorder(db);
            PipelineRunner runner(write("st.yaml", pipelineYaml("out-store", "  - name: c\n    data: a.jsonl\n")), recorder);
            const PipelineResult r = runner.run(nullptr, false);
            QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
        }
        storage::Store store(db);
        storage::RunFilter f;
        f.tag = std::make_pair(std::string(app::kPipelineTag), std::string("p"));
        const auto runs = store.runs().list(f);
        QCOMPARE(runs.size(), size_t(3));
        const auto project = store.runs().project(runs[0].projectId);
        QVERIFY(project && project->name == "p");
        for (const auto& run : runs)
            QCOMPARE(run.projectId, runs[0].projectId);
        const auto a = store.adapters().resolve("p_a@v1"), b = store.adapters().resolve("p_b@v1"),
                   c = store.adapters().resolve("p_c@v1");
        QCOMPARE(c.stage, std::string("c"));
        QVERIFY(QString::fromStdString(c.name).startsWith("p_c_"));
        QCOMPARE(store.lineage().parents(a.id).size(), size_t(0));
        QCOMPARE(store.lineage().parents(b.id).size(), size_t(1));
        const auto pc = store.lineage().parents(c.id);
        QCOMPARE(pc.size(), size_t(2));
        for (const auto& e : pc) {
            QVERIFY(e.kind == storage::LineageKind::TrainedFrom);
            QCOMPARE(e.method, std::string(app::kRelationStackedOn));
            QVERIFY(e.parentId == a.id || e.parentId == b.id);
        }
        QCOMPARE(store.adapters().tags(c.id).at(app::kPipelineStageTag), std::string("3"));

        // Killed after stage c's run finished but before the state said so: a resume takes the
        // run's result (no new run, no new version) instead of refusing the finished run.
        {
            const fs::path statePath = m_root / "out-store" / kPipelineStateFile;
            auto state = json::parse(readFile(statePath));
            state["stages"][2]["status"] = "started";
            writeFileAtomic(statePath, state.dump(2));
            app::PipelineRecorder recorder(db);
            PipelineRunner runner(write("st.yaml", pipelineYaml("out-store", "  - name: c\n    data: a.jsonl\n")), recorder);
            const PipelineResult r = runner.run(nullptr, true);
            QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
            for (const auto& s : r.stages)
                QVERIFY(!s.trained);
            QCOMPARE(*r.stages[2].adapterId, c.id);
            QCOMPARE(json::parse(readFile(statePath))["stages"][2]["status"].get<std::string>(), std::string("done"));
        }
        QCOMPARE(store.runs().list(f).size(), size_t(3));

        // A second pipeline takes stage a from the store and trains d on top of it.
        {
            app::PipelineRecorder recorder(db);
            const std::string text = "pipeline: {name: q, output_dir: out-q}\n"
                                     "base: {model: {path: model}, data: {max_seq_len: 16}, adapter: {r: 4, target_modules: [q_proj]},"
                                     " training: {max_steps: 2, batch_size: 4}}\n"
                                     "stages:\n  - {name: a, from: p_a@v1}\n  - {name: d, data: b.jsonl}\n";
            PipelineRunner runner(write("q.yaml", text), recorder);
            const PipelineResult r = runner.run(nullptr, false);
            QVERIFY2(r.status == TrainStatus::Completed, r.message.c_str());
            QVERIFY(!r.stages[0].trained);
            QCOMPARE(*r.stages[0].adapterId, a.id);
        }
        const auto d = store.adapters().resolve("q_d@v1");
        const auto pd = store.lineage().parents(d.id);
        QCOMPARE(pd.size(), size_t(1));
        QCOMPARE(pd[0].parentId, a.id);
        // With the store, a reference to a missing version is refused by name before training.
        {
            app::PipelineRecorder recorder(db);
            PipelineRunner runner(write("r.yaml", pipelineYaml("out-r", "  - name: c\n    from: p_a@v9\n")), recorder);
            try {
                runner.run(nullptr, false);
                QFAIL("ran with a missing version");
            } catch (const Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains("stage 'c'") && QString::fromUtf8(e.what()).contains("from: p_a@v9"), e.what());
                QVERIFY2(!QString::fromUtf8(e.what()).contains("--adapter"), e.what()); // a config key, not a command-line option
            }
        }
        // A stage's task renamed (`rslora adapters rename-task`): a reference to the old name names
        // the task it was renamed to and the reference to write instead.
        store.adapters().renameTask("p_a", "facts");
        {
            app::PipelineRecorder recorder(db);
            const std::string text = "pipeline: {name: q2, output_dir: out-q2}\n"
                                     "base: {model: {path: model}, data: {max_seq_len: 16}, adapter: {r: 4, target_modules: [q_proj]},"
                                     " training: {max_steps: 2, batch_size: 4}}\n"
                                     "stages:\n  - {name: a, from: p_a@v1}\n  - {name: d, data: b.jsonl}\n";
            PipelineRunner runner(write("q2.yaml", text), recorder);
            try {
                runner.run(nullptr, false);
                QFAIL("ran with a renamed task");
            } catch (const Error& e) {
                const QString m = QString::fromUtf8(e.what());
                QVERIFY2(m.contains("stage 'a'") && m.contains("from: p_a@v1: no task \"p_a\"") && m.contains("task \"facts\"")
                             && m.contains("rslora adapters rename-task p_a facts") && m.contains("write from: facts@v1"),
                         e.what());
                QVERIFY2(m.count("p_a@v1") == 1, e.what());
            }
        }
    }

    // `rslora train PIPELINE.yaml`: detected as a pipeline, a line per stage, recorded in the store;
    // a bad stage refused before anything trains, naming stage and key.
    void cliTrainsPipeline()
    {
        const QString cli = QString::fromLocal8Bit(qgetenv("RSLORA_CLI"));
        if (cli.isEmpty() || !QFileInfo::exists(cli))
            QSKIP("RSLORA_CLI (the rslora executable) is not available");
        auto run = [&](const QStringList& args) {
            QProcess p;
            p.start(cli, args);
            p.waitForFinished(300000);
            return std::make_tuple(p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError()));
        };
        const QString db = QString::fromStdString((m_root / "cli.sqlite").string());
        write("cli.yaml", pipelineYaml("out-cli"));
        const auto [code, out, err] = run({"train", QString::fromStdString((m_root / "cli.yaml").string()), "--db", db, "--quiet"});
        QVERIFY2(code == 0, qPrintable(out + err));
        QVERIFY2(out.contains("stage 1/2 a: run #1"), qPrintable(out));
        QVERIFY2(out.contains("stage 2/2 b: run #2; stacked on: a"), qPrintable(out));
        QVERIFY2(out.contains("stage 2/2 b: completed, 4 steps"), qPrintable(out));
        // Run again with --resume latest: every stage is done, nothing trains.
        const auto [code2, out2, err2] = run({"train", QString::fromStdString((m_root / "cli.yaml").string()), "--db", db, "--quiet", "--resume", "latest"});
        QVERIFY2(code2 == 0 && out2.contains("stage 1/2 a: done in an earlier session"), qPrintable(out2 + err2));

        write("cli-bad.yaml", pipelineYaml("out-cli-bad", "    overrides: {training: {max_steps: -1}}\n"));
        const auto [code3, out3, err3] = run({"train", QString::fromStdString((m_root / "cli-bad.yaml").string()), "--db", db, "--quiet"});
        QVERIFY(code3 != 0);
        QVERIFY2(err3.contains("stage 'b'") && err3.contains("training.max_steps must be >= 0"), qPrintable(err3));
        QVERIFY(!fs::exists(m_root / "out-cli-bad" / "01-a"));
        // A pipeline that is refused is not announced first.
        QVERIFY2(!out3.contains("pipeline "), qPrintable(out3));
        // A bad --set value is named as the command line's, not by the line of the file it replaced.
        const auto [code4, out4, err4] = run({"train", QString::fromStdString((m_root / "cli-bad.yaml").string()), "--db", db,
                                              "--quiet", "--set", "training.learning_rate=fast"});
        QVERIFY2(code4 != 0 && err4.contains("config key 'training.learning_rate' (--set training.learning_rate)"), qPrintable(err4));
        const auto [code5, out5, err5] = run({"train", QString::fromStdString((m_root / "cli-bad.yaml").string()), "--db", db,
                                              "--quiet", "--set", ".x=1"});
        QVERIFY2(code5 != 0 && err5.contains("--set expects section.key=value, found '.x=1'"), qPrintable(err5));
    }
};

QTEST_GUILESS_MAIN(PipelineTest)
#include "PipelineTest.moc"
