// Sweeps: --vary / sweep: block reading, grid × seeds expansion, group statistics against hand
// computation, Welch's t-test and Student's t CDF against known values.
#include "common/Error.h"
#include "engine/ConfigYaml.h"
#include "engine/TrainConfig.h"
#include "engine/sweep/SampleStatistics.h"
#include "engine/sweep/SweepSpec.h"
#include "engine/sweep/SweepSummary.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace rslora::engine;
using nlohmann::json;

namespace {

template <typename F>
QString errorOf(F&& fn)
{
    try {
        fn();
    } catch (const rslora::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

json baseConfig()
{
    return json{{"model", {{"path", "m"}}}, {"adapter", {{"r", 8}}}, {"training", {{"seed", 7}}}};
}

} // namespace

class SweepTest : public QObject {
    Q_OBJECT
private slots:
    void varyGridTimesSeeds()
    {
        SweepSpec spec;
        spec.addVary("adapter.r=4,8,16,32");
        spec.addVary("adapter.init=lora,spectral");
        spec.seeds = 3;
        QCOMPARE(spec.combinationCount(), 8);
        const auto points = spec.expand(baseConfig());
        QCOMPARE(int(points.size()), 24);
        // Seed-major: every combination once with the first seed, then the next seed.
        QCOMPARE(points[0].seed, uint64_t(7));
        QCOMPARE(points[7].seed, uint64_t(7));
        QCOMPARE(points[8].seed, uint64_t(8));
        QCOMPARE(points[23].seed, uint64_t(9));
        // The first axis varies slowest.
        QCOMPARE(points[0].config["adapter"]["r"].get<int>(), 4);
        QCOMPARE(points[0].config["adapter"]["init"].get<std::string>(), std::string("lora"));
        QCOMPARE(points[1].config["adapter"]["init"].get<std::string>(), std::string("spectral"));
        QCOMPARE(points[2].config["adapter"]["r"].get<int>(), 8);
        QCOMPARE(points[13].combinationIndex, 5);
        QCOMPARE(points[13].seedIndex, 1);
        QCOMPARE(points[13].config["training"]["seed"].get<uint64_t>(), uint64_t(8));
        QCOMPARE(points[13].combinationLabel(), std::string("adapter.r=16, adapter.init=spectral"));
        // Every (combination, seed) exactly once.
        std::set<std::pair<int, uint64_t>> seen;
        for (const auto& p : points)
            seen.insert({p.combinationIndex, p.seed});
        QCOMPARE(int(seen.size()), 24);
        // The expanded config reads back as a TrainConfig with the swept values.
        const TrainConfig c = TrainConfig::fromJson(points[13].config);
        QCOMPARE(c.adapter.rank, 16);
        QCOMPARE(int(c.adapter.init), int(InitMode::Spectral));
        QCOMPARE(c.seed, uint64_t(8));
        QVERIFY(c.unknownKeys.empty());
    }

    void varyValues()
    {
        SweepSpec spec;
        spec.addVary("adapter.target_modules=[q_proj,v_proj],[\"q_proj\"]");
        spec.addVary("training.learning_rate=1e-3,2e-4");
        spec.addVary("adapter.scaling=alpha/sqrt(r)");
        const auto points = spec.expand(baseConfig());
        QCOMPARE(int(points.size()), 4);
        QCOMPARE(points[0].config["adapter"]["target_modules"], json({"q_proj", "v_proj"}));
        QCOMPARE(points[2].config["adapter"]["target_modules"], json({"q_proj"}));
        QCOMPARE(points[1].config["training"]["learning_rate"].get<double>(), 2e-4);
        QVERIFY(points[1].config["training"]["learning_rate"].is_number());
        QCOMPARE(points[0].config["adapter"]["scaling"].get<std::string>(), std::string("alpha/sqrt(r)"));
        // The same key again is refused by name: keeping only the last would drop runs asked for.
        const QString twice = errorOf([&] { spec.addVary("training.learning_rate=5e-4"); });
        QVERIFY2(twice.contains("training.learning_rate is varied twice") && twice.contains("1e-3,2e-4") && twice.contains("5e-4"),
                 qPrintable(twice));
        QCOMPARE(spec.combinationCount(), 4);
        // An axis of the config's sweep: block is replaced by --vary, as the command line overrides the file.
        SweepSpec fromFile = SweepSpec::fromJson(json{{"vary", {{"adapter.r", {4, 8}}, {"training.learning_rate", {1e-3}}}}});
        fromFile.addVary("adapter.r=16");
        QCOMPARE(fromFile.combinationCount(), 1);
        QCOMPARE(fromFile.axes.front().values.front().get<int>(), 16);
        QVERIFY(errorOf([&] { fromFile.addVary("adapter.r=32"); }).contains("adapter.r is varied twice"));
    }

    // The dialog shows a sweep's values as `--vary` text: each reads back as the value it came from.
    void formattedValuesReadBack()
    {
        const std::vector<nlohmann::json> values{
            "full", "alpha/sqrt(r)", "8", "a,b", "[x]", "true", "", " padded", 8, 0.004, 1e-5, true, nullptr,
            nlohmann::json::array({"q_proj", "v_proj"}), nlohmann::json{{"k", 1}}};
        for (const auto& v : values)
            QCOMPARE(parseConfigValue(formatConfigValue(v)).dump(), v.dump());
        QCOMPARE(formatConfigValue("random_subspace"), std::string("random_subspace"));
        QCOMPARE(formatConfigValue("8"), std::string("\"8\""));
        SweepSpec spec;
        spec.addVary("adapter.x=" + formatConfigValues(values));
        QCOMPARE(spec.axes[0].values.size(), values.size());
        for (size_t i = 0; i < values.size(); ++i)
            QCOMPARE(spec.axes[0].values[i].dump(), values[i].dump());
    }

    void badVaryIsNamed()
    {
        SweepSpec spec;
        QVERIFY(errorOf([&] { spec.addVary("adapter.r"); }).contains("--vary expects KEY=V1,V2"));
        QVERIFY(errorOf([&] { spec.addVary("rank=4,8"); }).contains("section.key"));
        QVERIFY(errorOf([&] { spec.addVary("adapter.r=4,,8"); }).contains("empty value"));
        SweepSpec seeded;
        seeded.addVary("training.seed=1,2");
        seeded.seeds = 3;
        QVERIFY(errorOf([&] { seeded.expand(baseConfig()); }).contains("varies training.seed"));
        seeded.seeds = 1;
        QCOMPARE(seeded.expand(baseConfig())[1].seed, uint64_t(2));
    }

    void sweepBlock()
    {
        const json block = json::parse(R"({"vary": {"adapter.r": [4, 8], "adapter": {"init": ["lora", "rescaled"]}},
                                           "seeds": [11, 12]})");
        const SweepSpec spec = SweepSpec::fromJson(block);
        QCOMPARE(int(spec.axes.size()), 2);
        QCOMPARE(spec.seedCount(), 2);
        const auto points = spec.expand(baseConfig());
        QCOMPARE(int(points.size()), 8);
        QCOMPARE(points[4].seed, uint64_t(12));
        QVERIFY(errorOf([] { SweepSpec::fromJson(json::parse(R"({"vary": {"adapter.r": 4}})")); })
                    .contains("sweep.vary.adapter.r: expected a non-empty list"));
        QVERIFY(errorOf([] { SweepSpec::fromJson(json::parse(R"({"seed": 3})")); }).contains("unknown key 'seed'"));
        QVERIFY(errorOf([] { SweepSpec::fromJson(json::parse(R"({"seeds": 0})")); }).contains("sweep.seeds"));
        // An explicit list of combinations.
        const SweepSpec list = SweepSpec::fromJson(
            json::parse(R"({"list": [{"adapter.init": "lora"}, {"adapter.init": "spectral", "adapter.r": 4}], "seeds": 2})"));
        const auto lp = list.expand(baseConfig());
        QCOMPARE(int(lp.size()), 4);
        QCOMPARE(lp[1].config["adapter"]["r"].get<int>(), 4);
        QCOMPARE(lp[2].config["adapter"]["r"].get<int>(), 8);
    }

    void outputDirPerRun()
    {
        json base = baseConfig();
        base["output"]["dir"] = "/tmp/x";
        SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        const auto points = spec.expand(base);
        QCOMPARE(points[1].config["output"]["dir"].get<std::string>(), std::string("/tmp/x/run-1"));
    }

    void yamlConfigWithSweepBlock()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("s.yaml").toStdString();
        std::ofstream(path) << "model:\n  path: m\nadapter:\n  r: 8\nsweep:\n  vary:\n    adapter.r: [4, 8, 16]\n  seeds: 2\n";
        const auto [config, block] = readSweepConfigFile(path);
        QVERIFY(!config.contains("sweep"));
        QCOMPARE(config["adapter"]["r"].get<int>(), 8);
        const SweepSpec spec = SweepSpec::fromJson(block);
        QCOMPARE(spec.combinationCount(), 3);
        QCOMPARE(spec.seedCount(), 2);
        QVERIFY(TrainConfig::fromJson(config).unknownKeys.empty());
    }

    void diagnosticsEvaluation()
    {
        const SweepSpec spec = SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{"diagnostics", true}}}});
        QCOMPARE(spec.evaluate["diagnostics"].get<bool>(), true);
        try {
            SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{"diagnostics", "yes"}}}});
            QFAIL("a non-boolean diagnostics was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("sweep.evaluate.diagnostics: expected true or false") != std::string::npos, e.what());
        }
        // Counts are read back as an int: one past its range would wrap (2^32 to 0, "every item").
        for (const char* key : {"limit", "max_new_tokens"}) {
            const QString e = errorOf([&] { (void)SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{key, int64_t(1) << 32}}}}); });
            QCOMPARE(e, QString("sweep.evaluate.%1: expected an integer from 0 to 2147483647, found 4294967296").arg(key));
            QVERIFY(errorOf([&] { (void)SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{key, uint64_t(-1)}}}}); })
                        .contains("found 18446744073709551615"));
            QVERIFY(errorOf([&] { (void)SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{key, -1}}}}); }).contains("found -1"));
            QCOMPARE(SweepSpec::fromJson({{"seeds", 2}, {"evaluate", {{key, 2147483647}}}}).evaluate[key].get<int>(), 2147483647);
        }
    }

    // Paths in a sweep file (the config's and the evaluation files) are taken from its folder.
    void sweepFilePathsFromItsFolder()
    {
        QTemporaryDir dir;
        const std::string folder = dir.path().toStdString();
        const std::string path = folder + "/s.yaml";
        std::ofstream(path) << "model:\n  path: ../m\ndata:\n  train: t.jsonl\nsweep:\n  seeds: 2\n"
                               "  evaluate:\n    exact_match: em.jsonl\n    limit: 5\n";
        const auto [config, block] = readSweepConfigFile(path);
        QCOMPARE(config["model"]["path"].get<std::string>(), std::filesystem::path(folder).parent_path().string() + "/m");
        QCOMPARE(config["data"]["train"].get<std::string>(), folder + "/t.jsonl");
        const SweepSpec spec = SweepSpec::fromJson(block);
        QCOMPARE(spec.evaluate["exact_match"].get<std::string>(), folder + "/em.jsonl");
        QCOMPARE(spec.evaluate["limit"].get<int>(), 5);
        // An upper-case extension is YAML too, as for training configs (it was read as JSON and refused).
        const std::string upper = folder + "/S.YAML";
        std::filesystem::copy_file(path, upper);
        QCOMPARE(readSweepConfigFile(upper).first["data"]["train"].get<std::string>(), folder + "/t.jsonl");
    }

    // Unknown keys of the sweep block name the closest known key.
    void unknownSweepKeysSuggest()
    {
        QCOMPARE(errorOf([] { SweepSpec::fromJson(json::parse(R"({"seed": 3})")); }),
                 QString("sweep: unknown key 'seed' (did you mean 'seeds'?); the keys are vary, list, seeds, evaluate"));
        QCOMPARE(errorOf([] { SweepSpec::fromJson(json::parse(R"({"evaluate": {"exact_mach": "x.jsonl"}})")); }),
                 QString("sweep.evaluate: unknown key 'exact_mach' (did you mean 'exact_match'?); the keys are exact_match, "
                         "multiple_choice, preference, max_new_tokens, limit, diagnostics"));
    }

    // A sweep that would expand to more than kMaxRuns runs is refused with its count, before any
    // point is built; a grid whose combination count overflows 32 bits is counted without overflow.
    void oversizedSweepsAreRefused()
    {
        SweepSpec five;
        for (const char* key : {"adapter.r", "adapter.alpha", "training.lr", "training.steps", "training.batch_size"})
            five.addVary(std::string(key) + "=1,2,3,4,5,6,7,8,9,10");
        QCOMPARE(five.combinationCount(), 100000);
        QCOMPARE(five.runCount(), int64_t(100000));
        QString e = errorOf([&] { (void)five.expand(baseConfig()); });
        QVERIFY2(e.contains("100000 runs (100000 combinations × 1 seeds)") && e.contains("at most 10000"), qPrintable(e));

        SweepSpec eleven;
        for (int i = 0; i < 11; ++i)
            eleven.addVary("lora_plus.key" + std::to_string(i) + "=1,2,3,4,5,6,7,8,9,10");
        QCOMPARE(eleven.combinationCount(), std::numeric_limits<int>::max()); // 10^11 saturates
        QVERIFY(eleven.runCount() >= int64_t(std::numeric_limits<int>::max()));
        e = errorOf([&] { (void)eleven.expand(baseConfig()); });
        QVERIFY2(e.contains("over ") && e.contains("at most 10000"), qPrintable(e));

        // At the limit it expands: 1000 combinations × 10 seeds.
        SweepSpec edge;
        edge.addVary("adapter.r=1,2,3,4,5,6,7,8,9,10");
        edge.addVary("adapter.alpha=1,2,3,4,5,6,7,8,9,10");
        edge.addVary("training.lr=1,2,3,4,5,6,7,8,9,10");
        edge.seeds = 10;
        QCOMPARE(int(edge.expand(baseConfig()).size()), 10000);

        json seeds = json::array();
        for (int i = 0; i < 1001; ++i)
            seeds.push_back(i);
        e = errorOf([&] { (void)SweepSpec::fromJson(json{{"seeds", seeds}}); });
        QVERIFY2(e.contains("sweep.seeds: at most 1000 seeds, found a list of 1001"), qPrintable(e));
    }

    // NaN and infinity (YAML's .nan, .inf) are no values to sweep over: refused with the key (found
    // by the sweep_config fuzz campaign: a NaN value did not read back equal to itself).
    void nonFiniteValuesAreRefused()
    {
        const json nan = std::numeric_limits<double>::quiet_NaN();
        QString e = errorOf([&] { (void)SweepSpec::fromJson(json{{"vary", {{"training.learning_rate", {0.1, nan}}}}}); });
        // Named as the user wrote it, not as JSON prints it ("null").
        QCOMPARE(e, QString("sweep.vary.training.learning_rate: NaN (.nan) is not a value a config key takes"));
        e = errorOf([&] {
            (void)SweepSpec::fromJson(json{{"list", json::array({json{{"adapter.r", 4}}, json{{"adapter.alpha", std::numeric_limits<double>::infinity()}}})}});
        });
        QVERIFY2(e.contains("sweep.list[1].adapter.alpha: infinity (.inf) is not"), qPrintable(e));
        e = errorOf([&] { (void)SweepSpec::fromJson(yamlToJson("vary:\n  training.learning_rate: [-.inf]\n", "s.yaml")); });
        QVERIFY2(e.contains("-infinity (-.inf)"), qPrintable(e));
        const json j = yamlToJson("vary:\n  adapter.target_modules: [[q_proj, .nan]]\n", "s.yaml");
        e = errorOf([&] { (void)SweepSpec::fromJson(j); });
        QVERIFY2(e.contains("sweep.vary.adapter.target_modules"), qPrintable(e));
    }

    // Repeats would be copies counted as independent samples (two bit-identical runs per group give a
    // standard deviation of 0 and a Welch p of 0): refused before anything runs, naming the repeat.
    void repeatsAreRefused()
    {
        QString e = errorOf([&] { (void)SweepSpec::fromJson(json::parse(R"({"vary": {"adapter.r": [4, 8]}, "seeds": [3, 3]})")).expand(baseConfig()); });
        QVERIFY2(e.contains("sweep.seeds: seed 3 is listed twice"), qPrintable(e));
        e = errorOf([&] { (void)SweepSpec::fromJson(json::parse(R"({"vary": {"adapter.r": [4, 8, 4]}})")).expand(baseConfig()); });
        QVERIFY2(e.contains("sweep.vary.adapter.r: the value 4 is listed twice"), qPrintable(e));
        e = errorOf([&] {
            (void)SweepSpec::fromJson(json::parse(R"({"vary": {"adapter.r": [4, 8], "adapter": {"r": [16]}}})")).expand(baseConfig());
        });
        QVERIFY2(e.contains("adapter.r is given twice"), qPrintable(e));
        e = errorOf([&] {
            (void)SweepSpec::fromJson(json::parse(R"({"list": [{"adapter.r": 4, "adapter.lora_alpha": 8}, {"adapter.r": 8},
                                                              {"adapter.lora_alpha": 8, "adapter.r": 4}]})")).expand(baseConfig());
        });
        QVERIFY2(e.contains("sweep.list[2] repeats sweep.list[0]"), qPrintable(e));
        // Distinct values pass, and --vary replacing an axis is no repeat.
        SweepSpec ok = SweepSpec::fromJson(json::parse(R"({"vary": {"adapter.r": [4, 8]}, "seeds": [3, 4]})"));
        ok.addVary("adapter.r=8,16");
        QCOMPARE(ok.expand(baseConfig()).size(), size_t(4));
    }

    void summaryByHand()
    {
        // By hand: {1, 2, 3, 4}: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, s² = 5/3,
        // s = 1.2909944487.
        const SampleSummary s = summarize({1, 2, 3, 4, std::nan("")});
        QCOMPARE(s.n, 4);
        QCOMPARE(s.mean, 2.5);
        QVERIFY(std::fabs(s.std - std::sqrt(5.0 / 3.0)) < 1e-12);
        const SampleSummary one = summarize({0.5});
        QCOMPARE(one.n, 1);
        QVERIFY(std::isnan(one.std));
        QCOMPARE(summarize({}).n, 0);
    }

    void incompleteBetaAndTCdf()
    {
        // I_0.4(2, 3) = Σ_{j=2..4} C(4,j) 0.4^j 0.6^(4−j) = 0.3456 + 0.1536 + 0.0256 = 0.5248.
        QVERIFY(std::fabs(regularizedIncompleteBeta(2, 3, 0.4) - 0.5248) < 1e-12);
        // I_0.3(1/2, 1/2) = (2/π) asin(√0.3) = 0.369010119565545.
        QVERIFY(std::fabs(regularizedIncompleteBeta(0.5, 0.5, 0.3) - 2 / M_PI * std::asin(std::sqrt(0.3))) < 1e-12);
        // mpmath.betainc(10, 20, 0, 0.6, regularized=True) = 0.998477777826913 (the symmetric branch).
        QVERIFY(std::fabs(regularizedIncompleteBeta(10, 20, 0.6) - 0.998477777826913) < 1e-12);
        // df = 1 is the Cauchy distribution: P(T ≤ 1) = 1/2 + atan(1)/π = 0.75.
        QVERIFY(std::fabs(studentTCdf(1.0, 1) - 0.75) < 1e-12);
        // Tables: P(T ≤ 2.0) with 5 df = 0.949030260585071; P(T ≤ −1.5) with 3.5 df = 0.108909093507673.
        QVERIFY(std::fabs(studentTCdf(2.0, 5) - 0.949030260585071) < 1e-12);
        QVERIFY(std::fabs(studentTCdf(-1.5, 3.5) - 0.108909093507673) < 1e-12);
        QCOMPARE(studentTCdf(0.0, 10), 0.5);
        QVERIFY(std::isnan(regularizedIncompleteBeta(1, 1, 1.5)));
    }

    void welchKnownValues_data()
    {
        QTest::addColumn<std::vector<double>>("a");
        QTest::addColumn<std::vector<double>>("b");
        QTest::addColumn<double>("t");
        QTest::addColumn<double>("df");
        QTest::addColumn<double>("p");
        // Reference values from the definition evaluated with mpmath (30 digits):
        // t = (m_a − m_b)/√(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df, p = I_{df/(df+t²)}(df/2, 1/2).
        QTest::newRow("five seeds") << std::vector<double>{0.761, 0.758, 0.772, 0.749, 0.765}
                                    << std::vector<double>{0.781, 0.779, 0.790, 0.772, 0.785} << -4.20283678149465
                                    << 7.59507083687951 << 0.00335170100906329;
        QTest::newRow("unequal n") << std::vector<double>{1, 2, 3, 4, 5} << std::vector<double>{2, 4, 6, 8, 10, 12}
                                   << -2.37635410314402 << 6.97225572979493 << 0.0492843382067305;
        QTest::newRow("10 vs 20") << std::vector<double>{19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0}
                                  << std::vector<double>{28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7,
                                                         23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4, 23.9, 13.3}
                                  << -2.22551203996985 << 24.5246349442573 << 0.0354845308300106;
    }
    void welchKnownValues()
    {
        QFETCH(std::vector<double>, a);
        QFETCH(std::vector<double>, b);
        QFETCH(double, t);
        QFETCH(double, df);
        QFETCH(double, p);
        const WelchResult r = welchTTest(summarize(a), summarize(b));
        QVERIFY2(std::fabs(r.t - t) < 1e-9, qPrintable(QString::number(r.t, 'g', 15)));
        QVERIFY2(std::fabs(r.df - df) < 1e-9, qPrintable(QString::number(r.df, 'g', 15)));
        QVERIFY2(std::fabs(r.p - p) < 1e-11, qPrintable(QString::number(r.p, 'g', 15)));
        // Symmetric in the order of the samples.
        QVERIFY(std::fabs(welchTTest(summarize(b), summarize(a)).p - p) < 1e-11);
    }

    void welchEdgeCases()
    {
        QVERIFY(std::isnan(welchTTest(summarize({1.0}), summarize({1.0, 2.0})).p));
        QCOMPARE(welchTTest(summarize({1.0, 1.0}), summarize({1.0, 1.0})).p, 1.0);
        QCOMPARE(welchTTest(summarize({1.0, 1.0}), summarize({2.0, 2.0})).p, 0.0);
    }

    void groupStatistics()
    {
        // Two combinations × three seeds; the third seed of r=8 did not finish.
        std::vector<SweepRunResult> runs;
        auto add = [&](int combo, int r, uint64_t seed, bool finished, double acc, double loss) {
            SweepRunResult x;
            x.combinationIndex = combo;
            x.combination = {{"adapter.r", r}};
            x.seed = seed;
            x.finished = finished;
            x.metrics = {{"mc/accuracy", acc}, {"eval/loss", loss}};
            runs.push_back(x);
        };
        add(0, 4, 1, true, 0.70, 1.30);
        add(1, 8, 1, true, 0.80, 1.10);
        add(0, 4, 2, true, 0.72, 1.20);
        add(1, 8, 2, true, 0.76, 1.20);
        add(0, 4, 3, true, 0.74, 1.25);
        add(1, 8, 3, false, 0.10, 9.0);
        const SweepSummary s = SweepSummary::compute(runs);
        QCOMPARE(int(s.rows.size()), 2);
        QCOMPARE(s.primaryMetric, std::string("mc/accuracy"));
        QCOMPARE(s.metricKeys, (std::vector<std::string>{"mc/accuracy", "eval/loss"}));
        const auto& r4 = s.rows[0].cells.at("mc/accuracy");
        const auto& r8 = s.rows[1].cells.at("mc/accuracy");
        // r=4: mean 0.72, deviations ±0.02 → s² = 0.0008/2 = 0.0004, s = 0.02.
        QCOMPARE(r4.summary.n, 3);
        QVERIFY(std::fabs(r4.summary.mean - 0.72) < 1e-12);
        QVERIFY(std::fabs(r4.summary.std - 0.02) < 1e-12);
        // r=8: finished runs only: {0.80, 0.76}: mean 0.78, s = 0.02·√2 = 0.0282842712.
        QCOMPARE(r8.summary.n, 2);
        QVERIFY(std::fabs(r8.summary.mean - 0.78) < 1e-12);
        QVERIFY(std::fabs(r8.summary.std - 0.02 * std::sqrt(2.0)) < 1e-12);
        QVERIFY(r8.best && !r4.best);
        QCOMPARE(s.rows[1].runs, 3);
        QCOMPARE(s.rows[1].finished, 2);
        // t = 0.06/√(0.0004/3 + 0.0008/2) = 0.06/√(0.000533…) = 2.598076; df = 0.000533…² /
        // ((0.0001333…)²/2 + 0.0004²/1) = 1.6842105; p from the t distribution.
        QVERIFY(std::fabs(r4.vsBest.t - 2.598076211353316) < 1e-9);
        QVERIFY(std::fabs(r4.vsBest.df - 1.684210526315789) < 1e-9);
        const double p = 2 * (1 - studentTCdf(2.598076211353316, 1.684210526315789));
        QVERIFY(std::fabs(r4.vsBest.p - p) < 1e-12);
        QVERIFY(std::isnan(r8.vsBest.p));
        // Loss: lower is better: r=8 (mean 1.15) over r=4 (mean 1.25).
        QVERIFY(s.rows[1].cells.at("eval/loss").best);
        QVERIFY(!s.rows[0].cells.at("eval/loss").best);

        const std::string csv = s.toCsv();
        QVERIFY2(csv.rfind("adapter.r,runs,finished,mc/accuracy mean,mc/accuracy std,mc/accuracy n,mc/accuracy best,"
                           "mc/accuracy p_vs_best,eval/loss mean",
                           0) == 0,
                 csv.c_str());
        QVERIFY2(csv.find("\n8,3,2,0.78,0.02828427125,2,1,,") != std::string::npos, csv.c_str());
        const json j = s.toJson();
        QCOMPARE(j["groups"][1]["metrics"]["mc/accuracy"]["n"].get<int>(), 2);
        QVERIFY(j["groups"][1]["metrics"]["mc/accuracy"]["p_vs_best"].is_null());
        QVERIFY(QString::fromStdString(s.toText()).contains("0.7800 ± 0.0283 (n=2) *"));
    }

    // Runs deleted from the store count in their combination's runs, never in its statistics, and are
    // named in the text and JSON (their points were dropped without a word).
    void missingRunsAreNamed()
    {
        std::vector<SweepRunResult> runs;
        auto add = [&](int combo, int r, uint64_t seed, bool missing, double loss) {
            SweepRunResult x;
            x.combinationIndex = combo;
            x.combination = {{"adapter.r", r}};
            x.seed = seed;
            x.finished = !missing;
            x.missing = missing;
            if (!missing)
                x.metrics = {{"train/loss", loss}};
            runs.push_back(x);
        };
        add(0, 4, 42, false, 1.0);
        add(1, 8, 42, false, 2.0);
        add(0, 4, 43, false, 1.2);
        add(1, 8, 43, true, 0.0);
        const SweepSummary s = SweepSummary::compute(runs);
        QCOMPARE(s.missing, 1);
        QCOMPARE(s.rows[1].runs, 2);
        QCOMPARE(s.rows[1].finished, 1);
        QCOMPARE(s.rows[1].missing, 1);
        QCOMPARE(s.rows[1].missingRuns, std::vector<std::string>{"seed 43"});
        QCOMPARE(s.rows[1].cells.at("train/loss").summary.n, 1);
        QCOMPARE(s.rows[0].missing, 0);
        const QString text = QString::fromStdString(s.toText());
        QVERIFY2(text.contains("1/2, 1 missing") && text.contains("1 run of the sweep is no longer in the store (deleted), "
                                                                   "so the statistics leave out: adapter.r=8 seed 43"),
                 qPrintable(text));
        const json j = s.toJson();
        QCOMPARE(j["missing"].get<int>(), 1);
        QCOMPARE(j["groups"][1]["missing_runs"][0].get<std::string>(), std::string("seed 43"));
    }

    // An x- key (where pipeline files keep their YAML anchors) reached every run's config and was
    // refused as unknown there, blamed on the first combination: it is refused when the file is read,
    // naming the key, the file and its line.
    void anchorKeyIsNamedWithItsLine()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("s.yaml").toStdString();
        std::ofstream(path) << "# shared values\nx-common: &common\n  r: 8\nmodel:\n  path: m\nadapter:\n  <<: *common\n"
                               "sweep:\n  vary:\n    adapter.lora_alpha: [8, 16]\n";
        rslora::Error caught("");
        try {
            readSweepConfigFile(path);
            QFAIL("the x- key was accepted");
        } catch (const rslora::Error& e) {
            caught = e;
        }
        QCOMPARE(QString(caught.what()), QString::fromStdString(path + ":2:1: top-level key 'x-common' is not a config section "
                                                                       "(only pipeline files set x- keys aside for anchors)"));
        QVERIFY2(std::string(caught.hint()).find("<<: *common") != std::string::npos, caught.hint().c_str());
        // The same in a JSON file, and in a training config without a sweep: block (swept with --vary).
        const std::string jsonPath = dir.filePath("s.json").toStdString();
        std::ofstream(jsonPath) << "{\n  \"model\": {\"path\": \"m\", \"note\": \"x-r\"},\n  \"x-r\": 8\n}\n";
        QCOMPARE(errorOf([&] { readSweepConfigFile(jsonPath); }),
                 QString::fromStdString(jsonPath + ":3:3: top-level key 'x-r' is not a config section "
                                                   "(only pipeline files set x- keys aside for anchors)"));
        // A key that only starts like one is a section name as any other (refused later as unknown).
        const std::string plain = dir.filePath("plain.yaml").toStdString();
        std::ofstream(plain) << "model:\n  path: m\nxcommon: 1\nsweep:\n  seeds: 2\n";
        QCOMPARE(readSweepConfigFile(plain).first["xcommon"].get<int>(), 1);
    }

    // Seeds past 2^63 - 1: a YAML file read them as floats (a label said training.seed=1.8446744073709552e+19
    // and the run refused it as no integer), a seeds list refused them, a training.seed there was
    // replaced by 42 and a swept one named seed 42. They are exact integers, as in JSON.
    void seedsPast63BitsAreExact()
    {
        const json y = yamlToJson("a: 18446744073709551615\nb: 9223372036854775808\nc: -9223372036854775809\n"
                                  "d: 18446744073709551616\ne: +18446744073709551615\n", "n.yaml");
        QVERIFY(y["a"].is_number_unsigned());
        QCOMPARE(y["a"].get<uint64_t>(), uint64_t(18446744073709551615ULL));
        QCOMPARE(y["b"].get<uint64_t>(), uint64_t(9223372036854775808ULL));
        QVERIFY(y["c"].is_number_float());
        QVERIFY(y["d"].is_number_float());
        QCOMPARE(y["e"].get<uint64_t>(), uint64_t(18446744073709551615ULL));

        QTemporaryDir dir;
        const std::string path = dir.filePath("s.yaml").toStdString();
        std::ofstream(path) << "model:\n  path: m\ntraining:\n  seed: 18446744073709551614\nsweep:\n  vary:\n"
                               "    adapter.r: [4, 8]\n  seeds: 2\n";
        auto [config, block] = readSweepConfigFile(path);
        const auto points = SweepSpec::fromJson(block).expand(config);
        QCOMPARE(points.size(), size_t(4));
        QCOMPARE(points[0].seed, uint64_t(18446744073709551614ULL));
        QCOMPARE(points[3].seed, uint64_t(18446744073709551615ULL));
        QCOMPARE(points[3].config["training"]["seed"].get<uint64_t>(), uint64_t(18446744073709551615ULL));
        QCOMPARE(TrainConfig::fromJson(points[3].config).seed, uint64_t(18446744073709551615ULL));
        // One seed more would count past 2^64 - 1 (to 0): refused, naming the seed.
        QCOMPARE(errorOf([&] {
                     SweepSpec three = SweepSpec::fromJson(block);
                     three.seeds = 3;
                     three.expand(config);
                 }),
                 QString("training.seed 18446744073709551614 with 3 seeds: the seeds would count past 18446744073709551615 (2^64 - 1)"));

        std::ofstream(path) << "model:\n  path: m\nsweep:\n  vary:\n    training.seed: [18446744073709551615, 7]\n";
        std::tie(config, block) = readSweepConfigFile(path);
        const auto swept = SweepSpec::fromJson(block).expand(config);
        QCOMPARE(swept[0].combinationLabel(), std::string("training.seed=18446744073709551615"));
        QCOMPARE(swept[0].seed, uint64_t(18446744073709551615ULL));
        QCOMPARE(TrainConfig::fromJson(swept[0].config).seed, uint64_t(18446744073709551615ULL));

        for (const bool asJson : {false, true}) {
            const std::string listed = dir.filePath(asJson ? "l.json" : "l.yaml").toStdString();
            std::ofstream(listed) << (asJson ? R"({"model": {"path": "m"}, "sweep": {"seeds": [18446744073709551615, 1]}})"
                                             : "model:\n  path: m\nsweep:\n  seeds: [18446744073709551615, 1]\n");
            const SweepSpec spec = SweepSpec::fromJson(readSweepConfigFile(listed).second);
            QCOMPARE(spec.seedList, (std::vector<uint64_t>{18446744073709551615ULL, 1}));
            QCOMPARE(spec.toJson()["seeds"].dump(), std::string("[18446744073709551615,1]"));
        }
        QCOMPARE(errorOf([] { (void)SweepSpec::fromJson(json::parse(R"({"seeds": [-1]})")); }),
                 QString("sweep.seeds: expected integers from 0 to 18446744073709551615, found -1"));

        // A deleted run is named with its exact seed.
        SweepRunResult gone;
        gone.combination = {{"adapter.r", 8}};
        gone.seed = 18446744073709551615ULL;
        gone.missing = true;
        QVERIFY(QString::fromStdString(SweepSummary::compute({gone}).toText()).contains("adapter.r=8 seed 18446744073709551615"));
    }

    // A key written twice in a JSON sweep file is refused naming the key (nlohmann kept one silently).
    void duplicateJsonKeysAreRefused()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("s.json").toStdString();
        std::ofstream(path) << R"({"model": {"path": "m"}, "sweep": {"seeds": 2, "seeds": 3}})";
        try {
            readSweepConfigFile(path);
            QFAIL("the duplicate key was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(path + ": duplicate key 'seeds'") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(SweepTest)
#include "SweepTest.moc"
