// The New run form's Start on a large data set: the whole-data check (every record read, tokenized
// and split as training reads it) runs on a worker thread. The window keeps answering, Start says the
// check is under way and takes no second press, the run queued is the config that was checked
// whatever the form says by then, a bad record at the end of the file is refused in the same words as
// the check on the GUI thread gave, with nothing recorded, and a workbench closed during the check
// records nothing.
#include "app/gui/RunController.h"
#include "app/gui/RunStarter.h"
#include "app/gui/Workbench.h"
#include "WorkbenchTestSupport.h"

#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/RunForm.h"

#include "models/ModelConfig.h"
#include "models/ModelLoader.h"
#include "storage/Store.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <random>

using namespace rslora;

namespace {

// How long the GUI thread went without running its event loop while a start was checked: a timer
// fires every 10 ms and each firing measures the time since the one before.
class LoopWatch {
public:
    LoopWatch() {
        m_timer.setInterval(10);
        QObject::connect(&m_timer, &QTimer::timeout, [this] {
            m_longest = std::max(m_longest, m_clock.restart());
            ++m_ticks;
        });
        m_clock.start();
        m_timer.start();
    }
    qint64 longestGapMs() const { return m_longest; }
    int ticks() const { return m_ticks; }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_longest = 0;
    int m_ticks = 0;
};

// Collects the text of each warning box shown, and closes it.
class WarningCloser {
public:
    WarningCloser() {
        QObject::connect(&m_timer, &QTimer::timeout, [this] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                texts << box->windowTitle() + ": " + box->text();
                box->close();
            }
        });
        m_timer.start(20);
    }
    QStringList texts;

private:
    QTimer m_timer;
};

} // namespace

class StartCheckTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_model, m_big, m_badBig;

    void fillForm(ui::RunForm* form, const QString& data, int maxSteps) {
        form->modelSection()->setPath(m_model);
        auto* train = form->findChild<QLineEdit*>("data.train.edit");
        train->setText(data);
        Q_EMIT train->editingFinished();
        form->findChild<QSpinBox*>("adapter.r")->setValue(4);
        form->findChild<QSpinBox*>("training.max_steps")->setValue(maxSteps);
        form->findChild<QSpinBox*>("training.batch_size")->setValue(4);
        form->findChild<QSpinBox*>("data.max_seq_len")->setValue(32);
    }

    static size_t runRows(app::Workbench& wb) { return wb.store()->runs().list({}).size(); }

private Q_SLOTS:
    void init() { QSettings().clear(); }

    void initTestCase() {
        workbenchtest::isolate(m_dir);
        m_model = workbenchtest::saveTinyLlama(m_dir.filePath("tiny-model"));
        // 150,000 pre-tokenized records (counting patterns); the bad copy ends in an id past the
        // vocabulary, which only reading the whole file finds.
        QByteArray records;
        std::mt19937 rng(3);
        for (int i = 0; i < 150000; ++i) {
            const int start = static_cast<int>(rng() % 40);
            nlohmann::json ids = nlohmann::json::array();
            for (int t = 0; t < 16; ++t)
                ids.push_back(start + t);
            records += QByteArray::fromStdString(nlohmann::json{{"input_ids", ids}}.dump() + "\n");
        }
        m_big = m_dir.filePath("big.jsonl");
        m_badBig = m_dir.filePath("big-bad-last-line.jsonl");
        QFile big(m_big), bad(m_badBig);
        QVERIFY(big.open(QIODevice::WriteOnly) && bad.open(QIODevice::WriteOnly));
        big.write(records);
        bad.write(records + "{\"input_ids\": [1, 2, 64, 3]}\n");
    }

    // The event loop runs all through the check; Start shows it is under way and neither a second
    // press nor a change of the form makes a second run or changes the one queued.
    void bigDataKeepsTheWindowAnswering() {
        app::Workbench wb(m_dir.filePath("big.sqlite"));
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        fillForm(wb.form(), m_big, 1000);
        // The form's own preview of the file (read when a field changed) is read now, not at the click.
        QVERIFY(wb.form()->validateFieldsAsTyped().isEmpty());
        QPushButton* start = wb.form()->startButton();
        auto* label = wb.window()->statusBar()->findChild<QLabel*>("startCheckLabel");
        auto* busy = wb.window()->statusBar()->findChild<QProgressBar*>("startCheckBusy");
        QVERIFY(label && busy);
        QVERIFY(!label->isVisible() && !busy->isVisible());

        QElapsedTimer check;
        check.start();
        LoopWatch watch;
        QTest::mouseClick(start, Qt::LeftButton);
        const qint64 clickMs = check.elapsed();
        QVERIFY2(wb.starter()->checking(), "the check ended within the click: it ran on the GUI thread");
        QVERIFY(!start->isEnabled());
        QCOMPARE(start->text(), QString("Checking data…"));
        QVERIFY(label->isVisible() && busy->isVisible() && busy->maximum() == 0);
        QCOMPARE(label->text(), QString("Checking big.jsonl…"));
        QCOMPARE(runRows(wb), size_t(0));
        QVERIFY(!wb.controller()->busy());

        // Meanwhile: another value in the form (validation would enable Start again), Start pressed
        // again (the button and its shortcut), and a start asked for directly.
        wb.form()->findChild<QSpinBox*>("training.max_steps")->setValue(77);
        QTest::qWait(200); // the form's validation timer
        QVERIFY(!start->isEnabled());
        QCOMPARE(start->text(), QString("Checking data…"));
        QTest::mouseClick(start, Qt::LeftButton);
        QTest::keyClick(wb.form(), Qt::Key_Return, Qt::ControlModifier);
        QVERIFY(!wb.starter()->start(wb.form()->config(), "again"));

        QTRY_VERIFY_WITH_TIMEOUT(!wb.starter()->checking(), 120000);
        const qint64 checkMs = check.elapsed();
        const qint64 longest = watch.longestGapMs();
        qInfo("click returned after %lld ms; the check took %lld ms; the event loop's longest pause was %lld ms (%d timer ticks)",
              clickMs, checkMs, longest, watch.ticks());
        // On the GUI thread the check froze the window for all of its time (the click returned when
        // the run was queued); now the longest pause is a small part of it.
        QVERIFY2(longest * 2 < checkMs, qPrintable(QString("the window froze for %1 ms of the check's %2 ms").arg(longest).arg(checkMs)));
        QVERIFY(watch.ticks() >= 5);

        // One run, the one checked (1000 steps, not the 77 typed during the check), now training.
        QTRY_VERIFY_WITH_TIMEOUT(wb.controller()->busy(), 10000);
        const std::vector<storage::RunRecord> runs = wb.store()->runs().list({});
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(nlohmann::json::parse(runs.front().configJson)["training"]["max_steps"].get<int>(), 1000);
        QVERIFY(wb.controller()->waiting().isEmpty());
        // Start is the form's again: enabled (the form changed: 77 steps is another run), not busy.
        QVERIFY(!label->isVisible() && !busy->isVisible());
        QCOMPARE(start->text(), QString("Start run"));
        QVERIFY(start->isEnabled());
        QSignalSpy ended(wb.controller(), &app::RunController::runEnded);
        wb.controller()->stop(false);
        QVERIFY(ended.wait(60000));
    }

    // A bad record on the last line of the big file: refused when the check reaches it, with the
    // message the check gives on any thread, nothing recorded, Start back for another try.
    void badRecordAtTheEndIsRefused() {
        app::Workbench wb(m_dir.filePath("bad.sqlite"));
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        fillForm(wb.form(), m_badBig, 5);
        QVERIFY(wb.form()->validateFieldsAsTyped().isEmpty());
        QString expected;
        try {
            app::RunController::checkData(wb.form()->config());
        } catch (const std::exception& e) {
            expected = QString::fromStdString(e.what());
        }
        QVERIFY2(expected.contains(m_badBig + ":") && expected.contains("input_ids[2] = 64 is outside the model's vocabulary"),
                 qPrintable(expected));
        WarningCloser warnings;
        QSignalSpy refused(wb.starter(), &app::RunStarter::refused);
        QElapsedTimer check;
        check.start();
        LoopWatch watch;
        QTest::mouseClick(wb.form()->startButton(), Qt::LeftButton);
        QVERIFY(wb.starter()->checking());
        QTRY_COMPARE_WITH_TIMEOUT(refused.count(), 1, 120000);
        QVERIFY2(watch.longestGapMs() * 2 < check.elapsed(),
                 qPrintable(QString("the window froze for %1 ms of the check's %2 ms").arg(watch.longestGapMs()).arg(check.elapsed())));
        QCOMPARE(refused.front().at(0).toString(), expected);
        QCOMPARE(warnings.texts, QStringList{"Cannot queue the run: " + expected});
        QCOMPARE(runRows(wb), size_t(0));
        QVERIFY(!wb.controller()->busy());
        QVERIFY(!wb.starter()->checking());
        QVERIFY(wb.form()->startButton()->isEnabled());
        QCOMPARE(wb.form()->startButton()->text(), QString("Start run"));
    }

    // The window closed during the check (the close accepted, the workbench then gone, or gone at
    // once): no run row, no run started, no crash.
    void closingDuringTheCheckRecordsNothing() {
        const QString db = m_dir.filePath("close.sqlite");
        {
            app::Workbench wb(db);
            fillForm(wb.form(), m_big, 5);
            QTest::mouseClick(wb.form()->startButton(), Qt::LeftButton);
            QVERIFY(wb.starter()->checking());
            QVERIFY(wb.confirmClose());
            // The event loop goes on a moment after the close: the check's end queues nothing.
            QTRY_VERIFY_WITH_TIMEOUT(!wb.starter()->checking(), 120000);
            QTest::qWait(100);
            QCOMPARE(runRows(wb), size_t(0));
            QVERIFY(!wb.controller()->busy());
        }
        {
            app::Workbench wb(db);
            fillForm(wb.form(), m_big, 5);
            QTest::mouseClick(wb.form()->startButton(), Qt::LeftButton);
            QVERIFY(wb.starter()->checking());
        } // gone with the check under way
        QTest::qWait(100);
        app::Workbench reopened(db);
        QCOMPARE(runRows(reopened), size_t(0));
        QVERIFY(!reopened.controller()->busy());
    }
};

QTEST_MAIN(StartCheckTest)
#include "StartCheckTest.moc"
