// The Playground against the real engine on the demo model: the columns of one generation (the base,
// a stored version, a weighted mix) stream and finish with the same text as the engine's session gives
// each of them alone; the base model is loaded once for every column and generation; Stop cancels;
// a version whose files changed is refused before anything runs; examples come from a run's data; a
// gate, from a folder or stored as a version, weighs its adapters per prompt.
#include "app/gui/PlaygroundController.h"
#include "app/shared/GateRecorder.h"
#include "app/shared/RunExamples.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/FusionGate.h"
#include "engine/generation/GenerationSession.h"
#include "storage/Store.h"
#include "ui/PlaygroundColumn.h"
#include "ui/PlaygroundView.h"

#include <torch/torch.h>

#include <QComboBox>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QToolButton>
#include <QLabel>
#include <QMenu>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <fstream>

using namespace rslora;
namespace ef = rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

fs::path demoModel()
{
    const char* r = std::getenv("RSLORA_RESOURCES");
    return fs::path(r ? r : "resources") / "demo" / "model";
}

// A random adapter over q_proj and v_proj of the demo model's first two layers (hidden 192, 2 KV heads
// of 32), strong enough to change greedy answers.
void writeDemoAdapter(const fs::path& dir, int seed, double scaleB = 0.5)
{
    torch::manual_seed(seed);
    ef::AdapterFactors a;
    for (int layer = 0; layer < 2; ++layer)
        for (const char* proj : {"q_proj", "v_proj"}) {
            ef::ModuleFactors m;
            m.module = "model.layers." + std::to_string(layer) + ".self_attn." + proj;
            m.A = torch::randn({4, 192}) * 0.2;
            m.B = torch::randn({std::string(proj) == "q_proj" ? 192 : 64, 4}) * scaleB;
            m.scale = 1.0;
            a.modules.push_back(m);
        }
    ef::writeAdapterFactors(a, dir, demoModel().string());
}

qint64 storeVersion(storage::Store& store, const fs::path& dir, const std::string& task)
{
    storage::NewAdapter n;
    n.task = task;
    n.variant = "lora";
    n.stage = "sft";
    n.rank = 4;
    n.path = dir.string();
    n.sha256 = Sha256::directoryHex(n.path);
    n.baseModel = {demoModel().string(), ""};
    return store.adapters().create(n).id;
}

// What the engine gives for one column alone (greedy).
std::string alone(engine::GenerationSession& s, const std::string& prompt, const engine::AdapterMix& mix, int maxTokens)
{
    engine::GenerationRequest r;
    r.promptIds = s.encode(prompt);
    r.adapters = mix;
    r.sampling.maxNewTokens = maxTokens;
    return s.generate(r).text;
}

// Two demo adapters under `root` ("a" alpha, "b" beta) and a gate over them in `root`/gate whose weights
// are softmax(1, 0) whatever the prompt (only the output bias is set).
ef::FusionGate writeFixedGate(const fs::path& root)
{
    writeDemoAdapter(root / "a", 1);
    writeDemoAdapter(root / "b", 2);
    std::vector<ef::GateAdapter> adapters{{"a", "alpha", (root / "a").string(), Sha256::directoryHex((root / "a").string())},
                                          {"b", "beta", (root / "b").string(), Sha256::directoryHex((root / "b").string())}};
    ef::FusionGate gate(adapters, 192, 0, 3);
    gate.setFeatureStats(torch::zeros({192}), torch::ones({192}));
    {
        torch::NoGradGuard ng;
        for (auto& [name, t] : gate.parameters())
            if (t.dim() == 1 && t.size(0) == 2)
                t.copy_(torch::tensor({1.0f, 0.0f}));
    }
    gate.save(root / "gate");
    return gate;
}

std::pair<double, double> fixedGateWeights()
{
    const auto w = torch::softmax(torch::tensor({1.0f, 0.0f}), 0).to(torch::kDouble);
    return {w[0].item<double>(), w[1].item<double>()};
}

// Generates `prompt` in every column and waits: the error shown, empty when it ran.
QString generateAndWait(ui::PlaygroundView& view, app::PlaygroundController& controller, const std::string& prompt, int maxTokens)
{
    view.input()->setPlainText(QString::fromStdString(prompt));
    view.maxTokensBox()->setValue(maxTokens);
    if (!view.generate())
        return "not started: " + view.problem();
    controller.waitForFinished();
    QCoreApplication::processEvents();
    return view.errorLabel()->isHidden() ? QString() : view.errorLabel()->text();
}

// The engine's own answer with the fixed gate's weights over the adapters under `root`, and with none.
std::pair<std::string, std::string> fixedGateAnswers(const fs::path& root, const std::string& prompt, int maxTokens)
{
    const auto [wa, wb] = fixedGateWeights();
    engine::GenerationSession reference(demoModel());
    reference.loadAdapter("a", root / "a");
    reference.loadAdapter("b", root / "b");
    return {alone(reference, prompt, {{"a", wa}, {"b", wb}}, maxTokens), alone(reference, prompt, {}, maxTokens)};
}

} // namespace

class PlaygroundFlowTest : public QObject {
    Q_OBJECT

private slots:
    void columnsEqualTheEngineAloneAndShareTheBase()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        writeDemoAdapter(root / "a", 1);
        writeDemoAdapter(root / "b", 2);
        const qint64 va = storeVersion(store, root / "a", "alpha");
        const qint64 vb = storeVersion(store, root / "b", "beta");

        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        QCOMPARE(view.modelPath(), QString::fromStdString(demoModel().string())); // the versions' base
        view.setColumnCount(3);
        view.column(1)->setAdapters({{va, "alpha@v1", 1.0}});
        view.column(2)->setAdapters({{va, "alpha@v1", 0.5}, {vb, "beta@v1", 0.5}});
        QCOMPARE(view.column(2)->adapters().size(), 2);
        const std::string prompt = "What is the sound of a pig?";
        view.input()->setPlainText(QString::fromStdString(prompt));
        view.maxTokensBox()->setValue(24);
        QSignalSpy done(&view, &ui::PlaygroundView::generateRequested);
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY2(!view.running(), qPrintable(view.errorLabel()->text()));
        QVERIFY2(view.errorLabel()->isHidden(), qPrintable(view.errorLabel()->text()));

        engine::GenerationSession reference(demoModel());
        reference.loadAdapter("a", root / "a");
        reference.loadAdapter("b", root / "b");
        const std::string base = alone(reference, prompt, {}, 24);
        const std::string withA = alone(reference, prompt, {{"a", 1.0}}, 24);
        const std::string mixed = alone(reference, prompt, {{"a", 0.5}, {"b", 0.5}}, 24);
        QCOMPARE(view.column(0)->answer(), QString::fromStdString(base));
        QCOMPARE(view.column(1)->answer(), QString::fromStdString(withA));
        QCOMPARE(view.column(2)->answer(), QString::fromStdString(mixed));
        QVERIFY2(base != withA, "the adapter changes the answer (else the comparison proves nothing)");
        for (int c = 0; c < 3; ++c) {
            QVERIFY(view.column(c)->result().tokens > 0);
            QVERIFY(view.column(c)->result().seconds > 0);
            QVERIFY2(view.column(c)->status()->text().contains("tok/s"), qPrintable(view.column(c)->status()->text()));
        }
        QVERIFY(view.column(0)->divergence() >= 0);
        QCOMPARE(view.historySize(), 1);

        // A second generation reuses the loaded base and adapters.
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QCOMPARE(view.column(1)->answer(), QString::fromStdString(withA));
        QCOMPARE(controller.modelLoads(), 1);
        QCOMPARE(view.historySize(), 2);
    }

    void stopCancelsEveryColumn()
    {
        QTemporaryDir tmp;
        storage::Store store(tmp.filePath("store.db").toStdString());
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        view.setModelPath(QString::fromStdString(demoModel().string()));
        QString prompt;
        for (int i = 0; i < 24; ++i)
            prompt += "What is the sound of a pig? ";
        view.input()->setPlainText(prompt);
        view.maxTokensBox()->setValue(16);
        QVERIFY(view.generate());
        controller.stop();
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY(!view.running());
        // Stopped before its long prompt was read: a clean stop, ready to generate again.
        QVERIFY(view.generateButton()->isEnabled());
        QVERIFY(!view.stopButton()->isEnabled());
        QVERIFY(view.errorLabel()->isHidden());
        QVERIFY2(view.summaryLabel()->text() == "No column wrote any text.", qPrintable(view.summaryLabel()->text()));
        for (int c = 0; c < 2; ++c) {
            QCOMPARE(view.column(c)->result().tokens, 0);
            QCOMPARE(view.column(c)->result().finishReason, QString("cancelled"));
            QCOMPARE(view.column(c)->status()->text(), QString("no tokens · cancelled"));
            QVERIFY(!view.column(c)->copyButton()->isEnabled());
        }
        view.maxTokensBox()->setValue(4);
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY(view.column(0)->result().tokens > 0);
    }

    void refusesChangedVersionsAndMissingModels()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        writeDemoAdapter(root / "a", 1);
        const qint64 va = storeVersion(store, root / "a", "alpha");
        std::ofstream(root / "a" / "adapter_config.json", std::ios::app) << " ";
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        view.column(1)->setAdapters({{va, "alpha@v1", 1.0}});
        view.input()->setPlainText("Hi");
        view.generate();
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY(!view.running());
        QVERIFY2(view.errorLabel()->text().contains("alpha"), qPrintable(view.errorLabel()->text()));

        view.column(1)->setAdapters({});
        view.setModelPath(tmp.filePath("no-such-model"));
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY(!view.running());
        QVERIFY2(view.errorLabel()->text().contains("no-such-model"), qPrintable(view.errorLabel()->text()));
    }

    // A mistyped model folder fails alone: the model loaded before stays loaded (the next answer from it
    // needs no second load), and a later run from the right new folder replaces it.
    void aMistypedModelFolderKeepsTheLoadedModel()
    {
        QTemporaryDir tmp;
        storage::Store store((fs::path(tmp.path().toStdString()) / "store.db").string());
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        view.setModelPath(QString::fromStdString(demoModel().string()));
        view.input()->setPlainText("Hi");
        auto run = [&] {
            QVERIFY(view.generate());
            controller.waitForFinished();
            QCoreApplication::processEvents();
            QVERIFY(!view.running());
        };
        run();
        QVERIFY2(view.errorLabel()->isHidden(), qPrintable(view.errorLabel()->text()));
        QCOMPARE(controller.modelLoads(), 1);

        view.setModelPath(tmp.filePath("typo-model"));
        run();
        QVERIFY2(view.errorLabel()->text().contains("typo-model"), qPrintable(view.errorLabel()->text()));
        QCOMPARE(controller.loadedModel(), QString::fromStdString(demoModel().string()));

        view.setModelPath(QString::fromStdString(demoModel().string()));
        run();
        QVERIFY2(view.errorLabel()->isHidden(), qPrintable(view.errorLabel()->text()));
        QCOMPARE(controller.modelLoads(), 1); // the demo model was kept, not read again

        const fs::path copy = fs::path(tmp.path().toStdString()) / "copy";
        fs::copy(demoModel(), copy, fs::copy_options::recursive);
        view.setModelPath(QString::fromStdString(copy.string()));
        run();
        QVERIFY2(view.errorLabel()->isHidden(), qPrintable(view.errorLabel()->text()));
        QCOMPARE(controller.modelLoads(), 2);
        QCOMPARE(controller.loadedModel(), QString::fromStdString(copy.string()));
    }

    // A prompt (or chat) as long as the model's context is refused before the model runs, naming the
    // column, the token count and the context length; a shorter one still runs.
    void refusesPromptsThatFillTheContext()
    {
        QTemporaryDir tmp;
        storage::Store store(tmp.filePath("store.db").toStdString());
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        view.setModelPath(QString::fromStdString(demoModel().string()));
        QString longPrompt;
        for (int i = 0; i < 400; ++i)
            longPrompt += "What is the sound of a pig? ";
        QElapsedTimer timer;
        timer.start();
        QString error = generateAndWait(view, controller, longPrompt.toStdString(), 4);
        QVERIFY2(error.contains("column 1: the prompt is") && error.contains("context of 256 tokens") &&
                     error.contains("max_position_embeddings"),
                 qPrintable(error));
        QVERIFY(!view.running());
        QVERIFY2(timer.elapsed() < 20000, qPrintable(QString::number(timer.elapsed())));
        view.setChatMode(true);
        error = generateAndWait(view, controller, longPrompt.toStdString(), 4);
        QVERIFY2(error.contains("column 1: the conversation is"), qPrintable(error));
        QVERIFY(view.column(0)->conversation().isEmpty()); // the refused turn is not kept
        view.setChatMode(false);
        error = generateAndWait(view, controller, "What is the sound of a pig?", 4);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(view.column(0)->result().tokens > 0);

        // A prompt that fits, but not with its max new tokens: refused naming both and the context
        // (it ran past the context before), and the largest max new tokens that fits runs.
        QString fitting;
        for (int i = 0; i < 20; ++i)
            fitting += "What is the sound of a pig? ";
        const int promptTokens = static_cast<int>(engine::GenerationSession(demoModel()).encode(fitting.toStdString()).size());
        QVERIFY2(promptTokens > 100 && promptTokens < 250, qPrintable(QString::number(promptTokens)));
        const int room = 256 - promptTokens;
        error = generateAndWait(view, controller, fitting.toStdString(), room + 1);
        QVERIFY2(error.contains(QString("column 1: the prompt is %1 tokens and max new tokens is %2: 257 in all, more than "
                                        "the model's context of 256 tokens")
                                    .arg(promptTokens)
                                    .arg(room + 1)) &&
                     error.contains(QString("lower max new tokens to %1 or less").arg(room)),
                 qPrintable(error));
        QVERIFY(!view.running());
        QVERIFY(view.generateButton()->isEnabled());
        error = generateAndWait(view, controller, fitting.toStdString(), room);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(view.column(0)->result().tokens > 0);
        QVERIFY(view.column(0)->result().tokens <= room);
    }

    // A column whose adapter makes the model's output overflow fails alone, its error naming the token
    // position; the other column answers as it does alone (every column failed before).
    void oneColumnsOverflowFailsThatColumnAlone()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        writeDemoAdapter(root / "poison", 7, 1e38);
        const qint64 poison = storeVersion(store, root / "poison", "poison");
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        view.column(1)->setAdapters({{poison, "poison@v1", 1.0}});
        const std::string prompt = "What is the sound of a pig?";
        const QString error = generateAndWait(view, controller, prompt, 8);
        QVERIFY(!view.running());
        QVERIFY2(error.startsWith("Column 2 failed: new token 1 (token position "),
                 qPrintable(error + " | " + view.column(1)->answer() + " | " + view.column(1)->status()->text()));
        QVERIFY2(view.column(1)->status()->text().startsWith("Failed: new token 1"), qPrintable(view.column(1)->status()->text()));
        QVERIFY(view.column(1)->result().error.contains("hold"));
        QVERIFY(!view.column(1)->copyButton()->isEnabled());
        engine::GenerationSession reference(demoModel());
        QCOMPARE(view.column(0)->answer(), QString::fromStdString(alone(reference, prompt, {}, 8)));
        QVERIFY(view.column(0)->copyButton()->isEnabled());
    }

    // A gate column: the gate's adapters weighted by the gate for the prompt; the answer equals the
    // engine's for that weighted mix, the weights are shown and copied; a folder that is no gate is
    // refused when chosen, and a gate whose adapter changed fails naming the adapter.
    void gateColumnWeighsItsAdaptersPerPrompt()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        writeFixedGate(root);
        const auto [wa, wb] = fixedGateWeights();

        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        view.setModelPath(QString::fromStdString(demoModel().string()));
        view.setColumnCount(2);
        QString error;
        QVERIFY(!view.column(1)->setGate(tmp.path(), &error));
        QVERIFY2(error.contains("gate.json"), qPrintable(error));
        QVERIFY(view.column(1)->gatePath().isEmpty());
        QVERIFY2(view.column(1)->setGate(QString::fromStdString((root / "gate").string()), &error), qPrintable(error));
        QVERIFY(view.column(1)->gateButton()->isHidden());
        QVERIFY(view.column(1)->findChild<QLabel*>("gateLabel")->text().contains("alpha, beta"));
        const std::string prompt = "What is the sound of a pig?";
        const QString shown = generateAndWait(view, controller, prompt, 24);
        QVERIFY2(shown.isEmpty(), qPrintable(shown));
        const auto [gated, base] = fixedGateAnswers(root, prompt, 24);
        QCOMPARE(view.column(1)->answer(), QString::fromStdString(gated));
        QVERIFY2(gated != base, "the gate's mix changes the answer");
        const auto& weights = view.column(1)->result().gateWeights;
        QCOMPARE(weights.size(), 2);
        QCOMPARE(weights[0].first, QString("alpha"));
        QVERIFY(std::abs(weights[0].second - 0.7310585786) < 1e-6);
        QVERIFY2(view.column(1)->status()->text().contains("gate weights: alpha 0.731, beta 0.269"),
                 qPrintable(view.column(1)->status()->text()));
        const QJsonObject json = view.column(1)->toJson(view.request());
        QCOMPARE(json["gate"].toObject()["weights"].toObject()["beta"].toDouble(), wb);

        // The gate's adapter changes after it was trained: refused, naming it.
        std::ofstream(root / "b" / "adapter_config.json", std::ios::app) << " ";
        ui::PlaygroundView fresh;
        app::PlaygroundController other(&store, &fresh);
        fresh.setModelPath(QString::fromStdString(demoModel().string()));
        QVERIFY(fresh.column(0)->setGate(QString::fromStdString((root / "gate").string())));
        fresh.input()->setPlainText("Hi");
        QVERIFY(fresh.generate());
        other.waitForFinished();
        QCoreApplication::processEvents();
        QVERIFY2(fresh.errorLabel()->text().contains("beta") && fresh.errorLabel()->text().contains("changed"),
                 qPrintable(fresh.errorLabel()->text()));
    }

    // A gate stored as a version (stage "gate") is offered by the column's "Use a gate" menu, not among
    // the adapter versions; chosen there it answers as its folder does, labelled by its reference, and
    // a stored gate whose files changed is refused before anything runs.
    void storedGateFromTheMenu()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        const ef::FusionGate gate = writeFixedGate(root);
        app::GateRegistration reg;
        reg.task = "router";
        const storage::AdapterRecord stored = app::registerGate(store, root / "gate", gate, {}, demoModel(), reg);
        QCOMPARE(stored.stage, std::string("gate"));
        storeVersion(store, root / "a", "alpha");

        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        QCOMPARE(view.modelPath(), QString::fromStdString(demoModel().string()));
        view.setColumnCount(2);
        auto* versions = view.column(1)->findChild<QComboBox*>();
        QVERIFY(versions);
        QCOMPARE(versions->count(), 2); // the base and alpha@v1: the gate is no adapter
        QVERIFY(versions->findText("router", Qt::MatchContains) < 0);
        QMenu* menu = view.column(1)->gateButton()->menu();
        QVERIFY(menu);
        QAction* pick = nullptr;
        for (QAction* a : menu->actions())
            if (a->text().startsWith("router@v1"))
                pick = a;
        QVERIFY2(pick, "the stored gate is in the menu");
        pick->trigger();
        QCOMPARE(view.column(1)->gateVersionId(), stored.id);
        QVERIFY2(view.column(1)->findChild<QLabel*>("gateLabel")->text().contains("router@v1"),
                 qPrintable(view.column(1)->findChild<QLabel*>("gateLabel")->text()));
        QCOMPARE(view.column(1)->adaptersLabel(), QString("gate router@v1"));

        const std::string prompt = "What is the sound of a pig?";
        const QString shown = generateAndWait(view, controller, prompt, 16);
        QVERIFY2(shown.isEmpty(), qPrintable(shown));
        QCOMPARE(view.column(1)->answer(), QString::fromStdString(fixedGateAnswers(root, prompt, 16).first));
        QCOMPARE(view.column(1)->toJson(view.request())["gate"].toObject()["version"].toString(), QString("router@v1"));

        // The stored copy changes: refused, naming the version's files.
        std::ofstream(fs::path(stored.path) / "gate.json", std::ios::app) << " ";
        const QString refused = generateAndWait(view, controller, "Hi", 4);
        QVERIFY2(refused.contains("changed"), qPrintable(refused));
    }

    void examplesFromRunData()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        std::ofstream(root / "val.jsonl")
            << R"({"text": "plain text has no answer"})" "\n"
            << R"({"instruction": "What is 6 plus 1?", "output": "6 plus 1 is 7."})" "\n"
            << R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},)"
               R"( {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]})" "\n"
            << R"({"prompt": "Say yes", "chosen": "Yes.", "rejected": "No."})" "\n";
        auto e = app::RunExamples::at(root / "val.jsonl", 0);
        QCOMPARE(e.promptText, std::string("What is 6 plus 1?"));
        QCOMPARE(e.reference, std::string("6 plus 1 is 7."));
        QCOMPARE(e.index, std::size_t(1));
        e = app::RunExamples::at(root / "val.jsonl", 2);
        QCOMPARE(e.promptText, std::string("Bye"));
        QCOMPARE(e.reference, std::string("Goodbye."));
        QCOMPARE(e.turns.size(), std::size_t(4));
        QCOMPARE(e.turns[0].first, std::string("system"));
        e = app::RunExamples::at(root / "val.jsonl", 3);
        QCOMPARE(e.promptText, std::string("Say yes"));
        QCOMPARE(e.reference, std::string("Yes."));
        e = app::RunExamples::at(root / "val.jsonl", 4); // wraps around, skipping the plain text
        QCOMPARE(e.index, std::size_t(1));
        std::ofstream(root / "text.jsonl") << R"({"text": "a"})" "\n";
        try {
            (void)app::RunExamples::at(root / "text.jsonl", 0);
            QFAIL("a file without conversations gave an example");
        } catch (const Error& err) {
            QVERIFY2(QString(err.what()).contains("has no record to use as an example"), err.what());
        }
        bool validation = false;
        QCOMPARE(app::RunExamples::sourceOf(R"({"data": {"train": "t.jsonl", "validation": "v.jsonl"}})", &validation),
                 fs::path("v.jsonl"));
        QVERIFY(validation);
        QCOMPARE(app::RunExamples::sourceOf(R"({"data": {"train": "t.jsonl", "validation": ""}})", &validation), fs::path("t.jsonl"));
        QVERIFY(!validation);
    }

    // Stop twice in a row in Chat, each before the first token: the message stays in the box, the
    // conversations stay empty and nothing joins the history; the message then runs whole.
    void chatStoppedTwiceKeepsTheMessage()
    {
        QTemporaryDir tmp;
        storage::Store store(tmp.filePath("store.db").toStdString());
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        view.setModelPath(QString::fromStdString(demoModel().string()));
        view.setChatMode(true);
        QString message;
        for (int i = 0; i < 12; ++i)
            message += "What is the sound of a pig? ";
        view.maxTokensBox()->setValue(8);
        for (int round = 0; round < 2; ++round) {
            view.input()->setPlainText(message);
            QVERIFY(view.generate());
            view.stop();
            view.stop();
            controller.waitForFinished();
            QCoreApplication::processEvents();
            QVERIFY(!view.running());
            QVERIFY(view.errorLabel()->isHidden());
            QCOMPARE(view.input()->toPlainText(), message);
            QCOMPARE(view.historySize(), 0);
            for (int c = 0; c < 2; ++c)
                QVERIFY(view.column(c)->conversation().isEmpty());
        }
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QCOMPARE(view.historySize(), 1);
        QVERIFY(view.input()->toPlainText().isEmpty());
        QCOMPARE(view.column(0)->conversation().size(), 2);
        QCOMPARE(view.column(0)->conversation()[0].content, message);
        QVERIFY(view.column(0)->result().tokens > 0);
    }

    // Another version picked while a column generates: the answer is the one of the version it began
    // with (as are its Copy JSON and history entry); the next generation uses the new choice.
    void switchingVersionsWhileGeneratingAppliesNextTime()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        storage::Store store((root / "store.db").string());
        writeDemoAdapter(root / "a", 1);
        writeDemoAdapter(root / "b", 2);
        const qint64 va = storeVersion(store, root / "a", "alpha");
        const qint64 vb = storeVersion(store, root / "b", "beta");
        ui::PlaygroundView view;
        app::PlaygroundController controller(&store, &view);
        controller.refresh();
        view.column(1)->setAdapters({{va, "alpha@v1", 1.0}});
        const std::string prompt = "What is the sound of a pig?";
        view.input()->setPlainText(QString::fromStdString(prompt));
        view.maxTokensBox()->setValue(16);
        QVERIFY(view.generate());
        view.column(1)->setAdapters({{vb, "beta@v1", 1.0}});
        controller.waitForFinished();
        QCoreApplication::processEvents();
        engine::GenerationSession reference(demoModel());
        reference.loadAdapter("a", root / "a");
        reference.loadAdapter("b", root / "b");
        const QString withA = QString::fromStdString(alone(reference, prompt, {{"a", 1.0}}, 16));
        const QString withB = QString::fromStdString(alone(reference, prompt, {{"b", 1.0}}, 16));
        QVERIFY2(withA != withB, "the adapters answer differently (else the test proves nothing)");
        QCOMPARE(view.column(1)->answer(), withA);
        QCOMPARE(view.column(1)->toJson(view.request())["adapters"].toArray()[0].toObject()["version"].toString(), QString("alpha@v1"));
        QCOMPARE(view.column(1)->adapters()[0].versionId, vb); // the choice stays for next time
        QVERIFY(view.generate());
        controller.waitForFinished();
        QCoreApplication::processEvents();
        QCOMPARE(view.column(1)->answer(), withB);
        view.restoreHistory(0);
        QCOMPARE(view.column(1)->adapters()[0].versionId, va);
        QCOMPARE(view.column(1)->answer(), withA);
    }

    // The window closed while the columns generate: the view goes first (or the controller does),
    // the generation stops at its next token and nothing touches what is gone.
    void closingWhileGenerating()
    {
        QTemporaryDir tmp;
        storage::Store store(tmp.filePath("store.db").toStdString());
        for (bool viewFirst : {true, false}) {
            auto* view = new ui::PlaygroundView;
            auto* controller = new app::PlaygroundController(&store, view);
            view->setModelPath(QString::fromStdString(demoModel().string()));
            view->input()->setPlainText("Once");
            view->maxTokensBox()->setValue(200);
            QVERIFY(view->generate());
            QTRY_VERIFY_WITH_TIMEOUT(view->column(0)->result().tokens > 0 || !view->running(), 30000);
            QElapsedTimer timer;
            timer.start();
            if (viewFirst) {
                delete view;
                delete controller;
            } else {
                delete controller;
                QVERIFY(!view->running()); // it got what was generated until the stop
                QVERIFY(!view->column(0)->result().finishReason.isEmpty());
                delete view;
            }
            QVERIFY2(timer.elapsed() < 10000, qPrintable(QString::number(timer.elapsed())));
        }
    }
};

QTEST_MAIN(PlaygroundFlowTest)
#include "PlaygroundFlowTest.moc"
