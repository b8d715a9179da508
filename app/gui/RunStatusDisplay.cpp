#include "app/gui/RunStatusDisplay.h"

#include <QLabel>
#include <QProgressBar>
#include <QStatusBar>

#include <algorithm>

namespace rslora::app {

RunStatusDisplay::RunStatusDisplay(QStatusBar* bar) : QObject(bar), m_bar(bar), m_label(new QLabel), m_progress(new QProgressBar) {
    m_progress->setMaximumWidth(180);
    m_progress->setMaximumHeight(16);
    m_progress->hide();
    bar->addWidget(m_label);
    bar->addWidget(m_progress);
    // Added under the window's "Ready", the label was hidden by the status bar as if on purpose, and so
    // never shown again when a message went: it is left hidden as a message hides it, to come back
    // with the message's end (a run's start clears it).
    m_label->setAttribute(Qt::WA_WState_ExplicitShowHide, false);
}

void RunStatusDisplay::begin(qint64 runId, bool training, const QString& text) {
    m_runId = runId;
    m_training = training;
    m_last.reset();
    m_paused = false;
    m_label->setText(text);
}

void RunStatusDisplay::starting(qint64 runId) {
    begin(runId, true, tr("Run #%1 starting").arg(runId));
    m_progress->show();
    m_progress->setRange(0, 0);
}

QString RunStatusDisplay::stepText() const {
    const engine::StepStats& s = *m_last;
    if (m_paused)
        return tr("Run #%1 · paused at step %2/%3").arg(m_runId).arg(s.step).arg(s.totalSteps);
    const qint64 eta = static_cast<qint64>(s.etaSeconds);
    return tr("Run #%1 · step %2/%3 · %4 tok/s · ETA %5:%6")
        .arg(m_runId).arg(s.step).arg(s.totalSteps)
        .arg(s.tokensPerSecond, 0, 'f', 0).arg(eta / 60).arg(eta % 60, 2, 10, QChar('0'));
}

void RunStatusDisplay::step(const engine::StepStats& s) {
    m_last = s;
    m_progress->setRange(0, static_cast<int>(std::max<int64_t>(1, s.totalSteps)));
    m_progress->setValue(static_cast<int>(s.step));
    m_label->setText(stepText());
}

void RunStatusDisplay::setPaused(bool paused) {
    if (!m_training)
        return;
    m_paused = paused;
    if (m_last)
        m_label->setText(stepText());
    else if (paused)
        m_label->setText(tr("Run #%1 paused").arg(m_runId));
    else
        m_label->setText(tr("Run #%1 starting").arg(m_runId));
}

void RunStatusDisplay::following(qint64 runId) {
    begin(runId, false, tr("Run #%1 training in another process").arg(runId));
}

void RunStatusDisplay::followedProgress(qint64 step, qint64 total) {
    if (total <= 0)
        m_progress->hide();
    else if (m_bar->currentMessage().isEmpty())
        m_progress->show();
    m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, total)));
    m_progress->setValue(static_cast<int>(std::min(step, std::max<qint64>(1, total))));
}

void RunStatusDisplay::ended(const QString& text) {
    m_training = false;
    m_progress->hide();
    m_label->setText(text);
}

} // namespace rslora::app
