// UI benchmarks (not tests): replot time of a 1,000,000-point curve, event-loop stalls on the UI
// thread while a run trains, and time from process start to the main window on screen.
// Usage: rslora-ui-bench [--train-seconds N] [--startup-runs N]
#include "common/ProcessEnvironment.h"
#include "app/gui/RunController.h"
#include "app/gui/Workbench.h"

#include "ui/ChartsPanel.h"
#include "ui/CurvePlot.h"
#include "ui/MainWindow.h"
#include "ui/TrainingPanel.h"

#include "models/ModelConfig.h"
#include "models/ModelLoader.h"

#include <QApplication>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QProgressBar>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

using namespace rslora;

namespace {

double percentile(std::vector<double> v, double q) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * (v.size() - 1))];
}

void benchReplotSmall() {
    ui::CurvePlot plot("Loss", "loss");
    plot.resize(900, 500);
    plot.show();
    QVector<ui::CurvePoint> pts;
    for (int i = 0; i < 1000; ++i) {
        ui::CurvePoint p;
        p.step = i;
        p.value = 1.0 / (1 + i);
        pts.push_back(p);
    }
    plot.addPoints("train", pts);
    plot.replot();
    std::vector<double> live;
    for (int k = 0; k < 30; ++k) {
        ui::CurvePoint p;
        p.step = 1000 + k;
        p.value = 0.001;
        plot.addPoints("train", {p});
        plot.replot();
        live.push_back(plot.lastReplotMs());
    }
    std::printf("replot, 1,000-point curve (baseline, 900x500): median %.2f ms\n", percentile(live, 0.5));
}

void benchReplot() {
    ui::CurvePlot plot("Loss", "loss");
    plot.resize(900, 500);
    plot.show();
    QVector<ui::CurvePoint> pts;
    pts.reserve(1000000);
    std::mt19937 rng(1);
    std::normal_distribution<double> noise(0, 0.05);
    for (int i = 0; i < 1000000; ++i) {
        ui::CurvePoint p;
        p.step = i;
        p.value = 2.0 * std::exp(-i / 200000.0) + 0.5 + noise(rng);
        pts.push_back(p);
    }
    plot.addPoints("train", pts);
    plot.replot();
    const double first = plot.lastReplotMs();
    std::vector<double> full, live;
    for (int k = 0; k < 20; ++k) {
        plot.setSmoothing(k % 2 ? 0.6 : 0.0); // forces every graph to be rebuilt and redrawn
        plot.replot();
        full.push_back(plot.lastReplotMs());
    }
    for (int k = 0; k < 50; ++k) {
        ui::CurvePoint p;
        p.step = 1000000 + k;
        p.value = 0.5;
        plot.addPoints("train", {p});
        plot.replot();
        live.push_back(plot.lastReplotMs());
    }
    std::printf("replot, 1,000,000-point curve (900x500):\n  first draw (hand points to the graph + draw): %.1f ms\n"
                "  full rebuild + redraw: median %.1f ms, max %.1f ms\n  live append of 1 point + replot: median %.2f ms, p99 %.2f ms\n",
                first, percentile(full, 0.5), percentile(full, 1.0), percentile(live, 0.5), percentile(live, 0.99));
}

void benchStalls(int seconds) {
    QTemporaryDir dir;
    qputenv("RSLORA_HOME", dir.filePath("home").toUtf8());
    qputenv("RSLORA_NO_DIALOGS", "1");
    // A ~20M-parameter Llama keeps the training thread busy; pre-tokenized data needs no tokenizer.
    models::ModelConfig c = models::ModelConfig::fromJson(
        {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 384}, {"intermediate_size", 1024},
         {"num_hidden_layers", 8}, {"num_attention_heads", 6}, {"num_key_value_heads", 2}, {"vocab_size", 4096},
         {"rms_norm_eps", 1e-5}, {"max_position_embeddings", 512}},
        "bench config");
    const QString model = dir.filePath("model");
    models::createCausalLM(c, 1)->saveModelFolder(model.toStdString());
    const QString data = dir.filePath("data.jsonl");
    QFile f(data);
    f.open(QIODevice::WriteOnly);
    std::mt19937 rng(2);
    for (int i = 0; i < 512; ++i) {
        nlohmann::json ids = nlohmann::json::array();
        for (int t = 0; t < 128; ++t)
            ids.push_back(static_cast<int>(rng() % 4096));
        f.write(QByteArray::fromStdString(nlohmann::json{{"input_ids", ids}}.dump() + "\n"));
    }
    f.close();

    app::Workbench wb(dir.filePath("bench.sqlite"));
    wb.window()->resize(1366, 768);
    wb.window()->show();
    engine::TrainConfig config;
    config.modelPath = model.toStdString();
    config.trainData = data.toStdString();
    config.maxSeqLen = 128;
    config.batchSize = 4;
    config.maxSteps = 100000;
    config.logEvery = 1;
    config.adapter.rank = 16;
    config.adapter.targetModules = engine::llamaProjectionNames();
    config.adapter.balancing.enabled = true;
    wb.controller()->enqueue(config, "ui-bench");
    // Wait until steps arrive, then measure how late a 5 ms timer fires on the UI thread.
    QElapsedTimer wait;
    wait.start();
    while (wb.training()->progress()->value() < 2 && wait.elapsed() < 120000)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    std::vector<double> lateness;
    QElapsedTimer clock;
    clock.start();
    qint64 expected = clock.nsecsElapsed() + 5'000'000;
    QTimer tick;
    tick.setTimerType(Qt::PreciseTimer);
    tick.setInterval(5);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        lateness.push_back(std::max<qint64>(0, now - expected) / 1e6);
        expected = now + 5'000'000;
    });
    tick.start();
    std::vector<double> replots;
    QTimer sample;
    QObject::connect(&sample, &QTimer::timeout, [&] { replots.push_back(wb.training()->charts()->lastTickMs()); });
    sample.start(40);
    QEventLoop loop;
    QTimer::singleShot(seconds * 1000, &loop, &QEventLoop::quit);
    loop.exec();
    tick.stop();
    const int steps = wb.training()->progress()->value();
    wb.controller()->shutdown(false);
    std::printf("UI thread while training (%d s, %d steps, 56 adapted modules, charts replotting at 25 Hz):\n"
                "  5 ms timer lateness: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu samples)\n"
                "  chart replot per tick: p50 %.2f ms, p99 %.2f ms\n",
                seconds, steps, percentile(lateness, 0.5), percentile(lateness, 0.99), percentile(lateness, 1.0), lateness.size(),
                percentile(replots, 0.5), percentile(replots, 0.99));
}

void benchStartup(int runs) {
    const QString exe = QCoreApplication::applicationDirPath() + "/../app/gui/rslora-workbench";
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        QTemporaryDir home;
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove("OMP_WAIT_POLICY"); // include the executable's own re-exec
        env.insert("RSLORA_HOME", home.path());
        p.setProcessEnvironment(env);
        p.start(exe, {"--report-startup"});
        p.waitForFinished(60000);
        const QString out = QString::fromUtf8(p.readAllStandardOutput()).trimmed();
        bool ok = false;
        double v = out.section(' ', -2, -2).toDouble(&ok);
        if (ok)
            ms.push_back(v);
        else
            std::printf("  startup run %d: unexpected output '%s' %s\n", i, qPrintable(out), qPrintable(QString::fromUtf8(p.readAllStandardError())));
    }
    std::printf("process start to main window exposed (%d runs, fresh data folder): median %.0f ms, max %.0f ms\n", runs,
                percentile(ms, 0.5), percentile(ms, 1.0));
}

} // namespace

int main(int argc, char** argv) {
    rslora::ensureProcessEnvironment(argv); // passive OpenMP waits, as the rslora executables run
    QApplication app(argc, argv);
    int trainSeconds = 20, startupRuns = 5;
    for (int i = 1; i + 1 < argc; ++i) {
        if (QString(argv[i]) == "--train-seconds")
            trainSeconds = std::atoi(argv[i + 1]);
        if (QString(argv[i]) == "--startup-runs")
            startupRuns = std::atoi(argv[i + 1]);
    }
    benchReplotSmall();
    benchReplot();
    if (trainSeconds <= 0)
        return 0;
    benchStartup(startupRuns);
    benchStalls(trainSeconds);
    return 0;
}
