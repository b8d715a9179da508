// A sweep queued in the workbench with an evaluation: every run trains, its adapter version is
// evaluated at its end as `rslora sweep` evaluates it, and the Sweeps view shows the metric.
#include "app/gui/RunController.h"
#include "app/gui/SweepResultsController.h"
#include "app/gui/Workbench.h"

#include "ui/RunForm.h"
#include "ui/SweepResultsView.h"

#include "common/Paths.h"
#include "storage/Store.h"

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
    }
};

QTEST_MAIN(SweepEvaluationTest)
#include "SweepEvaluationTest.moc"
