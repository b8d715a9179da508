// A new user's first hour through the workbench's views: what one view shows after an action taken
// in another (or by another process on the same store) is what the store holds now.
#include "app/gui/DetachedRunWatch.h"
#include "app/gui/Workbench.h"

#include "ui/AdaptersBrowser.h"
#include "ui/AdapterTreeModel.h"
#include "ui/FieldErrors.h"
#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/ObjectiveSection.h"
#include "ui/RunForm.h"
#include "ui/RunsBrowser.h"
#include "ui/StagesEditor.h"
#include "ui/TrainingPanel.h"

#include "common/Paths.h"
#include "storage/Store.h"

#include <QAction>
#include <QComboBox>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace rslora;

namespace {
QString demoFile(const char* name) { return QString::fromStdString((demoDataDirectory() / name).string()); }

void chooseTrainingFile(ui::RunForm* form, const QString& path) {
    auto* train = form->findChild<QLineEdit*>("data.train.edit");
    train->setText(path);
    Q_EMIT train->editingFinished();
}

QComboBox* fromBox(ui::RunForm* form, int row) {
    return static_cast<QComboBox*>(form->stagesEditor()->table()->cellWidget(row, ui::StagesEditor::From));
}

QStringList offered(QComboBox* box) {
    QStringList items;
    for (int i = 0; i < box->count(); ++i)
        items << box->itemText(i);
    return items;
}

void showView(app::Workbench& wb, QWidget* view) { wb.window()->views()->setCurrentWidget(view); }
} // namespace

class JourneyTest : public QObject {
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

    // Opened without --demo (the desktop entry), File > Load the demo run fills the form with the demo's
    // model, data and settings, ready to start; before, only the demo pipeline was in the menu and the
    // demo's data files had to be found by hand.
    void demoRunFromTheFileMenu() {
        app::Workbench wb(m_dir.filePath("demo-menu.sqlite"));
        ui::RunForm* form = wb.form();
        showView(wb, wb.runs());
        form->stagesEditor()->addStage(); // a pipeline left in the form from before
        QVERIFY(form->isPipeline());
        QVERIFY(form->config().trainData.empty());
        auto* action = wb.window()->findChild<QAction*>("demoRunAction");
        QVERIFY(action);
        action->trigger();
        QCOMPARE(wb.window()->views()->currentWidget(), static_cast<QWidget*>(form));
        const engine::TrainConfig c = form->config();
        QVERIFY(form->modelSection()->usesDemo());
        QCOMPARE(QFileInfo(QString::fromStdString(c.trainData)), QFileInfo(demoFile("facts_train.jsonl")));
        QCOMPARE(QFileInfo(QString::fromStdString(c.validationData)), QFileInfo(demoFile("facts_val.jsonl")));
        QCOMPARE(c.adapter.rank, 8);
        QCOMPARE(c.maxSteps, 200);
        QVERIFY(!form->isPipeline());
        const QStringList problems = form->validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QVERIFY(form->startButton()->isEnabled());
        QCOMPARE(form->startButton()->text(), QString("Start run"));
    }

    // Objective DPO on a file of questions (or SFT on preference pairs) is a problem at the data
    // fields, with Start off: the run was queued and failed at its first record after the model loaded.
    void objectiveAndDataKindAgree() {
        app::Workbench wb(m_dir.filePath("objective.sqlite"));
        ui::RunForm* form = wb.form();
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        QVERIFY(form->validateNow().isEmpty());
        auto* objective = form->findChild<QComboBox*>("training.objective");
        QVERIFY(objective);
        objective->setCurrentIndex(1); // DPO (preference pairs)
        QVERIFY(form->objectiveSection()->isPreference());
        form->validateNow();
        const QString train = form->fieldErrors()->errorFor("data.train");
        QVERIFY2(train.contains("facts_train.jsonl holds alpaca records, and the DPO objective trains on preference pairs"), qPrintable(train));
        QVERIFY2(form->fieldErrors()->errorFor("data.validation").contains("facts_val.jsonl holds alpaca records"),
                 qPrintable(form->fieldErrors()->errorFor("data.validation")));
        QVERIFY(!form->startButton()->isEnabled());

        auto* trainEdit = form->findChild<QLineEdit*>("data.train.edit");
        auto* validationEdit = form->findChild<QLineEdit*>("data.validation.edit");
        QVERIFY(trainEdit && validationEdit);
        trainEdit->setText(demoFile("prefs_train.jsonl"));
        validationEdit->setText(demoFile("prefs_val.jsonl"));
        Q_EMIT validationEdit->editingFinished();
        const QStringList pairs = form->validateNow();
        QVERIFY2(pairs.isEmpty(), qPrintable(pairs.join('\n')));
        QVERIFY(form->startButton()->isEnabled());

        objective->setCurrentIndex(0); // back to SFT, the pairs still chosen
        form->validateNow();
        QVERIFY2(form->fieldErrors()->errorFor("data.train").contains("prefs_train.jsonl holds preference pairs (prompt, chosen, rejected), which SFT does not train on"),
                 qPrintable(form->fieldErrors()->errorFor("data.train")));
        QVERIFY(!form->startButton()->isEnabled());
    }

    // A preset is never replaced without asking: saving under a taken name is refused unless replacing
    // was asked for (the Save button asks), duplicating onto one always; and the copy of a built-in
    // recipe holds the form's model and data (it held none, so loading it emptied both fields).
    void presetsAreNotReplacedSilently() {
        app::Workbench wb(m_dir.filePath("presets.sqlite"));
        ui::RunForm* form = wb.form();
        QTemporaryDir presets;
        form->setPresetFolder(presets.path());
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::TrainConfig c = form->config();
        c.adapter.rank = 32;
        form->setConfig(c);
        QVERIFY2(form->savePreset("mine", &error), qPrintable(error));
        c.adapter.rank = 4;
        form->setConfig(c);
        QVERIFY(!form->savePreset("mine", &error));
        QVERIFY2(error.contains("a preset named 'mine' exists"), qPrintable(error));
        QVERIFY2(form->loadPreset("mine", &error), qPrintable(error));
        QCOMPARE(form->config().adapter.rank, 32);
        form->setConfig(c);
        QVERIFY2(form->savePreset("mine", &error, true), qPrintable(error));
        QVERIFY(!form->duplicatePreset("LoRA baseline", "mine", &error));
        QVERIFY2(error.contains("a preset named 'mine' exists"), qPrintable(error));
        QVERIFY(!form->savePreset("rsLoRA r16", &error, true));
        QVERIFY2(form->loadPreset("mine", &error), qPrintable(error));
        QCOMPARE(form->config().adapter.rank, 4);
        QCOMPARE(form->presetNames(), QStringList{"mine"});

        QVERIFY2(form->duplicatePreset("rsLoRA r16", "my r16", &error), qPrintable(error));
        engine::TrainConfig other = form->config();
        other.trainData = demoFile("chat_train.jsonl").toStdString();
        other.validationData = demoFile("chat_val.jsonl").toStdString();
        form->setConfig(other);
        QVERIFY2(form->loadPreset("my r16", &error), qPrintable(error));
        const engine::TrainConfig loaded = form->config();
        QCOMPARE(loaded.adapter.rank, 16);
        QCOMPARE(loaded.adapter.scaling, engine::ScalingMode::AlphaOverSqrtR);
        QVERIFY(form->modelSection()->usesDemo());
        QCOMPARE(QFileInfo(QString::fromStdString(loaded.trainData)), QFileInfo(demoFile("facts_train.jsonl")));
        QCOMPARE(QFileInfo(QString::fromStdString(loaded.validationData)), QFileInfo(demoFile("facts_val.jsonl")));
        QVERIFY2(form->validateNow().isEmpty(), qPrintable(form->validateNow().join('\n')));
    }

    // Start pipeline trains in an `rslora` process of its own: the Training view follows its stage's run
    // as it trains (it followed only a run found at start-up, so a pipeline or data-parallel run started
    // here showed nowhere but in the Runs table).
    void pipelineStartedHereIsFollowed() {
        if (qEnvironmentVariable("RSLORA_CLI").isEmpty() || !QFileInfo::exists(qEnvironmentVariable("RSLORA_CLI")))
            QFAIL("RSLORA_CLI (the rslora executable) is not set");
        app::Workbench wb(m_dir.filePath("follow.sqlite"));
        ui::RunForm* form = wb.form();
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::TrainConfig c = form->config();
        c.threads = 1;
        form->setConfig(c);
        form->stagesEditor()->setPipelineName("follow");
        form->stagesEditor()->addStage();
        form->stagesEditor()->table()->item(0, ui::StagesEditor::Overrides)->setText("training.max_steps=120; training.log_every=5");
        const QStringList problems = form->validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QCOMPARE(wb.training()->currentRunId(), qint64(0));
        form->startButton()->click();
        QCOMPARE(wb.detachedRuns()->watching(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(wb.training()->currentRunId() > 0, 120000);
        const qint64 runId = wb.training()->currentRunId();
        const storage::RunRecord run = wb.store()->runs().require(runId);
        QCOMPARE(wb.store()->runs().tags(runId).at("pipeline"), std::string("follow"));
        QVERIFY2(wb.training()->titleText().contains("training in another process"), qPrintable(wb.training()->titleText()));
        QTRY_VERIFY_WITH_TIMEOUT(wb.training()->titleText().contains("finished"), 120000);
        QCOMPARE(wb.training()->progress()->text(), QString("120 / 120 steps"));
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
        QTRY_COMPARE_WITH_TIMEOUT(wb.detachedRuns()->watching(), 0, 30000);
    }

    // Copy CLI command on a form with stages gives the pipeline, which `rslora train` runs as the form's
    // Start pipeline does; it gave the base config alone, a single run without the stages.
    void copiedCommandOfAPipelineIsThePipeline() {
        app::Workbench wb(m_dir.filePath("pipeline-cli.sqlite"));
        QVERIFY(wb.openConfig(QString::fromStdString((resourcesDirectory() / "pipelines" / "demo-sft-dpo.yaml").string())));
        ui::RunForm* form = wb.form();
        QVERIFY(form->isPipeline());
        const QString cli = form->cliCommand();
        QVERIFY2(cli.startsWith("cat > pipeline.json <<'JSON'\n"), qPrintable(cli));
        QVERIFY2(cli.endsWith("\nJSON\nrslora train pipeline.json\n"), qPrintable(cli));
        const nlohmann::json j = nlohmann::json::parse(cli.mid(cli.indexOf('{'), cli.lastIndexOf('}') - cli.indexOf('{') + 1).toStdString());
        QVERIFY(engine::pipeline::PipelineConfig::isPipeline(j));
        QCOMPARE(j["pipeline"]["name"].get<std::string>(), std::string("demo-sft-dpo"));
        QCOMPARE(j["stages"].size(), size_t(2));
        QCOMPARE(j["stages"][0]["name"].get<std::string>(), std::string("answers"));
        QCOMPARE(j["stages"][1]["objective"].get<std::string>(), std::string("dpo"));
        QCOMPARE(j["stages"][1]["overrides"]["training"]["max_steps"].get<int>(), 120);
        QCOMPARE(j["base"]["adapter"]["r"].get<int>(), 8);

        form->stagesEditor()->removeStage(1);
        form->stagesEditor()->removeStage(0);
        QVERIFY(!form->isPipeline());
        QVERIFY2(form->cliCommand().endsWith("\nJSON\nrslora train run-config.json\n"), qPrintable(form->cliCommand()));
    }

    // The Stages editor's From column offers the store's versions as they are when the form is shown
    // and after a rename in the Adapters view, and a stage's `from:` is checked against them again:
    // it offered only those of the workbench's start (and of its own finished runs), and a version made
    // by `rslora` or a pipeline meanwhile stayed refused as "no such version".
    void stagesOfferTheVersionsTheStoreHoldsNow() {
        app::Workbench wb(m_dir.filePath("versions.sqlite"));
        ui::RunForm* form = wb.form();
        chooseTrainingFile(form, demoFile("facts_train.jsonl"));
        form->stagesEditor()->addStage();
        fromBox(form, 0)->setCurrentText("later_sft@v1");
        QVERIFY(form->validateNow().join('\n').contains("the store holds no such version"));
        QVERIFY(!form->startButton()->isEnabled());

        storage::NewAdapter n;
        n.task = "later_sft";
        n.rank = 4;
        const storage::AdapterRecord made = wb.store()->adapters().create(n); // as `rslora train` in another process
        showView(wb, wb.adapters());
        showView(wb, wb.form());
        QCOMPARE(form->stagesEditor()->storedVersions(), QStringList{"later_sft@v1"});
        QCOMPARE(offered(fromBox(form, 0)), (QStringList{"", "later_sft@v1"}));
        QCOMPARE(fromBox(form, 0)->currentText(), QString("later_sft@v1"));
        // The form checks again by itself (its validation follows the editor's changes).
        QTRY_VERIFY2(form->startButton()->isEnabled(), qPrintable(form->validateNow().join('\n')));

        // Renamed in the Adapters view: the old reference is refused again, the new one offered.
        showView(wb, wb.adapters());
        ui::AdaptersBrowser::Dialogs answers;
        answers.ask = [](const QString&, const QString&, const QString&) { return std::optional<QString>("renamed"); };
        answers.confirm = [](const QString&, const QString&) { return true; };
        QStringList warned;
        answers.warn = [&warned](const QString&, const QString& text) { warned << text; };
        wb.adapters()->setDialogs(answers);
        wb.adapters()->tree()->setCurrentIndex(wb.adapters()->model()->index(0, 0));
        QCOMPARE(wb.adapters()->selectedTask(), QString("later_sft"));
        wb.adapters()->renameCurrent();
        QVERIFY2(warned.isEmpty(), qPrintable(warned.join('\n')));
        QCOMPARE(QString::fromStdString(wb.store()->adapters().require(made.id).task), QString("renamed"));
        QCOMPARE(form->stagesEditor()->storedVersions(), QStringList{"renamed@v1"});
        QTRY_VERIFY(!form->startButton()->isEnabled());
        QVERIFY(form->validateNow().join('\n').contains("the store holds no such version"));
    }
};

QTEST_MAIN(JourneyTest)
#include "JourneyTest.moc"
