// Evaluation: loss matches transformers on the shared fixture, multiple-choice and exact-match
// files parse (JSONL and MMLU CSV) with specific errors, adapter diagnostics report σ/√r.
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <fstream>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

class EvaluatorTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void lossMatchesTransformers()
    {
        const char* shared = std::getenv("RSLORA_SHARED_DIR");
        if (!shared || !fs::exists(fs::path(shared) / "fixtures/llama"))
            QSKIP("RSLORA_SHARED_DIR/fixtures/llama not found");
        const fs::path fx = fs::path(shared) / "fixtures";
        auto model = models::loadCausalLM(fx / "llama");
        auto ref = models::loadSafeTensorsMap(fx / "reference" / "llama.safetensors");
        const auto ids = ref.at("input_ids");
        std::vector<TrainExample> ex;
        for (int r = 0; r < 2; ++r) {
            TrainExample e;
            for (int t = 0; t < 12; ++t)
                e.ids.push_back(ids[r][t].item<int64_t>());
            e.labels = e.ids;
            ex.push_back(e);
        }
        const EvalStats s = evaluateLoss(*model, ex, 2, 64, 5); // chunks of 5 tokens
        QVERIFY2(std::abs(s.loss - 5.9971786) < 1e-5, qPrintable(QString::number(s.loss, 'g', 10)));
        QCOMPARE(s.tokens, int64_t(22));
        QVERIFY(std::abs(s.perplexity - std::exp(s.loss)) < 1e-9);
    }

    void choiceFilesParse()
    {
        QTemporaryDir tmp;
        const std::string csv = tmp.filePath("mmlu.csv").toStdString();
        std::ofstream(csv) << "\"What is 2+2, really?\",3,4,5,6,B\nCapital of France,Rome,Paris,\"Berlin, Germany\",Madrid,B\n";
        const auto items = loadChoiceItems(csv);
        QCOMPARE(items.size(), size_t(2));
        QCOMPARE(items[0].question, std::string("What is 2+2, really?"));
        QCOMPARE(items[1].choices[2], std::string("Berlin, Germany"));
        QCOMPARE(items[1].answer, 1);
        const std::string jl = tmp.filePath("mc.jsonl").toStdString();
        std::ofstream(jl) << "{\"question\": \"q\", \"choices\": [\"a\", \"b\", \"c\"], \"answer\": 2}\n"
                             "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"D\"}\n";
        bool named = false;
        try {
            loadChoiceItems(jl);
        } catch (const Error& e) {
            named = std::string(e.what()).find("mc.jsonl:2") != std::string::npos;
        }
        QVERIFY(named);
        const std::string em = tmp.filePath("em.jsonl").toStdString();
        std::ofstream(em) << "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\n\n{\"input\": \"x\", \"output\": \"y\"}\n";
        const auto emItems = loadExactMatchItems(em);
        QCOMPARE(emItems.size(), size_t(2));
        QCOMPARE(emItems[1].reference, std::string("y"));
    }

    void diagnosticsReportRescaledStd()
    {
        models::ModelConfig c;
        c.vocabSize = 32;
        c.hiddenSize = 512;
        c.intermediateSize = 64;
        c.numLayers = 1;
        c.numHeads = 4;
        c.numKvHeads = 4;
        c.headDim = 128;
        auto model = models::createCausalLM(c, 3);
        AdapterSet set(*model);
        AdapterConfig a;
        a.targetModules = {"q_proj"};
        a.rank = 8;
        a.init = InitMode::Rescaled;
        a.initSigma = 0.02;
        set.addAdapter(a, 1);
        const auto d = adapterDiagnostics(set, "default", torch::zeros({16}, torch::kLong));
        QCOMPARE(d.size(), size_t(1));
        QVERIFY(std::abs(d[0].expectedStdA - 0.02 / std::sqrt(8.0)) < 1e-12);
        QVERIFY2(std::abs(d[0].stdA - d[0].expectedStdA) < 0.05 * d[0].expectedStdA, qPrintable(QString::number(d[0].stdA)));
        QCOMPARE(d[0].outputStdAdapted, d[0].outputStdBase); // B = 0: the output is unchanged at init
    }
};

QTEST_GUILESS_MAIN(EvaluatorTest)
#include "EvaluatorTest.moc"
