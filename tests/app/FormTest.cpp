// The new-run form in the workbench with the real dataset reader: a fresh start on the built-in demo
// model, problems named once at their field with line numbers, the preview as decoded text, and the
// form remembered across restarts.
#include "app/gui/CliLauncher.h"
#include "app/gui/DatasetPreviewer.h"
#include "app/gui/DetachedRunWatch.h"
#include "app/gui/DetachedStarts.h"
#include "app/gui/RunController.h"
#include "app/gui/Workbench.h"

#include "ui/DataSection.h"
#include "ui/FieldErrors.h"
#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/RunForm.h"
#include "ui/StagesEditor.h"

#include "common/Paths.h"
#include "storage/Store.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTextDocument>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <clocale>
#include <csignal>

using namespace rslora;

namespace {
QString demoFile(const char* name) { return QString::fromStdString((demoDataDirectory() / name).string()); }

void chooseTrainingFile(ui::RunForm* form, const QString& path) {
    auto* train = form->findChild<QLineEdit*>("data.train.edit");
    train->setText(path);
    Q_EMIT train->editingFinished();
}

QString writeFile(const QTemporaryDir& dir, const QString& name, const QByteArray& text) {
    QFile f(dir.filePath(name));
    f.open(QIODevice::WriteOnly);
    f.write(text);
    return f.fileName();
}

// Every message the form shows anywhere (field errors, the list under the form, the model line).
QString everythingShown(ui::RunForm* form) {
    QString all;
    for (QLabel* l : form->findChildren<QLabel*>())
        if (l->objectName().startsWith("error_") || l->objectName() == "formProblems" || l->objectName() == "modelInfo" ||
            l->objectName() == "dataSummary")
            all += l->text() + "\n";
    return all;
}
} // namespace

class FormTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() {
        qputenv("RSLORA_NO_DIALOGS", "1");
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.filePath("settings"));
        if (!QFileInfo::exists(QString::fromStdString((demoModelDirectory() / "tokenizer.json").string())))
            QFAIL("the built-in demo model is missing (RSLORA_RESOURCES)");
    }

    void init() { QSettings().clear(); }

    void freshStartTrainsTheDemoModel() {
        app::Workbench wb(m_dir.filePath("fresh.sqlite"));
        ui::RunForm* form = wb.form();
        QVERIFY(form->modelSection()->usesDemo());
        chooseTrainingFile(form, demoFile("facts_train.jsonl"));
        const QStringList problems = form->validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QVERIFY(form->startButton()->isEnabled());
        QVERIFY(!everythingShown(form).contains("tokenizer"));
    }

    void missingModelFolderIsReportedOnceAtTheModelField() {
        app::Workbench wb(m_dir.filePath("missing.sqlite"));
        ui::RunForm* form = wb.form();
        const QString missing = m_dir.filePath("no-such-model");
        form->modelSection()->setPath(missing);
        chooseTrainingFile(form, demoFile("facts_train.jsonl"));
        form->validateNow();
        QVERIFY2(form->fieldErrors()->errorFor("model.path").contains("does not exist"), qPrintable(everythingShown(form)));
        QCOMPARE(everythingShown(form).count(missing), 1);
        QVERIFY2(form->fieldErrors()->errorFor("data.train").isEmpty(), qPrintable(form->fieldErrors()->errorFor("data.train")));
        QVERIFY(!form->startButton()->isEnabled());
    }

    void brokenLinesAreNamedByNumber() {
        app::Workbench wb(m_dir.filePath("broken.sqlite"));
        ui::RunForm* form = wb.form();
        const QString some = writeFile(m_dir, "some.jsonl",
                                       "{\"instruction\":\"a\",\"output\":\"b\"}\n"
                                       "{\"instruction\":\"c\",\"output\":\"d\"\n"
                                       "{\"instruction\":\"e\",\"output\":\"f\"}\n"
                                       "{instruction: g}\n");
        chooseTrainingFile(form, some);
        form->validateNow();
        QString error = form->fieldErrors()->errorFor("data.train");
        QVERIFY2(error.contains("lines 2, 4 of some.jsonl cannot be used") && error.contains("some.jsonl line 2: invalid JSON at column"), qPrintable(error));
        QVERIFY2(!error.contains("json.exception"), qPrintable(error));
        QVERIFY(!form->startButton()->isEnabled());

        const QString none = writeFile(m_dir, "none.jsonl", "{oops\n[1, 2\n");
        chooseTrainingFile(form, none);
        form->validateNow();
        error = form->fieldErrors()->errorFor("data.train");
        QVERIFY2(error.startsWith("data.train: no line of none.jsonl is a usable sample (lines 1, 2 cannot be used)"), qPrintable(error));
        QVERIFY2(!everythingShown(form).contains("json.exception"), qPrintable(everythingShown(form)));
        QVERIFY(!form->startButton()->isEnabled());
    }

    void previewShowsDecodedText() {
        const ui::DatasetPreview p = app::DatasetPreviewer::preview(QString::fromStdString(demoModelDirectory().string()),
                                                                    demoFile("chat_train.jsonl"), 256);
        QVERIFY2(p.error.isEmpty(), qPrintable(p.error));
        QTextDocument doc;
        doc.setHtml(p.html);
        const QString text = doc.toPlainText();
        QVERIFY2(text.contains("The day after sunday is monday."), qPrintable(text));
        QVERIFY2(!text.contains(QChar(0x0120)) && !text.contains(QChar(0x010A)) && !text.contains(QChar(0x21B5)), qPrintable(text));
        // Line breaks as line breaks.
        QVERIFY2(text.contains("What is the day after sunday?<|eos|>\n<|im_start|>assistant\nThe day after sunday is monday."), qPrintable(text));
        // Token boundaries: neighbouring tokens alternate shades, trained and masked alike.
        for (const char* shade : {"#c8e6c9", "#a5d6a7", "#eeeeee", "#dcdcdc"})
            QVERIFY2(p.html.contains(QString("background:%1").arg(shade)), shade);
    }

    // Preference pairs: the prompt masked, then the chosen and the rejected response side by side;
    // a broken line is named like an SFT file's.
    void previewShowsPreferencePairs() {
        const QString model = QString::fromStdString(demoModelDirectory().string());
        const ui::DatasetPreview p = app::DatasetPreviewer::preview(model, demoFile("prefs_val.jsonl"), 64);
        QVERIFY2(p.error.isEmpty(), qPrintable(p.error));
        QCOMPARE(p.format, QString("preference"));
        QCOMPARE(p.samples, qint64(79));
        QTextDocument doc;
        doc.setHtml(p.html);
        const QString text = doc.toPlainText();
        QVERIFY2(text.contains("pair 1 · prompt"), qPrintable(text));
        QVERIFY2(text.contains("<|im_start|>user\nWhat is the opposite of night?<|eos|>\n<|im_start|>assistant\n"), qPrintable(text));
        QVERIFY2(text.contains("chosen") && text.contains("rejected"), qPrintable(text));
        // The rejected response in its own cell, without the chosen one's opener.
        QVERIFY2(text.contains(QRegularExpression("(^|\\s)The opposite of night is day\\.<\\|eos\\|>")), qPrintable(text));
        QVERIFY2(text.contains("Sure! The opposite of night is day.<|eos|>"), qPrintable(text));
        QVERIFY(p.html.contains("<table"));
        for (const char* shade : {"#c8e6c9", "#eeeeee"})
            QVERIFY2(p.html.contains(QString("background:%1").arg(shade)), shade);

        QTemporaryDir dir;
        QFile f(dir.filePath("pairs.jsonl"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"Go away.\"}\n"
                "{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\"}\n");
        f.close();
        const ui::DatasetPreview bad = app::DatasetPreviewer::preview(model, f.fileName(), 64);
        QVERIFY2(bad.error.contains("line 2") && bad.error.contains("rejected"), qPrintable(bad.error));
        QCOMPARE(bad.samples, qint64(1));
        // An empty or blank response is named as training names it (the pair was previewed as usable).
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"Go away.\"}\n"
                "{\"prompt\": \"Hi?\", \"chosen\": \"\", \"rejected\": \"Go away.\"}\n"
                "{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"  \"}\n");
        f.close();
        const ui::DatasetPreview blank = app::DatasetPreviewer::preview(model, f.fileName(), 64);
        QVERIFY2(blank.error.contains("lines 2, 3") && blank.error.contains("\"chosen\" is empty"), qPrintable(blank.error));
        QCOMPARE(blank.samples, qint64(1));
        QCOMPARE(blank.skipped, qint64(2));
    }

    void previewDecodesTokensThatDoNotMapOntoTheText() {
        // A tokenizer that normalizes (here: lower case) encodes text its decoder cannot give back
        // verbatim, so tokens are decoded from their ids, not shown in the vocabulary's spelling.
        QTemporaryDir model;
        QFile in(QString::fromStdString((demoModelDirectory() / "tokenizer.json").string()));
        QVERIFY(in.open(QIODevice::ReadOnly));
        nlohmann::json tokenizer = nlohmann::json::parse(in.readAll().toStdString());
        tokenizer["normalizer"] = {{"type", "Lowercase"}};
        writeFile(model, "tokenizer.json", QByteArray::fromStdString(tokenizer.dump()));
        QFile::copy(QString::fromStdString((demoModelDirectory() / "tokenizer_config.json").string()), model.filePath("tokenizer_config.json"));
        const ui::DatasetPreview p = app::DatasetPreviewer::preview(model.path(), demoFile("facts_train.jsonl"), 256);
        QVERIFY2(p.error.isEmpty(), qPrintable(p.error));
        QTextDocument doc;
        doc.setHtml(p.html);
        const QString text = doc.toPlainText();
        QVERIFY2(text.contains("the plural of cat is cats."), qPrintable(text));
        QVERIFY2(!text.contains(QChar(0x0120)) && !text.contains(QChar(0x010A)), qPrintable(text));
    }

    // A large file is previewed from its first records (the window waits for the preview): the counts
    // are theirs and the summary says so, a bad record past them is not read, and Start's check, which
    // reads every record, refuses it. Text and pre-tokenized files alike; a small file reads whole.
    void largeFilesArePreviewedFromTheirFirstRecords() {
        const int records = 3 * app::DatasetPreviewer::kRecords;
        QByteArray text, tokenized;
        for (int i = 0; i < records; ++i) {
            text += "{\"instruction\": \"What is " + QByteArray::number(i) + " plus one?\", \"output\": \"" +
                    QByteArray::number(i + 1) + ".\"}\n";
            tokenized += "{\"input_ids\": [" + QByteArray::number(1 + i % 7) + ", 8, 9], \"labels\": [-100, 8, 9]}\n";
        }
        const QString big = writeFile(m_dir, "big-text.jsonl", text + "{\"instruction\": \"unfinished\"\n");
        const QString bigTokenized = writeFile(m_dir, "big-tokenized.jsonl", tokenized + "{\"input_ids\": []}\n");
        const QString model = QString::fromStdString(demoModelDirectory().string());
        const QString lastLine = QString::number(records + 1);

        const ui::DatasetPreview p = app::DatasetPreviewer::preview(model, big, 64);
        QVERIFY2(p.error.isEmpty(), qPrintable(p.error));
        QCOMPARE(p.format, QString("alpaca"));
        QCOMPARE(p.samples, qint64(app::DatasetPreviewer::kRecords));
        QCOMPARE(p.recordsRead, qint64(app::DatasetPreviewer::kRecords));
        QVERIFY(p.moreRecords);
        const ui::DatasetPreview t = app::DatasetPreviewer::preview(model, bigTokenized, 64);
        QVERIFY2(t.error.isEmpty(), qPrintable(t.error));
        QCOMPARE(t.format, QString("tokenized"));
        QCOMPARE(t.samples, qint64(app::DatasetPreviewer::kRecords));
        QVERIFY(t.moreRecords);

        app::Workbench wb(m_dir.filePath("large.sqlite"));
        ui::RunForm* form = wb.form();
        for (const QString& file : {big, bigTokenized}) {
            chooseTrainingFile(form, file);
            const QStringList problems = form->validateNow();
            QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
            const QString summary = form->findChild<QLabel*>("dataSummary")->text();
            QVERIFY2(summary.contains(QString("%1 samples").arg(app::DatasetPreviewer::kRecords)) &&
                         summary.endsWith(QString(" · counted over the first %1 records of the file, read for this preview; the whole "
                                                  "file is checked when the run starts")
                                              .arg(app::DatasetPreviewer::kRecords)),
                     qPrintable(summary));
            QString refused;
            try {
                app::RunController::checkData(form->config());
            } catch (const std::exception& e) {
                refused = QString::fromStdString(e.what());
            }
            QVERIFY2(refused.contains(lastLine), qPrintable(refused));
        }

        // A file of kRecords records is read whole: no word of a part read.
        const QString exact = writeFile(m_dir, "exact.jsonl", text.left(text.indexOf('\n', 0) + 1).repeated(app::DatasetPreviewer::kRecords));
        const ui::DatasetPreview whole = app::DatasetPreviewer::preview(model, exact, 64);
        QVERIFY2(whole.error.isEmpty() && !whole.moreRecords, qPrintable(whole.error));
        chooseTrainingFile(form, demoFile("facts_train.jsonl"));
        form->validateNow();
        const QString summary = form->findChild<QLabel*>("dataSummary")->text();
        QVERIFY2(summary.contains("232 samples") && !summary.contains("first"), qPrintable(summary));
    }

    // Every Start pipeline trains into a folder of its own beside its file, so that starting the same
    // pipeline again (or twice in one second) is not refused, unseen in the detached process, over
    // the progress an earlier start left in a folder named after the pipeline alone.
    // Qt takes the C locale from the environment; under a German one strtod stops at the '.', so a
    // YAML config's learning_rate: 0.004 read as 0 (and 2.5e-4 as 2). The workbench keeps numbers in
    // the C form whatever the user's locale (Qt's own widgets follow QLocale, not the C locale).
    void configNumbersReadAsWrittenUnderADecimalCommaLocale() {
        QTemporaryDir locales;
        const std::string previous = std::setlocale(LC_ALL, nullptr);
        if (!std::setlocale(LC_ALL, "de_DE.UTF-8")) {
            QProcess localedef;
            localedef.start("localedef", {"-i", "de_DE", "-f", "UTF-8", locales.filePath("de_DE.UTF-8")});
            localedef.waitForFinished(60000);
            qputenv("LOCPATH", locales.path().toLocal8Bit());
            if (!std::setlocale(LC_ALL, "de_DE.UTF-8"))
                QFAIL("no German locale: localedef -i de_DE -f UTF-8 failed");
        }
        double learningRate = 0;
        {
            app::Workbench wb(m_dir.filePath("locale.sqlite"));
            const QString config = writeFile(m_dir, "locale.yaml",
                "model:\n  path: " + QByteArray::fromStdString(demoModelDirectory().string()) +
                "\ndata:\n  train: " + demoFile("facts_train.jsonl").toUtf8() +
                "\ntraining:\n  learning_rate: 2.5e-4\n  max_steps: 7\n");
            QVERIFY(wb.openConfig(config));
            learningRate = wb.form()->config().learningRate;
        }
        std::setlocale(LC_ALL, previous.c_str());
        qunsetenv("LOCPATH");
        QCOMPARE(learningRate, 2.5e-4);
    }

    void pipelineStartsGetFoldersOfTheirOwn() {
        const QByteArray cli = qgetenv("RSLORA_CLI");
        qputenv("RSLORA_CLI", "/bin/true");
        engine::pipeline::PipelineConfig p;
        p.name = "twice";
        p.base = {{"model", {{"path", "/models/none"}}}};
        engine::pipeline::StageSpec stage;
        stage.name = "one";
        p.stages.push_back(stage);
        app::CliLauncher launcher(m_dir.filePath("pipelines.sqlite"));
        const QString first = launcher.startPipeline(p).config;
        const QString second = launcher.startPipeline(p).config;
        if (cli.isEmpty())
            qunsetenv("RSLORA_CLI");
        else
            qputenv("RSLORA_CLI", cli);
        QVERIFY2(first != second, qPrintable(first));
        for (const QString& file : {first, second}) {
            QVERIFY(file.endsWith(".json"));
            QCOMPARE(QString::fromStdString(engine::pipeline::PipelineConfig::load(file.toStdString()).outputDir), file.chopped(5));
        }
    }

    // A detached pipeline's output goes to a file beside its config, and when the process ends with an
    // error the workbench says so (status bar and log) instead of the failure going unseen.
    void detachedFailuresAreReported() {
        const QString script = m_dir.filePath("failing-rslora.sh");
        {
            QFile f(script);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("#!/bin/sh\necho starting\necho 'error: data.train: /nowhere.jsonl does not exist' >&2\nexit 1\n");
        }
        QFile::setPermissions(script, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
        const QByteArray cli = qgetenv("RSLORA_CLI");
        qputenv("RSLORA_CLI", script.toLocal8Bit());
        engine::pipeline::PipelineConfig p;
        p.name = "doomed";
        p.base = {{"model", {{"path", "/models/none"}}}};
        engine::pipeline::StageSpec stage;
        stage.name = "one";
        p.stages.push_back(stage);

        // The watch alone: the last error line of the output, once the process is gone.
        const app::CliLauncher::Launched l = app::CliLauncher(m_dir.filePath("detached.sqlite")).startPipeline(p);
        QVERIFY(l.pid > 0);
        QCOMPARE(l.log, l.config.chopped(5) + ".log");
        app::DetachedRunWatch watch(nullptr, 20);
        QSignalSpy failed(&watch, &app::DetachedRunWatch::failed);
        watch.watch(l.pid, "Pipeline \"doomed\"", l.log);
        // rslora's start-up (LibTorch loading) takes seconds on a loaded machine: minutes bound a hang only.
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 120000);
        QCOMPARE(failed.at(0).at(1).toString(), QString("data.train: /nowhere.jsonl does not exist"));
        QCOMPARE(watch.watching(), 0);
        QFile log(l.log);
        QVERIFY(log.open(QIODevice::ReadOnly));
        QVERIFY(log.readAll().contains("starting"));

        // Through the workbench: the status bar names the pipeline, the error and the output file.
        {
            app::Workbench wb(m_dir.filePath("detached.sqlite"));
            QString error;
            QVERIFY2(wb.detachedStarts()->startPipeline(QString::fromStdString(p.toJson().dump()), &error), qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 1);
            QTRY_VERIFY_WITH_TIMEOUT(wb.window()->statusBar()->currentMessage().contains("/nowhere.jsonl does not exist"), 120000);
            QVERIFY(wb.window()->statusBar()->currentMessage().contains("Pipeline \"doomed\" failed"));
        }
        if (cli.isEmpty())
            qunsetenv("RSLORA_CLI");
        else
            qputenv("RSLORA_CLI", cli);

        // No error line: it ended, and nothing is claimed.
        QVERIFY(app::DetachedRunWatch::lastError(m_dir.filePath("no-such.log")).isEmpty());
    }

    // A second Start pipeline while the first is still starting or training starts nothing: it says
    // which process trains that pipeline and what to do. Another pipeline starts; so does the same
    // one once its process has ended. A stage of it that a live process trains (the CLI, an earlier
    // workbench) refuses it too.
    void pipelineIsNotStartedTwice() {
        const QString script = m_dir.filePath("slow-rslora.sh");
        {
            QFile f(script);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("#!/bin/sh\nexec sleep 60\n");
        }
        QFile::setPermissions(script, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
        const QByteArray cli = qgetenv("RSLORA_CLI");
        qputenv("RSLORA_CLI", script.toLocal8Bit());
        auto pipeline = [](const std::string& name) {
            engine::pipeline::PipelineConfig p;
            p.name = name;
            p.base = {{"model", {{"path", "/models/none"}}}};
            engine::pipeline::StageSpec stage;
            stage.name = "one";
            p.stages.push_back(stage);
            return QString::fromStdString(p.toJson().dump());
        };
        {
            app::Workbench wb(m_dir.filePath("twice.sqlite"));
            QString error;
            QVERIFY2(wb.detachedStarts()->startPipeline(pipeline("sft-then-dpo"), &error), qPrintable(error));
            const auto first = wb.detachedRuns()->running("pipeline:sft-then-dpo");
            QVERIFY(first && first->pid > 0);
            QVERIFY(!wb.detachedStarts()->startPipeline(pipeline("sft-then-dpo"), &error));
            QVERIFY2(error.contains("pipeline \"sft-then-dpo\" is already training") && error.contains(QString::number(first->pid))
                         && error.contains("wait for it to end"),
                     qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 1);
            QVERIFY2(wb.detachedStarts()->startPipeline(pipeline("other"), &error), qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 2);
            const auto other = wb.detachedRuns()->running("pipeline:other");
            QVERIFY(other);
            ::kill(pid_t(first->pid), SIGKILL);
            ::kill(pid_t(other->pid), SIGKILL);
            QTRY_VERIFY_WITH_TIMEOUT(!wb.detachedRuns()->running("pipeline:sft-then-dpo"), 120000);
            QVERIFY2(wb.detachedStarts()->startPipeline(pipeline("sft-then-dpo"), &error), qPrintable(error));
            const auto again = wb.detachedRuns()->running("pipeline:sft-then-dpo");
            QVERIFY(again && again->pid != first->pid);
            ::kill(pid_t(again->pid), SIGKILL);
            QTRY_VERIFY_WITH_TIMEOUT(!wb.detachedRuns()->running("pipeline:sft-then-dpo"), 120000);

            // A stage of it training in a live process, as the store has it.
            storage::RunRecord stage;
            stage.name = "elsewhere / one";
            stage.status = storage::RunStatus::Running;
            stage.pid = QCoreApplication::applicationPid();
            const int64_t id = wb.store()->runs().create(stage);
            wb.store()->runs().setTag(id, "pipeline", "elsewhere");
            QVERIFY(!wb.detachedStarts()->startPipeline(pipeline("elsewhere"), &error));
            QVERIFY2(error.contains(QString("run #%1").arg(id)) && error.contains("already training"), qPrintable(error));
            wb.store()->runs().setStatus(id, storage::RunStatus::Stopped);
            QVERIFY2(wb.detachedStarts()->startPipeline(pipeline("elsewhere"), &error), qPrintable(error));
            const auto last = wb.detachedRuns()->running("pipeline:elsewhere");
            QVERIFY(last);
            ::kill(pid_t(last->pid), SIGKILL);
        }
        if (cli.isEmpty())
            qunsetenv("RSLORA_CLI");
        else
            qputenv("RSLORA_CLI", cli);
    }

    // The same data-parallel run is not started twice while the first is training; another process
    // count or setting is.
    void dataParallelRunIsNotStartedTwice() {
        const QString script = m_dir.filePath("slow-launch.sh");
        {
            QFile f(script);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("#!/bin/sh\nexec sleep 60\n");
        }
        QFile::setPermissions(script, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
        const QByteArray cli = qgetenv("RSLORA_CLI");
        qputenv("RSLORA_CLI", script.toLocal8Bit());
        {
            app::Workbench wb(m_dir.filePath("launch-twice.sqlite"));
            engine::TrainConfig config;
            config.modelPath = "/models/none";
            config.trainData = "/data/none.jsonl";
            QString error;
            QVERIFY2(wb.detachedStarts()->startDataParallel(config, 2, "dp", &error), qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 1);
            QVERIFY(!wb.detachedStarts()->startDataParallel(config, 2, "dp", &error));
            QVERIFY2(error.contains("exactly these settings is already training") && error.contains("wait for it to end"), qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 1);
            QVERIFY2(wb.detachedStarts()->startDataParallel(config, 3, "dp", &error), qPrintable(error));
            config.seed = 7;
            QVERIFY2(wb.detachedStarts()->startDataParallel(config, 2, "dp", &error), qPrintable(error));
            QCOMPARE(wb.detachedRuns()->watching(), 3);
            engine::TrainConfig first = config;
            first.seed = engine::TrainConfig().seed;
            for (const auto& [processes, c] : {std::pair{2, first}, std::pair{3, first}, std::pair{2, config}}) {
                const auto w = wb.detachedRuns()->running(QString("launch:%1:%2").arg(processes).arg(QString::fromStdString(c.toJson().dump())));
                QVERIFY(w && w->pid > 0);
                ::kill(pid_t(w->pid), SIGKILL);
            }
            QTRY_COMPARE_WITH_TIMEOUT(wb.detachedRuns()->watching(), 0, 120000);
        }
        if (cli.isEmpty())
            qunsetenv("RSLORA_CLI");
        else
            qputenv("RSLORA_CLI", cli);
    }

    void formIsRememberedAcrossRestarts() {
        QTemporaryDir models;
        QDir().mkpath(models.filePath("local"));
        QFile::copy(QString::fromStdString((demoModelDirectory() / "config.json").string()), models.filePath("local/config.json"));
        {
            app::Workbench wb(m_dir.filePath("remember.sqlite"));
            ui::RunForm* form = wb.form();
            form->modelSection()->setPath(models.filePath("local"));
            chooseTrainingFile(form, demoFile("facts_train.jsonl"));
            form->findChild<QSpinBox*>("adapter.r")->setValue(12);
            form->findChild<QSpinBox*>("training.batch_size")->setValue(3);
            form->findChild<QLineEdit*>("training.learning_rate")->setText("0.001");
            form->stagesEditor()->addStage();
            form->validateNow();
        }
        app::Workbench again(m_dir.filePath("remember.sqlite"));
        const engine::TrainConfig c = again.form()->config();
        QCOMPARE(QString::fromStdString(c.modelPath), models.filePath("local"));
        QVERIFY(!again.form()->modelSection()->usesDemo());
        QCOMPARE(QString::fromStdString(c.trainData), demoFile("facts_train.jsonl"));
        QCOMPARE(c.adapter.rank, 12);
        QCOMPARE(c.batchSize, 3);
        QCOMPARE(c.learningRate, 0.001);

        // Stages come back with the form; --demo (a single run) opens without them.
        QVERIFY(again.form()->isPipeline());
        QString error;
        QVERIFY2(again.loadDemo(&error), qPrintable(error));
        QVERIFY(!again.form()->isPipeline());
    }
};

QTEST_MAIN(FormTest)
#include "FormTest.moc"
