// The pipeline parts of the views: the Stages editor of the new-run form (add, remove, reorder, each
// stage's data, overrides and stored version; the form starts a pipeline), stage boundaries marked
// on the curves, and the stage stack of a version in the adapters browser.
#include "ui/AdaptersBrowser.h"
#include "ui/BalanceHeatMap.h"
#include "ui/ChartsPanel.h"
#include "ui/CurvePlot.h"
#include "ui/RunForm.h"
#include "ui/StagesEditor.h"

#include "storage/LineageRepository.h"
#include "storage/Store.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QTreeView>
#include <QtTest>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

using namespace rslora;
using engine::pipeline::CurriculumSchedule;
using engine::pipeline::StageSpec;

class StagesTest : public QObject {
    Q_OBJECT

private slots:
    void editorAddRemoveReorder()
    {
        ui::StagesEditor editor;
        QVERIFY(!editor.isPipeline());
        editor.addStage();
        editor.addStage();
        editor.addStage();
        QCOMPARE(editor.stages().size(), size_t(3));
        editor.table()->item(0, ui::StagesEditor::Name)->setText("general");
        editor.table()->item(0, ui::StagesEditor::Data)->setText("general.jsonl");
        editor.table()->item(1, ui::StagesEditor::Name)->setText("domain");
        editor.table()->item(1, ui::StagesEditor::Overrides)->setText("training.max_steps=50; adapter.r=4; data.chat_template=chatml");
        editor.table()->item(2, ui::StagesEditor::Name)->setText("align");
        editor.moveStage(2, -1); // align before domain
        auto s = editor.stages();
        QCOMPARE(s[0].name, std::string("general"));
        QCOMPARE(s[1].name, std::string("align"));
        QCOMPARE(s[2].name, std::string("domain"));
        QCOMPARE(s[0].data["train"].get<std::string>(), std::string("general.jsonl"));
        QCOMPARE(s[2].overrides["training"]["max_steps"].get<int>(), 50);
        QCOMPARE(s[2].overrides["adapter"]["r"].get<int>(), 4);
        QCOMPARE(s[2].overrides["data"]["chat_template"].get<std::string>(), std::string("chatml"));
        editor.removeStage(1);
        s = editor.stages();
        QCOMPARE(s.size(), size_t(2));
        QCOMPARE(s[1].name, std::string("domain"));

        // A stored version picked as the start, curriculum and merge round-trip through the table.
        editor.setStoredVersions({"chat_sft@v1", "chat_sft@v2"});
        auto* from = static_cast<QComboBox*>(editor.table()->cellWidget(1, ui::StagesEditor::From));
        QCOMPARE(from->count(), 3);
        from->setCurrentText("chat_sft@v2");
        StageSpec spec = editor.stages()[1];
        QCOMPARE(spec.from, std::string("chat_sft@v2"));
        spec.curriculum = {CurriculumSchedule::Cosine, 0.4};
        spec.mergeIntoBase = true;
        editor.setStages({editor.stages()[0], spec});
        const StageSpec back = editor.stages()[1];
        QVERIFY(back.curriculum.schedule == CurriculumSchedule::Cosine);
        QCOMPARE(back.curriculum.floor, 0.4);
        QVERIFY(back.mergeIntoBase);

        editor.table()->item(0, ui::StagesEditor::Overrides)->setText("max_steps 3");
        QCOMPARE(editor.problems().size(), 1);
        QVERIFY(editor.problems()[0].contains("stage 'general'"));
    }

    // Move up / Move down move a row as typed: an override that is not section.key=value (shown as a
    // problem to correct) was dropped from the text, and the rest reformatted, by reading the rows as
    // stages and writing them back. Every wrong part is named, not only the last one.
    void reorderingKeepsWhatWasTyped()
    {
        ui::StagesEditor editor;
        editor.addStage();
        editor.addStage();
        const QString typed = "training.max_steps = 50;max_steps 3";
        editor.table()->item(0, ui::StagesEditor::Name)->setText("first");
        editor.table()->item(0, ui::StagesEditor::Overrides)->setText(typed);
        static_cast<QComboBox*>(editor.table()->cellWidget(0, ui::StagesEditor::Objective))->setCurrentText("dpo");
        editor.table()->item(1, ui::StagesEditor::Name)->setText("second");
        QSignalSpy changed(&editor, &ui::StagesEditor::changed);
        editor.moveStage(0, +1);
        QCOMPARE(changed.count(), 1);
        QCOMPARE(editor.table()->item(0, ui::StagesEditor::Name)->text(), QString("second"));
        QCOMPARE(editor.table()->item(1, ui::StagesEditor::Name)->text(), QString("first"));
        QCOMPARE(editor.table()->item(1, ui::StagesEditor::Overrides)->text(), typed);
        QCOMPARE(editor.stages()[1].objective, std::string("dpo"));
        QCOMPARE(editor.stages()[0].objective, std::string("sft"));
        QCOMPARE(editor.stages()[1].overrides["training"]["max_steps"].get<int>(), 50);
        QCOMPARE(editor.table()->currentRow(), 1);
        QCOMPARE(editor.problems().size(), 1);
        QVERIFY2(editor.problems()[0].contains("stage 'first'") && editor.problems()[0].contains("'max_steps 3'"),
                 qPrintable(editor.problems()[0]));

        editor.table()->item(1, ui::StagesEditor::Overrides)->setText("oops; training.max_steps=5; nope");
        QCOMPARE(editor.problems().size(), 1);
        QVERIFY2(editor.problems()[0].contains("'oops'") && editor.problems()[0].contains("'nope'"),
                 qPrintable(editor.problems()[0]));
    }

    // With stages, the form starts a pipeline whose base is the form's config.
    void formStartsPipeline()
    {
        ui::RunForm form;
        form.setRemembersState(false);
        QVERIFY(!form.isPipeline());
        QCOMPARE(form.startButton()->text(), QString("Start run"));
        form.stagesEditor()->addStage();
        form.stagesEditor()->setPipelineName("assistant");
        form.validateNow();
        QVERIFY(form.isPipeline());
        QCOMPARE(form.startButton()->text(), QString("Start pipeline"));
        const auto p = form.pipelineConfig();
        QCOMPARE(p.name, std::string("assistant"));
        QCOMPARE(p.stages.size(), size_t(1));
        QCOMPARE(p.base["adapter"]["r"], form.config().toJson()["adapter"]["r"]);
        // A `from` that the store does not hold is a problem of the form.
        form.stagesEditor()->setStoredVersions({"a@v1"});
        static_cast<QComboBox*>(form.stagesEditor()->table()->cellWidget(0, ui::StagesEditor::From))->setCurrentText("b@v3");
        const QStringList problems = form.validateNow();
        bool named = false;
        for (const QString& m : problems)
            named = named || (m.contains("from 'b@v3'") && m.contains("the store holds no such version"));
        QVERIFY2(named, qPrintable(problems.join('\n')));
    }

    // A curriculum floor its box cannot take stays as typed and is a problem of its stage (the box
    // dropped the keys past its range: 1.5 became 1).
    void floorOutOfRangeIsAProblemOfItsStage()
    {
        ui::StagesEditor editor;
        editor.addStage();
        auto* floor = static_cast<QDoubleSpinBox*>(editor.table()->cellWidget(0, ui::StagesEditor::Floor));
        QSignalSpy changed(&editor, &ui::StagesEditor::changed);
        floor->selectAll();
        QTest::keyClicks(floor, "1.5");
        QTest::keyClick(floor, Qt::Key_Enter);
        QCOMPARE(floor->text(), QString("1.5"));
        QVERIFY(changed.count() > 0);
        QCOMPARE(editor.problems(), QStringList{"stage 'stage1': curriculum floor: '1.5' is out of range: enter a number from 0 to 1"});
        floor->selectAll();
        QTest::keyClicks(floor, "0.25");
        QTest::keyClick(floor, Qt::Key_Enter);
        QVERIFY(editor.problems().isEmpty());
        QCOMPARE(editor.stages()[0].curriculum.floor, 0.25);
        // A stage whose name was cleared goes by its number ("stage ''" named nothing).
        editor.table()->item(0, ui::StagesEditor::Name)->setText("");
        floor->selectAll();
        QTest::keyClicks(floor, "-1");
        QTest::keyClick(floor, Qt::Key_Enter);
        QCOMPARE(editor.problems(), QStringList{"stage 1: curriculum floor: '-1' is out of range: enter a number from 0 to 1"});
    }

    // A stage moved while its floor holds text the box cannot take keeps that text and its problem
    // (the move put the box's last value, 0, there without a word); the other stage's floor moves as typed.
    void movedStageKeepsFloorAsTyped()
    {
        ui::StagesEditor editor;
        editor.addStage();
        editor.addStage();
        auto floorAt = [&](int row) { return static_cast<QDoubleSpinBox*>(editor.table()->cellWidget(row, ui::StagesEditor::Floor)); };
        floorAt(0)->selectAll();
        QTest::keyClicks(floorAt(0), "1.5");
        floorAt(1)->selectAll();
        QTest::keyClicks(floorAt(1), "0.3");
        const QString problem = "stage 'stage1': curriculum floor: '1.5' is out of range: enter a number from 0 to 1";
        QCOMPARE(editor.problems(), QStringList{problem});

        editor.moveStage(0, +1);
        QCOMPARE(editor.table()->item(1, ui::StagesEditor::Name)->text(), QString("stage1"));
        QCOMPARE(floorAt(1)->text(), QString("1.5"));
        QCOMPARE(floorAt(0)->text(), QString("0.3"));
        QCOMPARE(editor.stages()[0].curriculum.floor, 0.3);
        QCOMPARE(editor.problems(), QStringList{problem});

        editor.moveStage(1, -1);
        QCOMPARE(floorAt(0)->text(), QString("1.5"));
        QCOMPARE(floorAt(1)->text(), QString("0.3"));
        QCOMPARE(editor.problems(), QStringList{problem});
        floorAt(0)->selectAll();
        QTest::keyClicks(floorAt(0), "0.5");
        QVERIFY(editor.problems().isEmpty());
        QCOMPARE(editor.stages()[0].curriculum.floor, 0.5);
    }

    // File > Open config…: a pipeline file fills the sections and the Stages editor; a training config
    // clears the stages; a broken file leaves the form as it was and names the problem.
    void formOpensConfigFiles()
    {
        const QByteArray resources = qgetenv("RSLORA_RESOURCES");
        QVERIFY(!resources.isEmpty());
        ui::RunForm form;
        form.setRemembersState(false);
        QString error;
        const QString demo = QString::fromUtf8(resources) + "/pipelines/demo-sft-dpo.yaml";
        QVERIFY2(form.openConfigFile(demo, &error), qPrintable(error));
        QVERIFY(form.isPipeline());
        QCOMPARE(form.stagesEditor()->pipelineName(), QString("demo-sft-dpo"));
        auto stages = form.stagesEditor()->stages();
        QCOMPARE(stages.size(), size_t(2));
        QCOMPARE(stages[1].objective, std::string("dpo"));
        QVERIFY(QString::fromStdString(stages[1].data["train"].get<std::string>()).endsWith("demo/data/prefs_train.jsonl"));
        QCOMPARE(stages[1].overrides["dpo"]["rpo_alpha"].get<double>(), 1.0);
        // The stages' validation files (no column of their own) are kept, shown among the overrides.
        for (int i = 0; i < 2; ++i) {
            const QString validation = QString::fromStdString(
                engine::pipeline::PipelineConfig::load(demo.toStdString()).stageConfig(size_t(i)).validationData);
            QVERIFY2(form.stagesEditor()->table()->item(i, ui::StagesEditor::Overrides)->text().contains("data.validation=" + validation),
                     qPrintable(form.stagesEditor()->table()->item(i, ui::StagesEditor::Overrides)->text()));
        }
        QVERIFY(QString::fromStdString(stages[1].overrides["data"]["validation"].get<std::string>()).endsWith("demo/data/prefs_val.jsonl"));
        QVERIFY(QString::fromStdString(stages[0].overrides["data"]["validation"].get<std::string>()).endsWith("demo/data/facts_val.jsonl"));
        QVERIFY(QString::fromStdString(form.config().modelPath).endsWith("demo/model"));
        QCOMPARE(form.config().adapter.rank, 8);
        const QStringList formProblems = form.validateNow();
        QVERIFY2(formProblems.isEmpty(), qPrintable(formProblems.join('\n')));
        QVERIFY(form.startButton()->isEnabled());
        // The pipeline as the form would start it is the file's pipeline.
        const auto p = form.pipelineConfig();
        QCOMPARE(p.stages.size(), size_t(2));
        QVERIFY(p.problems().empty());
        QVERIFY(QString::fromStdString(p.stageConfig(1).validationData).endsWith("demo/data/prefs_val.jsonl"));
        // Reordering keeps them too.
        form.stagesEditor()->moveStage(1, -1);
        QVERIFY(QString::fromStdString(form.pipelineConfig().stageConfig(0).validationData)
                    .endsWith("demo/data/prefs_val.jsonl"));
        form.stagesEditor()->moveStage(0, +1);

        QTemporaryDir tmp;
        const QString broken = tmp.filePath("broken.yaml");
        {
            QFile f(broken);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("training:\n  max_steps: [1, 2\n");
        }
        QVERIFY(!form.openConfigFile(broken, &error));
        QVERIFY2(error.contains("broken.yaml"), qPrintable(error));
        QCOMPARE(form.stagesEditor()->stages().size(), size_t(2)); // unchanged

        const QString single = tmp.filePath("single.json");
        engine::TrainConfig c = form.config();
        c.adapter.rank = 16;
        c.save(single.toStdString());
        QVERIFY2(form.openConfigFile(single, &error), qPrintable(error));
        QVERIFY(!form.isPipeline());
        QCOMPARE(form.config().adapter.rank, 16);
    }

    void stageBoundariesOnCurves()
    {
        ui::CurvePlot plot("loss", "loss");
        plot.addPoints("train/loss", {{1, 0, 0, 0, 2.0}, {2, 0, 0, 0, 1.5}});
        plot.setStepMarks({{0.0, "general"}, {60.0, "domain"}});
        QCOMPARE(plot.stepMarkCount(), 2);
        QCOMPARE(plot.plot()->itemCount(), 2 + 2 * 2); // the crosshair's two items, a line and a label per mark
        plot.setXAxis(ui::XAxis::Tokens);
        QCOMPARE(plot.plot()->itemCount(), 2); // marks are steps: not drawn on another axis
        plot.setXAxis(ui::XAxis::Step);
        QCOMPARE(plot.plot()->itemCount(), 6);
        plot.clear();
        QCOMPARE(plot.stepMarkCount(), 0);
    }

    // The balance heat map of a stored pipeline run marks where each stage begins, as the curves do
    // (its stages' columns ran together unmarked).
    void stageBoundariesOnTheHeatMap()
    {
        ui::ChartsPanel panel;
        for (int step = 10; step <= 80; step += 10)
            panel.addBalance({double(step), 0, 0, 0, 0}, {"model.layers.0.self_attn.q_proj"}, {step < 50 ? 0.5 : 2.0});
        panel.setStepMarks({{0.0, "answers"}, {50.0, "style"}});
        ui::BalanceHeatMap* map = panel.heatMap();
        QCOMPARE(map->stepMarkCount(), 4); // a line and a label per stage
        QStringList labels;
        for (int i = 0; i < map->plot()->itemCount(); ++i)
            if (auto* text = qobject_cast<QCPItemText*>(map->plot()->item(i)))
                labels << text->text();
        QCOMPARE(labels, QStringList({"answers", "style"}));
        bool atStyle = false;
        for (int i = 0; i < map->plot()->itemCount(); ++i)
            if (auto* line = qobject_cast<QCPItemStraightLine*>(map->plot()->item(i)))
                atStyle = atStyle || line->point1->coords().x() == 50.0;
        QVERIFY(atStyle);
        map->replot();
        panel.clear(); // another run: its marks go with its columns
        QCOMPARE(map->stepMarkCount(), 0);
        QCOMPARE(map->plot()->itemCount(), 0);
    }

    // A version trained on top of two earlier stages shows the stack, bottom to top, with weights.
    void adapterShowsStageStack()
    {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("s.sqlite").toStdString());
        auto version = [&](const std::string& task, const std::string& stage) {
            storage::NewAdapter n;
            n.task = task;
            n.variant = "lora";
            n.stage = stage;
            return store.adapters().create(n).id;
        };
        const int64_t a = version("p_a", "a"), b = version("p_b", "b"), c = version("p_c", "c");
        auto edge = [&](int64_t parent, const char* relation, double weight, int position) {
            storage::LineageEdge e;
            e.childId = c;
            e.parentId = parent;
            e.weight = weight;
            e.method = relation;
            e.detailsJson = nlohmann::json{{"relation", relation}, {"position", position}}.dump();
            store.lineage().add(e);
        };
        edge(b, "stacked-on", 0.3, 2);
        edge(a, "merged-into-base", 1.0, 1);
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        browser.selectAdapter(c);
        const QString html = browser.details()->toPlainText();
        QVERIFY2(html.contains("Stage stack (bottom to top)"), qPrintable(html));
        const int ia = html.indexOf("merged into the base"), ib = html.indexOf("frozen, weight 0.3"), ic = html.indexOf("trained in this stage (c)");
        QVERIFY2(ia > 0 && ib > ia && ic > ib, qPrintable(html));
    }
};

QTEST_MAIN(StagesTest)
#include "StagesTest.moc"
