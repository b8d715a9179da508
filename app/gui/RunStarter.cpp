#include "app/gui/RunStarter.h"

#include "app/gui/BackgroundJob.h"
#include "app/gui/RunController.h"

#include "ui/RunForm.h"

#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QStatusBar>

namespace rslora::app {

RunStarter::RunStarter(RunController& controller, ui::RunForm* form, QStatusBar* statusBar, QWidget* window, QObject* parent)
    : QObject(parent), m_controller(controller), m_form(form), m_window(window), m_job(new BackgroundJob(this)) {
    // Permanent widgets (on the right): a message in the status bar does not hide them, and the run
    // progress on the left stays the training run's.
    m_label = new QLabel;
    m_label->setObjectName("startCheckLabel");
    m_busy = new QProgressBar;
    m_busy->setObjectName("startCheckBusy");
    m_busy->setRange(0, 0);
    m_busy->setMaximumWidth(100);
    m_busy->setMaximumHeight(16);
    m_busy->setTextVisible(false);
    statusBar->addPermanentWidget(m_label);
    statusBar->addPermanentWidget(m_busy);
    m_label->hide();
    m_busy->hide();
}

RunStarter::~RunStarter() {
    // The job's thread is joined when the job (a child) goes; its continuation never runs then.
    m_abandoned = true;
}

bool RunStarter::start(const engine::TrainConfig& config, const QString& name) {
    if (m_checking)
        return false;
    try {
        m_controller.refuseDuplicate(config);
    } catch (const std::exception& e) {
        refuse(QString::fromStdString(e.what()));
        return false;
    }
    m_abandoned = false;
    // The check reads a copy: the form may change meanwhile, and the run queued is the one checked.
    const bool started = m_job->start([this, config, name](const BackgroundJob::Progress&) -> std::function<void()> {
        QString error;
        try {
            RunController::checkData(config);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
            if (error.isEmpty())
                error = tr("the data check failed without a message");
        }
        return [this, config, name, error] { finish(config, name, error); };
    });
    if (started)
        setChecking(true, QFileInfo(QString::fromStdString(config.trainData)).fileName());
    return started;
}

void RunStarter::abandon() {
    m_abandoned = true;
}

void RunStarter::finish(const engine::TrainConfig& config, const QString& name, const QString& error) {
    setChecking(false);
    if (m_abandoned)
        return;
    if (!error.isEmpty()) {
        refuse(error);
        return;
    }
    qint64 id = 0;
    try {
        id = m_controller.enqueueChecked(config, name);
    } catch (const std::exception& e) {
        refuse(QString::fromStdString(e.what()));
        return;
    }
    Q_EMIT queued(id);
}

void RunStarter::refuse(const QString& message) {
    QMessageBox::warning(m_window, tr("Cannot queue the run"), message);
    Q_EMIT refused(message);
}

void RunStarter::setChecking(bool checking, const QString& what) {
    m_checking = checking;
    m_form->setStartChecking(checking);
    m_label->setText(tr("Checking %1…").arg(what));
    m_label->setToolTip(tr("Every record is read as training reads it; the run is queued when none is refused"));
    m_label->setVisible(checking);
    m_busy->setVisible(checking);
}

} // namespace rslora::app
