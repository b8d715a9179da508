// Grid search over fusion weights: every point scores exactly what the Evaluator gives with those
// weights set by hand, the best point is the lowest loss, (1, 0) is adapter A alone, nothing is
// loaded or merged per point, and every refusal names what is wrong. The whole search from folders
// (runGridSearch) reproduces the in-memory grid, and refuses stored versions of another base model.
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/GridSearch.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"

#include "FusionTestSupport.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>
#include <fstream>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;
using fusiontest::errorOf;
using fusiontest::tinyConfig;

namespace {

// Adds adapter `name` and gives its B non-zero values, so that it changes the loss.
void addRandomAdapter(AdapterSet& set, const std::string& name, uint64_t seed)
{
    AdapterConfig a;
    a.name = name;
    a.targetModules = {"q_proj", "v_proj", "down_proj"};
    a.rank = 4;
    a.alpha = 8;
    set.addAdapter(a, seed);
    torch::NoGradGuard ng;
    torch::manual_seed(seed);
    for (auto& m : set.modules())
        if (m.module->hasAdapter(name))
            m.module->adapter(name).factorB().normal_(0.0, 0.6);
}

std::vector<TrainExample> examples(int n, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<TrainExample> out;
    for (int i = 0; i < n; ++i) {
        TrainExample e;
        const int len = 5 + int(rng() % 6);
        for (int t = 0; t < len; ++t)
            e.ids.push_back(int64_t(rng() % 32));
        e.labels = e.ids;
        e.labels[0] = -100;
        out.push_back(e);
    }
    return out;
}

void writeJsonl(const std::string& path, const std::vector<TrainExample>& ex)
{
    std::ofstream o(path);
    for (const auto& e : ex) {
        nlohmann::json j;
        j["input_ids"] = e.ids;
        j["labels"] = e.labels;
        o << j.dump() << "\n";
    }
}

} // namespace

class FusionGridTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void weightValuesParse()
    {
        const auto r = parseWeightValues("-1:2:0.25", "--weights");
        QCOMPARE(r.size(), size_t(13));
        QCOMPARE(r.front(), -1.0);
        QCOMPARE(r.back(), 2.0);
        QCOMPARE(r[5], 0.25);
        const auto tenth = parseWeightValues("0:1:0.1", "w");
        QCOMPARE(tenth.size(), size_t(11));
        QCOMPARE(tenth[3], 0.3); // snapped, not 0.30000000000000004
        QCOMPARE(tenth.back(), 1.0);
        const auto list = parseWeightValues("0, 0.5,-1", "w");
        QCOMPARE(list, (std::vector<double>{0.0, 0.5, -1.0}));
        QCOMPARE(parseWeightValues("0.7", "w"), std::vector<double>{0.7});
        QVERIFY(errorOf([] { parseWeightValues("0:1:0", "--weights"); }).find("step must be greater than 0") != std::string::npos);
        QVERIFY(errorOf([] { parseWeightValues("0:1:-0.5", "--weights"); }).find("step must be greater than 0") != std::string::npos);
        QVERIFY(errorOf([] { parseWeightValues("1:0:0.5", "--weights"); }).find("empty") != std::string::npos);
        QVERIFY(errorOf([] { parseWeightValues("0,x", "--weights"); }).find("'x'") != std::string::npos);
        QVERIFY(errorOf([] { parseWeightValues("0:1", "--weights"); }).find("START:STOP:STEP") != std::string::npos);
        QVERIFY(errorOf([] { parseWeightValues("nan", "--weights"); }).find("finite") != std::string::npos);
        // More values than an integer holds: refused by their count (it read "no weight values" before).
        const std::string tiny = errorOf([] { parseWeightValues("0:1:1e-300", "--weights"); });
        QVERIFY2(tiny.find("the range 0:1:1e-300 has 1e+300 values; use a larger step") != std::string::npos, tiny.c_str());
        QVERIFY(errorOf([] { parseWeightValues("0:1:1e-5", "--weights"); }).find("has 100001 values") != std::string::npos);
        QCOMPARE(parseGridMetric("exact_match"), GridMetric::ExactMatch);
        QVERIFY(errorOf([] { parseGridMetric("bleu"); }).find("unknown metric 'bleu'") != std::string::npos);
    }

    void gridRefusals()
    {
        GridSpec s;
        s.adapters = {"a"};
        s.values = {{0, 1}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("2 or 3 adapters, found 1") != std::string::npos);
        s.adapters = {"a", "b", "c", "d"};
        s.values = {{0}, {0}, {0}, {0}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("2 or 3 adapters, found 4") != std::string::npos);
        s.adapters = {"a", "b"};
        s.values = {{0, 1}, {}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("grid is empty: adapter 2") != std::string::npos);
        s.values = {{0, 1}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("1 weight axes") != std::string::npos);
        s.values = {weightRange(-1, 2, 0.1, "a"), weightRange(-1, 2, 0.1, "b")}; // 31 x 31
        const std::string big = errorOf([&] { checkGridSpec(s); });
        QVERIFY2(big.find("961 points (31 x 31)") != std::string::npos && big.find("limit of 400") != std::string::npos, big.c_str());
        s.values = {{0, 1}, {0, std::nan("")}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("not finite") != std::string::npos);
        s.adapters = {"a", "a"};
        s.values = {{0, 1}, {0, 1}};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).find("given twice") != std::string::npos);
        s.adapters = {"a", "b"};
        QVERIFY(errorOf([&] { checkGridSpec(s); }).empty());
    }

    // Each point's loss is exactly evaluateLoss with the same active weights set by hand; the best
    // point is the lowest; (1, 0) is adapter A alone; no adapter is loaded or merged per point.
    void gridMatchesEvaluator()
    {
        auto model = models::createCausalLM(tinyConfig(), 7);
        AdapterSet set(*model);
        addRandomAdapter(set, "a", 11);
        addRandomAdapter(set, "b", 12);
        const auto ex = examples(6, 3);
        auto score = [&] {
            const auto e = evaluateLoss(*model, ex, 4, 64);
            return GridScore{e.loss, e.tokens, e.perplexity};
        };
        // Identity of what the grid must not touch: the adapter tensors and the base weights.
        std::vector<const void*> before;
        for (auto& m : set.modules()) {
            before.push_back(m.module->weight.data_ptr());
            for (const auto& n : m.module->adapterNames())
                before.push_back(m.module->adapter(n).factorB().data_ptr());
        }
        const auto baseWeightSum = set.modules()[0].module->weight.sum().item<double>();
        set.setActive({{"b", 1.0}}); // restored after the grid
        GridSpec spec;
        spec.adapters = {"a", "b"};
        spec.labels = {"A", "B"};
        spec.values = {{-0.5, 0.0, 1.0}, {0.0, 0.5, 1.0, 2.0}};
        int calls = 0, lastDone = 0;
        const GridResult r = runGrid(set, spec, [&] { ++calls; return score(); }, [&](int done, int total) {
            lastDone = done;
            return total == 12;
        });
        QCOMPARE(calls, 12);
        QCOMPARE(lastDone, 12);
        for (const auto& m : set.modules()) // the active set found on entry is back
            QVERIFY(m.module->activeAdapters().size() == 1 && m.module->activeAdapters()[0].name == "b");
        QCOMPARE(r.points.size(), size_t(12));
        QCOMPARE(r.varyingAxes(), (std::vector<size_t>{0, 1}));
        QCOMPARE(r.adapters, (std::vector<std::string>{"A", "B"}));
        // Row-major: the last adapter varies fastest.
        QCOMPARE(r.points[1].weights, (std::vector<double>{-0.5, 0.5}));
        QCOMPARE(r.at({2, 0}).weights, (std::vector<double>{1.0, 0.0}));
        size_t best = 0;
        for (size_t k = 0; k < r.points.size(); ++k) {
            const auto& p = r.points[k];
            set.setActive({{"a", p.weights[0]}, {"b", p.weights[1]}});
            const auto byHand = evaluateLoss(*model, ex, 4, 64);
            QCOMPARE(p.score.value, byHand.loss); // bitwise: the same computation
            QCOMPARE(p.score.count, byHand.tokens);
            if (p.score.value < r.points[best].score.value)
                best = k;
        }
        QCOMPARE(r.best, best);
        QCOMPARE(r.bestPoint().weights, r.points[best].weights);
        // Distinct weights give distinct losses (the adapters matter).
        QVERIFY(std::abs(r.points[0].score.value - r.points[11].score.value) > 1e-3);
        // (1, 0) is adapter A alone.
        set.setActive({{"a", 1.0}});
        const double aloneA = evaluateLoss(*model, ex, 4, 64).loss;
        QVERIFY2(std::abs(r.at({2, 0}).score.value - aloneA) < 1e-6,
                 qPrintable(QString("%1 vs %2").arg(r.at({2, 0}).score.value).arg(aloneA)));
        // Nothing reloaded, re-created or merged: same tensors, same base values, same adapters.
        std::vector<const void*> after;
        for (auto& m : set.modules()) {
            after.push_back(m.module->weight.data_ptr());
            for (const auto& n : m.module->adapterNames())
                after.push_back(m.module->adapter(n).factorB().data_ptr());
        }
        QCOMPARE(after, before);
        QCOMPARE(set.modules()[0].module->weight.sum().item<double>(), baseWeightSum);
        QCOMPARE(set.adapterNames(), (std::vector<std::string>{"a", "b"}));
        // The JSON and the table carry the points and the best one.
        const auto j = r.toJson();
        QCOMPARE(j["points"].size(), size_t(12));
        QCOMPARE(j["best"]["weights"].get<std::vector<double>>(), r.bestPoint().weights);
        QVERIFY(r.toText().find("<- best") != std::string::npos);
    }

    void gridRestoresActiveSetAndCancels()
    {
        auto model = models::createCausalLM(tinyConfig(), 7);
        AdapterSet set(*model);
        addRandomAdapter(set, "a", 11);
        addRandomAdapter(set, "b", 12);
        set.setActive({{"b", 0.25}});
        GridSpec spec;
        spec.adapters = {"a", "b"};
        spec.values = {{0.0, 1.0}, {0.0, 1.0}};
        int calls = 0;
        const std::string err = errorOf([&] {
            runGrid(set, spec, [&] { ++calls; return GridScore{}; }, [](int done, int) { return done < 2; });
        });
        QVERIFY2(err.find("cancelled after 2 of 4 points") != std::string::npos, err.c_str());
        QCOMPARE(calls, 2);
        for (const auto& m : set.modules()) {
            QCOMPARE(m.module->activeAdapters().size(), size_t(1));
            QCOMPARE(m.module->activeAdapters()[0].name, std::string("b"));
            QCOMPARE(m.module->activeAdapters()[0].weight, 0.25);
        }
        spec.adapters = {"a", "zzz"};
        QVERIFY(errorOf([&] { runGrid(set, spec, [] { return GridScore{}; }); }).find("no adapter named 'zzz'") != std::string::npos);
        // Accuracy: the highest wins.
        spec.adapters = {"a", "b"};
        spec.metric = GridMetric::MultipleChoice;
        const std::vector<double> accuracies{0.1, 0.2, 0.9, 0.3};
        size_t next = 0;
        const auto r = runGrid(set, spec, [&] { return GridScore{accuracies[next++], 10, 0}; });
        QCOMPARE(r.best, size_t(2));
        // A loss that is not a number (weights that overflow the model's output) is never the best; with
        // none finite there is no best point (NaN was printed and recorded as the best before).
        spec.metric = GridMetric::Loss;
        const double nan = std::nan("");
        const std::vector<double> losses{nan, 2.0, nan, 1.5};
        next = 0;
        QCOMPARE(runGrid(set, spec, [&] { return GridScore{losses[next++], 10, 0}; }).best, size_t(3));
        const std::string none = errorOf([&] { runGrid(set, spec, [&] { return GridScore{nan, 10, 0}; }); });
        QVERIFY2(none.find("no point of the grid gave a finite loss (the first, a = 0, b = 0)") != std::string::npos, none.c_str());
        const double inf = std::numeric_limits<double>::infinity();
        QVERIFY(errorOf([&] { runGrid(set, spec, [&] { return GridScore{inf, 10, 0}; }); }).find("no point of the grid") != std::string::npos);
    }

    // From folders: the base loaded once, both adapters into one set, the same losses as in memory;
    // data lacking what the metric needs is refused naming the line.
    void gridSearchFromFolders()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        auto model = models::createCausalLM(tinyConfig(), 7);
        model->saveModelFolder(root / "model");
        std::vector<double> expected;
        const auto ex = examples(5, 9);
        writeJsonl((root / "val.jsonl").string(), ex);
        {
            AdapterSet set(*model);
            addRandomAdapter(set, "a", 21);
            addRandomAdapter(set, "b", 22);
            AdapterConfig cfg;
            cfg.targetModules = {"q_proj", "v_proj", "down_proj"};
            cfg.rank = 4;
            cfg.alpha = 8;
            savePeftAdapter(set, "a", cfg, root / "A");
            savePeftAdapter(set, "b", cfg, root / "B");
            for (double wa : {0.0, 1.0})
                for (double wb : {-1.0, 0.5}) {
                    set.setActive({{"a", wa}, {"b", wb}});
                    expected.push_back(evaluateLoss(*model, ex, 8, 512).loss);
                }
        }
        GridRequest req;
        req.modelPath = (root / "model").string();
        req.adapters = {{(root / "A").string(), "A"}, {(root / "B").string(), ""}};
        req.values = {{0.0, 1.0}, {-1.0, 0.5}};
        req.dataPath = (root / "val.jsonl").string();
        const auto r = runGridSearch(req);
        QCOMPARE(r.points.size(), size_t(4));
        for (size_t k = 0; k < 4; ++k)
            QVERIFY2(std::abs(r.points[k].score.value - expected[k]) < 1e-5,
                     qPrintable(QString("%1 vs %2").arg(r.points[k].score.value).arg(expected[k])));
        QCOMPARE(r.adapters[1], (root / "B").string());
        QCOMPARE(r.datasetSha256.size(), size_t(64));

        // A multiple-choice record in a loss set, an exact-match file without answers.
        std::ofstream((root / "bad.jsonl").string()) << "{\"input_ids\": [1, 2, 3]}\n{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n";
        req.dataPath = (root / "bad.jsonl").string();
        std::string err = errorOf([&] { runGridSearch(req); });
        QVERIFY2(err.find("bad.jsonl:2") != std::string::npos && err.find("metric loss") != std::string::npos, err.c_str());
        std::ofstream((root / "mc.jsonl").string()) << "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 1}\n{\"question\": \"q\"}\n";
        req.dataPath = (root / "mc.jsonl").string();
        req.metric = GridMetric::MultipleChoice;
        err = errorOf([&] { runGridSearch(req); });
        QVERIFY2(err.find("mc.jsonl:2") != std::string::npos && err.find("choices") != std::string::npos, err.c_str());
        req.dataPath = (root / "missing.jsonl").string();
        QVERIFY(errorOf([&] { runGridSearch(req); }).find("does not exist") != std::string::npos);

        // Stored versions (their recorded base fingerprints) of another model than --model, or of
        // two different models: refused before anything is loaded, naming both fingerprints.
        req.dataPath = (root / "val.jsonl").string();
        req.metric = GridMetric::Loss;
        const std::string fp = models::modelFingerprint(root / "model");
        const std::string other(64, 'e');
        req.baseFingerprints = {other, other};
        err = errorOf([&] { runGridSearch(req); });
        QVERIFY2(err.find("'A' was trained on another base model") != std::string::npos && err.find(other.substr(0, 12)) != std::string::npos
                     && err.find(fp.substr(0, 12)) != std::string::npos,
                 err.c_str());
        req.baseFingerprints = {fp, other};
        err = errorOf([&] { runGridSearch(req); });
        QVERIFY2(err.find("different base models") != std::string::npos && err.find(other.substr(0, 12)) != std::string::npos
                     && err.find(fp.substr(0, 12)) != std::string::npos,
                 err.c_str());
        // A folder ("") next to a version of this model is scored as before.
        req.baseFingerprints = {fp, ""};
        QCOMPARE(runGridSearch(req).points.size(), size_t(4));
    }
};

QTEST_GUILESS_MAIN(FusionGridTest)
#include "FusionGridTest.moc"
