#include "ui/TrainingPanel.h"

#include "ui/ChartsPanel.h"
#include "ui/ElidedLabel.h"

#include "common/ByteSize.h"

#include <QAction>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace rslora::ui {
namespace {
QString formatEta(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds))
        return "—";
    qint64 s = static_cast<qint64>(seconds + 0.5);
    if (s >= 3600)
        return QString("%1:%2:%3").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'));
    return QString("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}
} // namespace

TrainingPanel::TrainingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("trainingPanel");
    auto* outer = new QVBoxLayout(this);
    auto* head = new QHBoxLayout;
    // Run names can be long (a sweep's carry every swept value) and hold markup: elided, plain text.
    m_title = new ElidedLabel(Qt::ElideMiddle, this);
    setTitle(tr("No run in progress"), tr("start one from the New run tab."));
    m_title->setObjectName("runTitle");
    QFont f = m_title->font();
    f.setBold(true);
    m_title->setFont(f);
    head->addWidget(m_title, 1);
    m_pause = new QPushButton(this);
    m_pause->setObjectName("pauseRun");
    setPauseLabel(false);
    m_stopSave = new QPushButton(tr("Stop && save"), this);
    m_stopSave->setObjectName("stopSave");
    m_stopSave->setToolTip(tr("Stop after this step and save the adapter and a checkpoint (Ctrl+.)"));
    m_stopDiscard = new QPushButton(tr("Stop && discard"), this);
    m_stopDiscard->setObjectName("stopDiscard");
    m_stopDiscard->setToolTip(tr("Stop after this step without saving a final adapter"));
    for (QPushButton* b : {m_pause, m_stopSave, m_stopDiscard})
        head->addWidget(b);
    outer->addLayout(head);
    // The shortcuts are actions, not the buttons' own: a button's shortcut works only while the
    // button shows, and the window (MainWindow::addView) carries window-wide view actions to every tab.
    m_pauseAction = new QAction(tr("Pause or resume the run"), this);
    m_pauseAction->setObjectName("pauseRunAction");
    m_pauseAction->setShortcut(QKeySequence("Ctrl+P"));
    m_stopAction = new QAction(tr("Stop the run and save"), this);
    m_stopAction->setObjectName("stopSaveAction");
    m_stopAction->setShortcut(QKeySequence("Ctrl+."));
    for (QAction* a : {m_pauseAction, m_stopAction}) {
        a->setShortcutContext(Qt::WindowShortcut);
        addAction(a);
    }
    connect(m_pauseAction, &QAction::triggered, m_pause, &QPushButton::click);
    connect(m_stopAction, &QAction::triggered, m_stopSave, &QPushButton::click);

    auto* progressRow = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("runProgress");
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(QString());
    progressRow->addWidget(m_progress, 2);
    m_stats = new QLabel(this);
    m_stats->setObjectName("runStats");
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    progressRow->addWidget(m_stats, 3);
    outer->addLayout(progressRow);

    auto* split = new QSplitter(Qt::Horizontal, this);
    m_charts = new ChartsPanel(split);
    auto* queueBox = new QWidget(split);
    queueBox->setObjectName("queueBox");
    m_queueBox = queueBox;
    auto* qv = new QVBoxLayout(queueBox);
    qv->setContentsMargins(0, 0, 0, 0);
    qv->addWidget(new QLabel(tr("Queue"), queueBox));
    m_queue = new QListWidget(queueBox);
    m_queue->setObjectName("runQueue");
    qv->addWidget(m_queue, 1);
    auto* qButtons = new QHBoxLayout;
    m_queueUp = new QPushButton(tr("Up"), queueBox);
    m_queueUp->setObjectName("queueUp");
    m_queueUp->setToolTip(tr("Train the selected run earlier"));
    m_queueDown = new QPushButton(tr("Down"), queueBox);
    m_queueDown->setObjectName("queueDown");
    m_queueDown->setToolTip(tr("Train the selected run later"));
    m_queueCancel = new QPushButton(tr("Cancel"), queueBox);
    m_queueCancel->setObjectName("queueCancel");
    m_queueCancel->setToolTip(tr("Take the selected run out of the queue"));
    for (QPushButton* b : {m_queueUp, m_queueDown, m_queueCancel})
        qButtons->addWidget(b);
    qv->addLayout(qButtons);
    split->addWidget(m_charts);
    split->addWidget(queueBox);
    split->setStretchFactor(0, 5);
    split->setStretchFactor(1, 1);
    outer->addWidget(split, 1);
    // Shown while runs wait: empty, it took about a third of an 800-pixel window from the charts.
    queueBox->hide();

    auto selectedQueued = [this]() -> qint64 {
        QListWidgetItem* item = selectedItem();
        return item ? item->data(Qt::UserRole).toLongLong() : 0;
    };
    connect(m_queueUp, &QPushButton::clicked, this, [this, selectedQueued] { if (qint64 id = selectedQueued()) Q_EMIT moveQueuedRequested(id, -1); });
    connect(m_queueDown, &QPushButton::clicked, this, [this, selectedQueued] { if (qint64 id = selectedQueued()) Q_EMIT moveQueuedRequested(id, 1); });
    connect(m_queueCancel, &QPushButton::clicked, this, [this, selectedQueued] { if (qint64 id = selectedQueued()) Q_EMIT cancelQueuedRequested(id); });
    connect(m_queue, &QListWidget::itemSelectionChanged, this, &TrainingPanel::updateQueueButtons);
    connect(m_queue, &QListWidget::currentRowChanged, this, &TrainingPanel::updateQueueButtons);
    updateQueueButtons();
    connect(m_pause, &QPushButton::clicked, this, [this] {
        if (m_paused)
            Q_EMIT resumeRequested();
        else
            Q_EMIT pauseRequested();
    });
    connect(m_stopSave, &QPushButton::clicked, this, [this] { Q_EMIT stopRequested(true); });
    connect(m_stopDiscard, &QPushButton::clicked, this, [this] {
        // Nothing of the steps since the last checkpoint survives: asked first (default: keep training).
        if (!qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS")
            && QMessageBox::question(this, tr("Stop run #%1 without saving?").arg(m_runId),
                                     tr("Run #%1 stops without saving: the steps since its last checkpoint are lost and no "
                                        "adapter version is recorded.").arg(m_runId),
                                     QMessageBox::Yes | QMessageBox::No, QMessageBox::No)
                   != QMessageBox::Yes)
            return;
        Q_EMIT stopRequested(false);
    });
    setRunning(false);
}

QString TrainingPanel::statusText() const { return m_title->fullText() + " " + m_stats->text(); }

QString TrainingPanel::titleText() const { return m_title->fullText(); }

void TrainingPanel::setTitle(const QString& head, const QString& tail) {
    m_titleHead = head;
    m_titleTail = tail;
    m_title->setFullText(tail.isEmpty() ? head : head + " — " + tail);
}

void TrainingPanel::setPauseLabel(bool paused) {
    m_pause->setText(paused ? tr("Resume") : tr("Pause"));
    m_pause->setToolTip(paused ? tr("Resume training (Ctrl+P)") : tr("Pause after this step (Ctrl+P)"));
}

void TrainingPanel::setRunning(bool running) {
    for (QPushButton* b : {m_pause, m_stopSave, m_stopDiscard})
        b->setEnabled(running);
    // Without a run the keys are free for whatever else wants them.
    for (QAction* a : {m_pauseAction, m_stopAction})
        a->setEnabled(running);
}

void TrainingPanel::beginRun(qint64 runId, const QString& name) {
    m_runId = runId;
    m_paused = false;
    setPauseLabel(false);
    setTitle(tr("Run #%1 %2").arg(runId).arg(name), tr("starting"));
    // An earlier failed run's red title must not carry over to this one.
    m_title->setStyleSheet(QString());
    m_stats->clear();
    setProgress(0, 0);
    m_charts->clear();
    setRunning(true);
    Q_EMIT runShown(runId, name);
}

void TrainingPanel::setQueue(const QList<QPair<qint64, QString>>& waiting) {
    const qint64 selected = selectedItem() ? selectedItem()->data(Qt::UserRole).toLongLong() : 0;
    m_queue->clear();
    for (const auto& [id, name] : waiting) {
        auto* item = new QListWidgetItem(QString("#%1 %2").arg(id).arg(name), m_queue);
        item->setData(Qt::UserRole, id);
        if (id == selected)
            m_queue->setCurrentItem(item);
    }
    m_queueBox->setVisible(!waiting.isEmpty());
    updateQueueButtons();
}

QListWidgetItem* TrainingPanel::selectedItem() const {
    // The current item counts only when it shows as selected: the buttons act on what the user sees.
    QListWidgetItem* item = m_queue->currentItem();
    return item && item->isSelected() ? item : nullptr;
}

void TrainingPanel::updateQueueButtons() {
    QListWidgetItem* item = selectedItem();
    const int row = item ? m_queue->row(item) : -1;
    m_queueUp->setEnabled(item && row > 0);
    m_queueDown->setEnabled(item && row < m_queue->count() - 1);
    m_queueCancel->setEnabled(item != nullptr);
}

void TrainingPanel::dropEta() {
    static const QRegularExpression eta(QStringLiteral(" · ETA [^·]*"));
    m_stats->setText(m_stats->text().remove(eta));
}

void TrainingPanel::setPaused(bool paused) {
    m_paused = paused;
    setPauseLabel(paused);
    setTitle(m_titleHead, paused ? tr("paused") : tr("training"));
    // A paused run's ETA would count a time that is not running (the next step shows it again).
    if (paused)
        dropEta();
}

void TrainingPanel::endRun(const QString& outcome, bool failed) {
    setRunning(false);
    // An ETA means nothing once the run has ended.
    dropEta();
    setTitle(m_titleHead, outcome);
    m_title->setStyleSheet(failed ? "color: #c62828;" : QString());
}

void TrainingPanel::showStoredRun(qint64 runId, const QString& name, qint64 step, qint64 totalSteps) {
    m_runId = runId;
    m_paused = false;
    setPauseLabel(false);
    setTitle(tr("Run #%1 %2").arg(runId).arg(name), tr("from the store"));
    m_title->setStyleSheet(QString());
    m_stats->clear();
    setProgress(step, totalSteps);
    m_charts->clear();
    setRunning(false);
    Q_EMIT runShown(runId, name);
}

void TrainingPanel::setProgress(qint64 step, qint64 totalSteps) {
    // Without a total (before the first step, or a stored run sized by epochs) the bar stays empty
    // and says only the step reached, never "0 / 1 steps".
    if (totalSteps <= 0) {
        m_progress->setRange(0, 1);
        m_progress->setValue(0);
        m_progress->setFormat(step > 0 ? tr("step %1").arg(step) : QString());
        return;
    }
    m_progress->setFormat("%v / %m steps");
    m_progress->setRange(0, static_cast<int>(std::min<qint64>(totalSteps, INT32_MAX)));
    m_progress->setValue(static_cast<int>(std::min<qint64>(std::clamp<qint64>(step, 0, totalSteps), INT32_MAX)));
}

void TrainingPanel::onStep(const engine::StepStats& s) {
    if (s.totalSteps > 0)
        setProgress(s.step, s.totalSteps);
    if (!m_paused && m_titleTail != tr("training"))
        setTitle(m_titleHead, tr("training"));
    // GPU runs show the CUDA allocator's peaks, CPU runs the process's peak resident set.
    const QString memory = s.cudaPeakReservedBytes > 0
        ? tr(" · VRAM %1 (reserved %2)")
              .arg(QString::fromStdString(formatBytes(s.cudaPeakAllocatedBytes)),
                   QString::fromStdString(formatBytes(s.cudaPeakReservedBytes)))
        : s.peakMemoryBytes > 0 ? tr(" · memory %1").arg(QString::fromStdString(formatBytes(s.peakMemoryBytes)))
                                : QString();
    m_stats->setText(tr("loss %1 · lr %2 · ‖∇‖ %3 · %4 tok/s%7 · ETA %5 · epoch %6")
                         .arg(s.loss, 0, 'f', 4)
                         .arg(s.learningRate, 0, 'g', 3)
                         .arg(s.gradNorm, 0, 'g', 3)
                         .arg(s.tokensPerSecond, 0, 'f', 0)
                         .arg(formatEta(s.etaSeconds))
                         .arg(s.epoch)
                         .arg(memory));
    CurvePoint p;
    p.step = static_cast<double>(s.step);
    // Fractional epoch from progress through the run.
    p.epoch = s.totalSteps > 0 ? s.epoch + 0.0 : 0.0;
    p.tokens = static_cast<double>(s.tokensSeen);
    p.wallTime = s.elapsedSeconds;
    m_lastEpoch = p.epoch;
    m_lastTokens = p.tokens;
    m_lastWall = p.wallTime;
    auto add = [&](const char* key, double v) {
        CurvePoint q = p;
        q.value = v;
        m_charts->addMetric(key, q);
    };
    add("train/loss", s.loss);
    add("train/lr", s.learningRate);
    add("train/grad_norm", s.gradNorm);
    add("train/tokens_per_s", s.tokensPerSecond);
    for (const auto& [key, value] : s.objectiveMetrics)
        add(key.c_str(), value);
    if (!s.modules.empty()) {
        QStringList names;
        QVector<double> ratios;
        names.reserve(static_cast<int>(s.modules.size()));
        for (const auto& m : s.modules) {
            names << QString::fromStdString(m.module);
            ratios << (m.ratioEma > 0 ? m.ratioEma : m.ratio);
        }
        m_charts->addBalance(p, names, ratios);
    }
}

void TrainingPanel::onEval(const engine::EvalStats& e) {
    CurvePoint p;
    p.step = static_cast<double>(e.step);
    p.epoch = m_lastEpoch;
    p.tokens = m_lastTokens;
    p.wallTime = m_lastWall;
    p.value = e.loss;
    m_charts->addMetric("eval/loss", p);
    for (const auto& [key, value] : e.metrics) {
        if (key == "eval/loss")
            continue;
        p.value = value;
        m_charts->addMetric(QString::fromStdString(key), p);
    }
}

void TrainingPanel::onStatus(const QString& message) {
    setTitle(m_titleHead, message);
}

} // namespace rslora::ui
