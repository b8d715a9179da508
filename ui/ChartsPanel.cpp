#include "ui/ChartsPanel.h"

#include "ui/BalanceHeatMap.h"
#include "ui/CurvePlot.h"
#include "ui/ExportFolder.h"
#include "ui/FlowLayout.h"

#include "engine/objectives/DpoMetricNames.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QTimer>
#include <QVBoxLayout>

#include <vector>

namespace rslora::ui {
namespace {

// Where each metric key is drawn: chart id and series name. One table, used by addMetric().
struct MetricRoute {
    QString key;
    const char* chart;
    const char* series;
};

const std::vector<MetricRoute>& routes() {
    using namespace engine::objectives;
    auto step = [](const char* key) { return QString::fromStdString(dpoStepMetric(key)); };
    auto eval = [](const char* key) { return QString::fromStdString(dpoEvalMetric(key)); };
    static const std::vector<MetricRoute> table{
        {"train/loss", "loss", "train"},
        {"eval/loss", "loss", "eval"},
        {"train/lr", "lr", "learning rate"},
        {"train/grad_norm", "grad_norm", "global grad norm"},
        {"train/tokens_per_s", "throughput", "tokens/s"},
        // Preference training (shown once such a metric arrives).
        {step(kDpoRewardsChosen), "dpo_rewards", "chosen"},
        {step(kDpoRewardsRejected), "dpo_rewards", "rejected"},
        {eval(kDpoRewardsChosen), "dpo_rewards", "eval chosen"},
        {eval(kDpoRewardsRejected), "dpo_rewards", "eval rejected"},
        {step(kDpoMargin), "dpo_margin", "train"},
        {eval(kDpoMargin), "dpo_margin", "eval"},
        {step(kDpoAccuracy), "dpo_accuracy", "train"},
        {eval(kDpoAccuracy), "dpo_accuracy", "eval"},
    };
    return table;
}

bool isPreferenceChart(const QString& id) { return id.startsWith("dpo_"); }

} // namespace

ChartsPanel::ChartsPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("chartsPanel");
    auto* outer = new QVBoxLayout(this);
    // Two groups of controls side by side, or one above the other when the panel is too narrow for
    // both (squeezed into one row they were cut to "Smoot", "Cli", "set vi"). The panel's minimum
    // width is the wider group's: with both groups' it held the Training view, and so the window,
    // wider than an 800-pixel screen, never narrow enough for the groups to stack.
    auto* controlRows = new FlowLayout;
    controlRows->setContentsMargins(0, 0, 0, 0);
    auto* group = new QWidget(this);
    auto* controls = new QHBoxLayout(group);
    controls->setContentsMargins(0, 0, 0, 0);
    controls->addWidget(new QLabel(tr("Smoothing"), this));
    m_smoothing = new QSlider(Qt::Horizontal, this);
    m_smoothing->setObjectName("smoothing");
    m_smoothing->setRange(0, 99);
    m_smoothing->setValue(60);
    m_smoothing->setMaximumWidth(160);
    m_smoothing->setToolTip(tr("Exponential moving average weight; 0 draws the raw values only. The raw curve stays visible underneath."));
    controls->addWidget(m_smoothing);
    m_smoothingLabel = new QLabel("0.60", this);
    m_smoothingLabel->setMinimumWidth(32);
    controls->addWidget(m_smoothingLabel);
    m_logY = new QCheckBox(tr("Log y"), this);
    m_logY->setObjectName("logY");
    controls->addWidget(m_logY);
    m_clip = new QCheckBox(tr("Clip outliers"), this);
    m_clip->setToolTip(tr("Fit the y range to the 1st–99th percentile so spikes do not flatten the curve"));
    controls->addWidget(m_clip);
    controlRows->addWidget(group);
    group = new QWidget(this);
    controls = new QHBoxLayout(group);
    controls->setContentsMargins(0, 0, 0, 0);
    controls->addWidget(new QLabel(tr("x axis"), this));
    m_xAxis = new QComboBox(this);
    m_xAxis->setObjectName("xAxis");
    m_xAxis->addItems({tr("Step"), tr("Epoch"), tr("Tokens"), tr("Wall time")});
    controls->addWidget(m_xAxis);
    auto* reset = new QPushButton(tr("Reset view"), this);
    reset->setToolTip(tr("Follow the data again after zooming or panning (or double-click a chart)"));
    controls->addWidget(reset);
    auto* exportButton = new QPushButton(tr("Export…"), this);
    exportButton->setToolTip(tr("Write every chart as PNG, PDF and CSV into a folder"));
    controls->addWidget(exportButton);
    controlRows->addWidget(group);
    for (QWidget* w : {static_cast<QWidget*>(m_logY), static_cast<QWidget*>(m_clip), static_cast<QWidget*>(m_xAxis),
                       static_cast<QWidget*>(reset), static_cast<QWidget*>(exportButton)})
        w->setMinimumWidth(w->sizeHint().width()); // never cut: the groups stack instead
    outer->addLayout(controlRows);

    auto* grid = new QGridLayout;
    grid->setSpacing(6);
    grid->addWidget(addChart("loss", tr("Loss"), tr("loss")), 0, 0);
    grid->addWidget(addChart("lr", tr("Learning rate"), tr("lr")), 0, 1);
    grid->addWidget(addChart("grad_norm", tr("Global gradient norm"), tr("‖∇‖")), 0, 2);
    grid->addWidget(addChart("throughput", tr("Throughput"), tr("tokens/s")), 1, 0);
    auto* balanceBox = new QWidget(this);
    auto* balanceLayout = new QVBoxLayout(balanceBox);
    balanceLayout->setContentsMargins(0, 0, 0, 0);
    m_moduleChooser = new QComboBox(balanceBox);
    m_moduleChooser->setObjectName("balanceModule");
    m_moduleChooser->setToolTip(tr("Module whose balance ρ̄ = EMA of ‖∇A‖/‖∇B‖ is drawn below"));
    balanceLayout->addWidget(m_moduleChooser);
    balanceLayout->addWidget(addChart("balance", tr("Balance of one module"), tr("ρ̄")), 1);
    grid->addWidget(balanceBox, 1, 1);
    m_heatMap = new BalanceHeatMap(this);
    grid->addWidget(m_heatMap, 1, 2);
    for (int c = 0; c < 3; ++c)
        grid->setColumnStretch(c, 1);
    grid->setRowStretch(0, 1);
    grid->setRowStretch(1, 1);
    // The rows of charts scroll when the window is too low for them all: the third (preference) row
    // would otherwise raise the window's minimum height above a 768-pixel screen.
    auto* scroll = new QScrollArea(this);
    scroll->setObjectName("chartsScroll");
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    // Narrower than the charts' minimum (a small window): scrolled sideways rather than cut off.
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    auto* rows = new QWidget(scroll);
    auto* rowsLayout = new QVBoxLayout(rows);
    rowsLayout->setContentsMargins(0, 0, 0, 0);
    rowsLayout->addLayout(grid, 2);
    scroll->setWidget(rows);
    outer->addWidget(scroll, 1);
    // Preference training's charts: a third row, hidden until a run logs them.
    m_preferenceRow = new QWidget(rows);
    m_preferenceRow->setObjectName("preferenceCharts");
    auto* prefs = new QHBoxLayout(m_preferenceRow);
    prefs->setContentsMargins(0, 0, 0, 0);
    prefs->setSpacing(6);
    prefs->addWidget(addChart("dpo_rewards", tr("Rewards (chosen / rejected)"), tr("β·log π/π_ref")), 1);
    prefs->addWidget(addChart("dpo_margin", tr("Reward margin"), tr("margin")), 1);
    prefs->addWidget(addChart("dpo_accuracy", tr("Preference accuracy"), tr("share of pairs")), 1);
    m_preferenceRow->hide();
    rowsLayout->addWidget(m_preferenceRow, 1);

    connect(m_smoothing, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 100.0); });
    connect(m_logY, &QCheckBox::toggled, this, &ChartsPanel::setLogY);
    connect(m_clip, &QCheckBox::toggled, this, [this](bool on) {
        for (CurvePlot* c : std::as_const(m_charts))
            c->setClipOutliers(on);
    });
    connect(m_xAxis, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int i) { setXAxis(static_cast<XAxis>(i)); });
    connect(reset, &QPushButton::clicked, this, [this] {
        for (CurvePlot* c : std::as_const(m_charts))
            c->resetView();
    });
    connect(exportButton, &QPushButton::clicked, this, [this] {
        // Said before a folder is chosen: an empty view has nothing to write.
        if (!hasData()) {
            QMessageBox::information(this, tr("Nothing to export"), nothingToExport());
            return;
        }
        QString dir = QFileDialog::getExistingDirectory(this, tr("Export charts to folder"), ExportFolder::initial());
        if (dir.isEmpty())
            return;
        ExportFolder::remember(dir);
        exportTo(dir);
    });
    connect(m_moduleChooser, &QComboBox::currentTextChanged, this, &ChartsPanel::showBalanceOf);

    m_timer = new QTimer(this);
    m_timer->setInterval(40);
    connect(m_timer, &QTimer::timeout, this, &ChartsPanel::replotNow);
    m_timer->start();
}

CurvePlot* ChartsPanel::addChart(const QString& id, const QString& title, const QString& yLabel) {
    auto* chart = new CurvePlot(title, yLabel, this);
    chart->setObjectName("chart_" + id);
    chart->setSmoothing(m_smoothing ? m_smoothing->value() / 100.0 : 0.6);
    m_charts.insert(id, chart);
    m_chartOrder << id;
    return chart;
}

bool ChartsPanel::addMetric(const QString& key, const CurvePoint& point) {
    for (const auto& route : routes()) {
        if (key == route.key) {
            if (isPreferenceChart(route.chart) && m_preferenceRow->isHidden())
                m_preferenceRow->show();
            m_charts.value(route.chart)->addPoints(route.series, {point});
            return true;
        }
    }
    return false;
}

QStringList ChartsPanel::chartedKeys() {
    QStringList keys;
    for (const auto& route : routes())
        keys << route.key;
    return keys;
}

void ChartsPanel::addBalance(const CurvePoint& at, const QStringList& modules, const QVector<double>& ratios) {
    m_heatMap->addColumn(at.step, modules, ratios);
    if (m_moduleChooser->count() == 0 && !modules.isEmpty()) {
        QSignalBlocker block(m_moduleChooser);
        m_moduleChooser->addItems(BalanceHeatMap::inLayerOrder(modules)); // the heat map's row order
    }
    const QString shown = m_moduleChooser->currentText();
    for (int i = 0; i < modules.size() && i < ratios.size(); ++i) {
        CurvePoint p = at;
        p.value = ratios[i];
        m_balanceHistory[modules[i]].push_back(p);
        if (modules[i] == shown)
            m_charts.value("balance")->addPoints(shown, {p});
    }
}

void ChartsPanel::showBalanceOf(const QString& module) {
    CurvePlot* chart = m_charts.value("balance");
    chart->clear();
    chart->addPoints(module, m_balanceHistory.value(module));
}

void ChartsPanel::setStepMarks(const QVector<QPair<double, QString>>& marks) {
    for (CurvePlot* c : std::as_const(m_charts))
        c->setStepMarks(marks);
    m_heatMap->setStepMarks(marks);
}

void ChartsPanel::clear() {
    for (CurvePlot* c : std::as_const(m_charts))
        c->clear();
    m_heatMap->clear();
    m_preferenceRow->hide();
    m_balanceHistory.clear();
    QSignalBlocker block(m_moduleChooser);
    m_moduleChooser->clear();
}

void ChartsPanel::setSmoothing(double weight) {
    m_smoothingLabel->setText(QString::number(weight, 'f', 2));
    for (CurvePlot* c : std::as_const(m_charts))
        c->setSmoothing(weight);
}

void ChartsPanel::setLogY(bool on) {
    for (const QString& id : {QStringLiteral("loss"), QStringLiteral("lr"), QStringLiteral("grad_norm")})
        m_charts.value(id)->setLogY(on);
}

void ChartsPanel::setXAxis(XAxis axis) {
    for (CurvePlot* c : std::as_const(m_charts))
        c->setXAxis(axis);
}

void ChartsPanel::replotNow() {
    QElapsedTimer t;
    t.start();
    for (CurvePlot* c : std::as_const(m_charts))
        c->replot();
    m_heatMap->replot();
    m_lastTickMs = t.nsecsElapsed() / 1e6;
}

bool ChartsPanel::hasData() const {
    for (const CurvePlot* c : m_charts)
        for (const QString& name : c->seriesNames())
            if (c->series(name) && c->series(name)->size() > 0)
                return true;
    return m_heatMap->columnCount() > 0;
}

QString ChartsPanel::nothingToExport() const {
    return tr("No chart has any points yet: start a run, or open one from the Runs view, then export.");
}

QStringList ChartsPanel::exportedCharts() const {
    QStringList ids;
    for (const QString& id : m_chartOrder)
        if (!isPreferenceChart(id) || !m_preferenceRow->isHidden()) // a run without preference metrics has nothing to draw there
            ids << id;
    return ids;
}

QStringList ChartsPanel::existingExportFiles(const QString& folder) const {
    QStringList existing;
    const QDir dir(folder);
    QStringList ids = exportedCharts();
    ids << QStringLiteral("balance_heatmap");
    for (const QString& id : std::as_const(ids))
        for (const char* suffix : {".png", ".pdf", ".csv"})
            if (QFileInfo::exists(dir.filePath(id + suffix)))
                existing << id + suffix;
    return existing;
}

bool ChartsPanel::exportTo(const QString& folder) {
    if (!hasData()) {
        QMessageBox::information(this, tr("Nothing to export"), nothingToExport());
        return false;
    }
    const QStringList existing = existingExportFiles(folder);
    if (!existing.isEmpty() && !qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS")) {
        const QString named = existing.size() > 3 ? QStringList(existing.mid(0, 3)).join(", ") + tr(", …") : existing.join(", ");
        if (QMessageBox::question(this, tr("Replace exported charts?"),
                                  tr("%1 already holds %n of the files the export writes (%2). Replace them?", "", int(existing.size()))
                                      .arg(QDir::toNativeSeparators(folder), named),
                                  QMessageBox::Yes | QMessageBox::No, QMessageBox::No)
            != QMessageBox::Yes)
            return false;
    }
    QString error;
    if (!exportAll(folder, &error)) {
        QMessageBox::warning(this, tr("Export failed"), error);
        return false;
    }
    return true;
}

bool ChartsPanel::exportAll(const QString& folder, QString* error) {
    if (!hasData()) {
        if (error)
            *error = nothingToExport();
        return false;
    }
    QDir dir(folder);
    if (!dir.exists() && !dir.mkpath(".")) {
        if (error)
            *error = tr("cannot create folder %1").arg(folder);
        return false;
    }
    const QStringList charts = exportedCharts();
    for (const QString& id : charts) {
        CurvePlot* c = m_charts.value(id);
        if (!c->exportPng(dir.filePath(id + ".png")) || !c->exportPdf(dir.filePath(id + ".pdf")) || !c->exportCsv(dir.filePath(id + ".csv"), error)) {
            if (error && error->isEmpty())
                *error = tr("cannot write the %1 chart into %2").arg(id, folder);
            return false;
        }
    }
    if (!m_heatMap->exportPng(dir.filePath("balance_heatmap.png")) || !m_heatMap->exportPdf(dir.filePath("balance_heatmap.pdf"))
        || !m_heatMap->exportCsv(dir.filePath("balance_heatmap.csv"), error)) {
        if (error && error->isEmpty())
            *error = tr("cannot write the balance heat map into %1").arg(folder);
        return false;
    }
    Q_EMIT exported(tr("Exported %1 charts and the balance heat map (PNG, PDF, CSV) to %2")
                        .arg(charts.size())
                        .arg(QDir::toNativeSeparators(dir.absolutePath())));
    return true;
}

} // namespace rslora::ui
