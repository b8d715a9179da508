#include "app/gui/CloseGuard.h"

#include "app/gui/CliLauncher.h"
#include "app/gui/RunController.h"

#include "common/Log.h"
#include "engine/ConfigPaths.h"
#include "storage/Store.h"

#include <QDir>
#include <QMessageBox>
#include <QPushButton>
#include <QStringList>

#include <nlohmann/json.hpp>

namespace rslora::app {

bool CloseGuard::confirm() {
    if (!m_controller.busy())
        return true;
    int choice = m_choice;
    if (choice < 0) {
        choice = ask();
        if (choice < 0)
            return false;
        if (!m_controller.busy())
            return true; // it ended meanwhile; the queued runs stay queued for the next session
    }
    const qint64 runId = m_controller.currentRunId();
    const std::string configJson = m_store.runs().require(runId).configJson;
    m_controller.shutdown(true);
    if (choice == 1)
        handOver(runId, configJson);
    return true;
}

int CloseGuard::ask() {
    // While the question is open no queued run starts: the answer is about the run it names.
    const bool wasHeld = m_controller.queueHeld();
    m_controller.holdQueue(true);
    QMessageBox box(QMessageBox::Question, m_controller.paused() ? tr("A run is paused") : tr("A run is training"), question(),
                    QMessageBox::NoButton, m_window);
    const QString queue = queueNote();
    if (!queue.isEmpty())
        box.setInformativeText(queue);
    QPushButton* stop = box.addButton(tr("Stop with checkpoint"), QMessageBox::AcceptRole);
    QPushButton* headless = box.addButton(tr("Keep training headless"), QMessageBox::ActionRole);
    box.addButton(QMessageBox::Cancel);
    // The run may end while the question is open: say so, and closing then stops nothing.
    const QMetaObject::Connection ended = QObject::connect(&m_controller, &RunController::runEnded, &box, [&](const JobOutcome& o) {
        box.setText(tr("Run #%1 ended while this question was open (%2); nothing is training now.").arg(o.runId).arg(o.status));
        stop->setText(tr("Close"));
        headless->hide();
    });
    box.exec();
    QObject::disconnect(ended);
    if (box.clickedButton() == stop)
        return 0;
    if (box.clickedButton() == headless)
        return 1;
    m_controller.holdQueue(wasHeld);
    return -1;
}

void CloseGuard::handOver(qint64 runId, const std::string& configJson) {
    // The checkpoint just written is continued by the CLI in its own session, recorded in the same
    // store; the workbench shows it as running when reopened. The CLI reads relative paths from the
    // config file's folder; the run's meant the workbench's.
    nlohmann::json stored = nlohmann::json::parse(configJson);
    engine::resolveConfigPaths(stored, QDir::currentPath().toStdString());
    const engine::TrainConfig handed = engine::TrainConfig::fromJson(stored);
    const QString configPath = QDir(QString::fromStdString(handed.outputDir)).filePath("headless-config.json");
    handed.save(configPath.toStdString());
    QString why;
    try {
        CliLauncher::start({"train", configPath, "--resume", "latest", "--quiet", "--run-id", QString::number(runId), "--db",
                            m_databasePath},
                           QDir(QString::fromStdString(handed.outputDir)).filePath("headless.log"));
    } catch (const std::exception& e) {
        why = QString::fromStdString(e.what());
    }
    if (why.isEmpty())
        return;
    rslora::logError("run " + std::to_string(runId) + " was not handed over: " + why.toStdString() +
                     "; it stopped with a checkpoint and can be resumed from the Runs view");
    if (m_choice < 0)
        QMessageBox::warning(m_window, tr("Run #%1 stopped").arg(runId),
                             tr("The run could not continue headless: %1. It stopped with a checkpoint; resume it from the "
                                "Runs view.").arg(why));
}

QString CloseGuard::question() const {
    return (m_controller.paused() ? tr("Run #%1 is paused. Stop it with a checkpoint, or keep training headless with rslora?")
                                  : tr("Run #%1 is still training. Stop it with a checkpoint, or keep training headless with rslora?"))
        .arg(m_controller.currentRunId());
}

QString CloseGuard::queueNote() const {
    const QList<QPair<qint64, QString>> waiting = m_controller.waiting();
    if (waiting.isEmpty())
        return {};
    QStringList ids;
    for (const auto& [id, name] : waiting)
        ids << QString("#%1").arg(id);
    return tr("%n queued run(s) (%1) stay queued: they start when you open the workbench again, after a run that "
              "continues headless has ended.", nullptr, static_cast<int>(waiting.size())).arg(ids.join(", "));
}

} // namespace rslora::app
