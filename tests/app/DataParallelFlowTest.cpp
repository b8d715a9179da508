// A data-parallel run from the workbench: Processes > 1 in the Training section starts `rslora launch`
// with that many workers on the form's config; the run lands in the same store, trained by 2 ranks
// (their checkpoint says so). The field's problems are named at the field.
#include "app/gui/Workbench.h"

#include "ui/RunForm.h"
#include "ui/TrainingSection.h"

#include "common/Paths.h"
#include "storage/Store.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace rslora;

class DataParallelFlowTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

    static QString shownAt(ui::RunForm* form, const QString& key) {
        auto* label = form->findChild<QLabel*>("error_" + key);
        return label && !label->isHidden() ? label->text() : QString();
    }

private Q_SLOTS:
    void initTestCase() {
        qputenv("RSLORA_NO_DIALOGS", "1");
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.filePath("settings"));
        if (!QFileInfo::exists(QString::fromStdString((demoModelDirectory() / "tokenizer.json").string())))
            QFAIL("the built-in demo model is missing (RSLORA_RESOURCES)");
        if (qEnvironmentVariable("RSLORA_CLI").isEmpty() || !QFileInfo::exists(qEnvironmentVariable("RSLORA_CLI")))
            QFAIL("RSLORA_CLI (the rslora executable) is not set");
    }

    void processesFieldProblems() {
        app::Workbench wb(m_dir.filePath("checks.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        ui::RunForm* form = wb.form();
        ui::TrainingSection* training = form->trainingSection();
        QCOMPARE(training->processes(), 1);
        QCOMPARE(training->processesBox()->text(), QString("1 (in this workbench)"));
        QVERIFY(form->cliCommand().contains("\nrslora train run-config.json"));
        training->setProcesses(2);
        QVERIFY(form->validateNow().isEmpty());
        QVERIFY2(form->cliCommand().contains("\nrslora launch --nproc 2 -- train run-config.json"), qPrintable(form->cliCommand()));
        // More processes than rows in the global batch: named at the field.
        engine::TrainConfig c = form->config();
        c.batchSize = 2;
        form->setConfig(c);
        training->setProcesses(3);
        const QStringList problems = form->validateNow();
        QVERIFY2(problems.join('\n').contains("training.processes: 3 processes need a global batch of at least 3 rows (training.batch_size is 2)"),
                 qPrintable(problems.join('\n')));
        QVERIFY2(shownAt(form, "training.processes").contains("global batch of at least 3"), qPrintable(shownAt(form, "training.processes")));
        QVERIFY(!form->startButton()->isEnabled());
        training->setProcesses(1);
        QVERIFY(form->validateNow().isEmpty());
        // A pipeline trains in one process.
        QVERIFY2(form->openConfigFile(QString::fromStdString((resourcesDirectory() / "pipelines" / "demo-sft-dpo.yaml").string()), &error),
                 qPrintable(error));
        QVERIFY(form->validateNow().isEmpty());
        training->setProcesses(2);
        QVERIFY2(form->validateNow().join('\n').contains("training.processes: a pipeline trains its stages in one process"),
                 qPrintable(form->validateNow().join('\n')));
        training->setProcesses(1);
    }

    void startsRanksThatTrainOneRun() {
        app::Workbench wb(m_dir.filePath("launch.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        ui::RunForm* form = wb.form();
        engine::TrainConfig c = form->config();
        c.maxSteps = 4;
        c.batchSize = 4;
        c.logEvery = 1;
        c.evalEvery = 0;
        c.saveEvery = 2;
        c.threads = 1;
        c.adapter.balancing.enabled = false;
        c.outputDir = m_dir.filePath("dp-run").toStdString();
        form->setConfig(c);
        form->trainingSection()->setProcesses(2);
        QSignalSpy inProcess(form, &ui::RunForm::startRequested);
        QSignalSpy launched(form, &ui::RunForm::launchRequested);
        QVERIFY(form->validateNow().isEmpty());
        form->startButton()->click();
        QCOMPARE(inProcess.count(), 0);
        QCOMPARE(launched.count(), 1);
        QCOMPARE(launched.at(0).at(1).toInt(), 2);

        // The workers record into this store; wait for the run to finish (two ranks on the demo model).
        QElapsedTimer clock;
        clock.start();
        std::optional<storage::RunRecord> run;
        while (clock.elapsed() < 240000) {
            QTest::qWait(500);
            storage::Store store(m_dir.filePath("launch.sqlite").toStdString());
            const auto runs = store.runs().list({});
            if (!runs.empty() && runs.front().status != storage::RunStatus::Running && runs.front().status != storage::RunStatus::Queued) {
                run = runs.front();
                break;
            }
        }
        QVERIFY2(run, "the data-parallel run did not finish within 4 minutes");
        QVERIFY2(run->status == storage::RunStatus::Finished, run->errorMessage.c_str());
        QCOMPARE(run->lastStep.value_or(0), int64_t(4));
        // Rank 0 wrote the checkpoints, and they record the world size.
        int checkpoints = 0;
        for (QDirIterator it(m_dir.filePath("dp-run"), {"checkpoint.json"}, QDir::Files, QDirIterator::Subdirectories); it.hasNext();) {
            QFile f(it.next());
            QVERIFY(f.open(QIODevice::ReadOnly));
            const auto info = nlohmann::json::parse(f.readAll().toStdString());
            QCOMPARE(info.value("world_size", 0), 2);
            ++checkpoints;
        }
        QVERIFY(checkpoints >= 1);
        // The config the workers trained is kept in the data folder.
        QVERIFY(!QDir(QString::fromStdString((dataDirectory() / "launches").string())).entryList({"*.json"}, QDir::Files).isEmpty());
    }
};

QTEST_MAIN(DataParallelFlowTest)
#include "DataParallelFlowTest.moc"
