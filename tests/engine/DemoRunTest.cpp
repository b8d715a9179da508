// A short run of the default demo config (fewer steps than `rslora demo`) raises held-out exact
// match well above the base model's. Slow: it trains.
#include "engine/demo/DemoRun.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

class DemoRunTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void shortRunImprovesExactMatch()
    {
        const char* res = std::getenv("RSLORA_RESOURCES");
        QVERIFY2(res, "RSLORA_RESOURCES is not set");
        QTemporaryDir tmp;
        TrainConfig c = loadDemoConfig(res);
        c.maxSteps = std::max(20, c.maxSteps * 3 / 4);
        c.outputDir = (fs::path(tmp.path().toStdString()) / "run").string();
        const DemoOutcome out = runDemo(c);
        QCOMPARE(int(out.train.status), int(TrainStatus::Completed));
        QVERIFY(fs::exists(fs::path(out.train.adapterDir) / "adapter_config.json"));
        qInfo("exact match %.3f -> %.3f on %lld held-out questions, %lld steps in %.1f s", out.before.accuracy(),
              out.after.accuracy(), (long long)out.before.total, (long long)out.train.steps, out.trainSeconds);
        QVERIFY(out.before.accuracy() < 0.2);
        QVERIFY(out.after.accuracy() > out.before.accuracy() + 0.6);
    }
};

QTEST_GUILESS_MAIN(DemoRunTest)
#include "DemoRunTest.moc"
