// A sweep queued in the workbench with an evaluation: every run trains, its adapter version is
// evaluated at its end as `rslora sweep` evaluates it, and the Sweeps view shows the metric.
#include "app/gui/RunController.h"
#include "app/gui/SweepResultsController.h"
#include "app/gui/Workbench.h"

#include "ui/RunForm.h"
#include "ui/SweepResultsView.h"

#include "app/shared/SweepGroup.h"
#include "engine/Evaluator.h"
#include "engine/TrainConfig.h"
#include "common/Error.h"
#include "common/Paths.h"
#include "storage/Store.h"

#include <QFile>
#include <QSettings>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

using namespace rslora;

class SweepEvaluationTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void everyRunIsEvaluatedAtItsEnd() {
        qputenv("RSLORA_NO_DIALOGS", "1");
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.filePath("settings"));
        app::Workbench wb(m_dir.filePath("eval.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::TrainConfig config = wb.form()->config();
        config.maxSteps = 3;
        engine::SweepSpec spec;
        spec.addVary("adapter.r=2,4");
        spec.setEvaluation("exact_match", (demoDataDirectory() / "facts_val.jsonl").string());
        spec.setEvaluation("limit", 4);
        spec.setEvaluation("max_new_tokens", 8);
        const qint64 gid = wb.queueSweep("evaluated", config, spec);
        QTRY_VERIFY_WITH_TIMEOUT(!wb.controller()->busy() && wb.controller()->waiting().isEmpty(), 300000);
        wb.sweepResults()->waitForEvaluations();
        for (const auto& m : wb.store()->groups().members(gid)) {
            const auto run = wb.store()->runs().require(m.runId);
            QCOMPARE(run.status, storage::RunStatus::Finished);
            storage::AdapterFilter filter;
            bool evaluated = false;
            for (const auto& a : wb.store()->adapters().list(filter))
                if (a.sourceRunId && *a.sourceRunId == m.runId)
                    for (const auto& e : wb.store()->evaluations().forAdapter(a.id))
                        evaluated = evaluated || (e.metric == "exact_match/accuracy" && e.runId && *e.runId == m.runId);
            QVERIFY2(evaluated, qPrintable(QString("run #%1 has no stored exact match").arg(m.runId)));
        }
        wb.sweepResults()->refresh();
        QTableWidget* t = wb.sweeps()->table();
        QCOMPARE(t->rowCount(), 2);
        int column = -1;
        for (int c = 0; c < t->columnCount(); ++c)
            if (t->horizontalHeaderItem(c)->text().startsWith("exact match ↑"))
                column = c;
        QVERIFY(column > 0);
        QVERIFY2(t->item(0, column)->text().endsWith("(n=1)"), qPrintable(t->item(0, column)->text()));

        // An evaluation recorded by something else (another dataset, no run) never enters the numbers.
        const auto members = wb.store()->groups().members(gid);
        const int64_t firstRun = members[0].runId;
        const auto firstAdapter = wb.store()->queries().newestAdapterOf(firstRun);
        QVERIFY(firstAdapter);
        auto valueOf = [&](int64_t runId) {
            for (const auto& r : app::SweepGroup::results(*wb.store(), gid))
                if (r.runId == runId)
                    return r.metrics.count("exact_match/accuracy") ? r.metrics.at("exact_match/accuracy") : -1.0;
            return -2.0;
        };
        const double own = valueOf(firstRun);
        QVERIFY(own >= 0);
        storage::EvaluationRecord foreign;
        foreign.adapterId = *firstAdapter;
        foreign.dataset = "other_val.jsonl";
        foreign.metric = "exact_match/accuracy";
        foreign.value = own + 0.5;
        wb.store()->evaluations().record(foreign);
        QCOMPARE(valueOf(firstRun), own);

        // A run whose evaluation was lost (failed, or the sweep stopped during it) is listed and
        // evaluated again by Resume.
        QVERIFY(app::SweepGroup::unevaluated(*wb.store(), gid).empty());
        wb.store()->database().exec("DELETE FROM evaluations WHERE run_id = " + std::to_string(members[1].runId));
        const auto lost = app::SweepGroup::unevaluated(*wb.store(), gid);
        QCOMPARE(lost.size(), size_t(1));
        QCOMPARE(lost[0].first, members[1].runId);
        const auto resumed = wb.sweepResults()->resume(gid);
        QCOMPARE(resumed.queued, 0);
        QCOMPARE(resumed.evaluations, 1);
        wb.sweepResults()->waitForEvaluations();
        QVERIFY(app::SweepGroup::unevaluated(*wb.store(), gid).empty());
        QVERIFY(valueOf(members[1].runId) >= 0);

        // `rslora eval --record` of the same version on the same file name replaces the run's row:
        // the run counts as not evaluated, and Resume evaluates it again.
        storage::EvaluationRecord replacing = foreign;
        replacing.dataset = "facts_val.jsonl";
        wb.store()->evaluations().record(replacing);
        const auto replaced = app::SweepGroup::unevaluated(*wb.store(), gid);
        QCOMPARE(replaced.size(), size_t(1));
        QCOMPARE(replaced[0].first, firstRun);
        QCOMPARE(wb.sweepResults()->resume(gid).evaluations, 1);
        wb.sweepResults()->waitForEvaluations();
        QVERIFY(app::SweepGroup::unevaluated(*wb.store(), gid).empty());
        QCOMPARE(valueOf(firstRun), own);

        // A run trained on top of a stage (adapter.stack_on) with the stack as its DPO reference is
        // evaluated as it trained: policy = stage + its adapter, reference = the stage, its beta.
        const auto stage = wb.store()->adapters().require(*wb.store()->queries().newestAdapterOf(members[0].runId));
        const auto top = wb.store()->adapters().require(*wb.store()->queries().newestAdapterOf(members[1].runId));
        engine::TrainConfig stacked = config;
        stacked.adapter.stackOn = {stage.path};
        stacked.dpo.reference = engine::DpoReference::Stack;
        stacked.dpo.beta = 0.3;
        storage::RunRecord row;
        row.name = "stacked";
        row.status = storage::RunStatus::Finished;
        row.configJson = stacked.toJson().dump();
        const int64_t stackedRun = wb.store()->runs().create(row);
        engine::SweepSpec prefs;
        prefs.setEvaluation("preference", (demoDataDirectory() / "prefs_val.jsonl").string());
        prefs.setEvaluation("limit", 6);
        app::SweepGroup::evaluateRun(*wb.store(), prefs, stackedRun, top.id);
        engine::EvalRequest by;
        by.modelPath = stacked.modelPath;
        by.adapterPaths = {stage.path, top.path};
        by.referenceAdapterPaths = {stage.path};
        by.dpo.beta = 0.3;
        by.maxSeqLen = stacked.maxSeqLen;
        by.chatTemplate = stacked.chatTemplate;
        by.preferenceData = prefs.evaluate["preference"].get<std::string>();
        by.limit = 6;
        const engine::EvalReport expected = engine::runEvaluation(by);
        const auto stored = wb.store()->evaluations().get(top.id, "prefs_val.jsonl", "preference/margin");
        QVERIFY(stored && stored->runId && *stored->runId == stackedRun);
        QVERIFY2(std::abs(stored->value - expected.preference->margin()) < 1e-9,
                 qPrintable(QString("%1 vs %2").arg(stored->value).arg(expected.preference->margin())));
        QVERIFY(std::abs(expected.preference->margin()) > 1e-6); // the stack and the reference matter
    }

    // Evaluation files are read when the sweep is made: a typo is refused before any run trains.
    void evaluationFilesAreCheckedFirst() {
        engine::SweepSpec spec;
        spec.addVary("adapter.r=2,4");
        spec.setEvaluation("exact_match", m_dir.filePath("missing.jsonl").toStdString());
        auto errorOf = [&] {
            try {
                app::SweepGroup::checkEvaluationFiles(spec);
            } catch (const Error& e) {
                return QString(e.what());
            }
            return QString();
        };
        QVERIFY2(errorOf().contains("sweep.evaluate.exact_match") && errorOf().contains("no such file"), qPrintable(errorOf()));
        spec.setEvaluation("exact_match", m_dir.path().toStdString());
        QVERIFY2(errorOf().contains("not a file"), qPrintable(errorOf()));
        spec.evaluate.erase("exact_match");
        spec.setEvaluation("preference", (demoDataDirectory() / "facts_val.jsonl").string());
        QVERIFY2(errorOf().contains("expected a preference record"), qPrintable(errorOf()));
        spec.setEvaluation("preference", (demoDataDirectory() / "prefs_val.jsonl").string());
        QVERIFY2(errorOf().isEmpty(), qPrintable(errorOf()));
        // A pair evaluation refuses (here an empty "rejected") is refused now too, with its line: it
        // passed this check, and every run trained before its evaluation failed on it.
        const QString blank = m_dir.filePath("blank-prefs.jsonl");
        QFile f(blank);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"prompt\": \"Hi?\", \"chosen\": \"Hello.\", \"rejected\": \"Go.\"}\n"
                "{\"prompt\": \"Hi?\", \"chosen\": [{\"role\": \"assistant\", \"content\": \"Hello.\"}], "
                "\"rejected\": [{\"role\": \"assistant\", \"content\": \"\"}]}\n");
        f.close();
        spec.setEvaluation("preference", blank.toStdString());
        QVERIFY2(errorOf().contains("sweep.evaluate.preference " + blank + ": blank-prefs.jsonl line 2: \"rejected\" is empty"),
                 qPrintable(errorOf()));
    }

    // The sweep dialog checks its spec (every run's data read as the trainer reads it) after each
    // edit: a data file read once is not read again while it is unchanged, and a changed one is.
    void changedDataIsCheckedAgain() {
        const QString data = m_dir.filePath("changing.jsonl");
        QVERIFY(QFile::copy(QString::fromStdString((demoDataDirectory() / "facts_train.jsonl").string()), data));
        QFile::setPermissions(data, QFile::ReadOwner | QFile::WriteOwner);
        engine::TrainConfig config = engine::TrainConfig::load((demoDataDirectory().parent_path() / "demo-config.json").string());
        config.trainData = data.toStdString();
        engine::SweepSpec spec;
        spec.addVary("adapter.r=2,4");
        spec.seeds = 3;
        QCOMPARE(app::SweepGroup::validate(config.toJson(), spec), 6);
        QFile f(data);
        QVERIFY(f.open(QIODevice::Append));
        f.write("{\"instruction\": \"What is 2?\", \"output\": 2}\n");
        f.close();
        QString error;
        try {
            app::SweepGroup::validate(config.toJson(), spec);
        } catch (const Error& e) {
            error = e.what();
        }
        QVERIFY2(error.contains("changing.jsonl line 233: field \"output\" must be a string"), qPrintable(error));
    }
};

QTEST_MAIN(SweepEvaluationTest)
#include "SweepEvaluationTest.moc"
