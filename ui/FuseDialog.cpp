#include "ui/FuseDialog.h"

#include "ui/GridSearchPanel.h"
#include "ui/SourceWeights.h"
#include "ui/numbers/NumberEntry.h"

#include "engine/fusion/FusionPlan.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>

namespace rslora::ui {

namespace {
namespace ef = engine::fusion;

// A tab's page in a scroll area: on a small screen (800x600) the dialog can be made smaller than the
// page, which then scrolls, instead of reaching past the screen with its buttons.
QWidget* scrolled(QWidget* page) {
    auto* area = new QScrollArea;
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    area->setWidget(page);
    return area;
}

std::optional<ef::FusionMethod> methodOf(const QString& name) {
    for (ef::FusionMethod m : ef::fusionMethods())
        if (name.toStdString() == ef::fusionMethodName(m))
            return m;
    return std::nullopt;
}

QString methodHelp(ef::FusionMethod method) {
    switch (method) {
    case ef::FusionMethod::Exact: return FuseDialog::tr("Σ λᵢ ΔWᵢ exactly, as one adapter of rank Σ rᵢ (no cross terms, no error).");
    case ef::FusionMethod::Svd: return FuseDialog::tr("The exact sum re-compressed to a target rank, or to the smallest rank keeping a fraction of the energy.");
    case ef::FusionMethod::Ties: return FuseDialog::tr("Trim each λᵢ ΔWᵢ to a density by magnitude, elect signs by total mass, disjoint mean; then re-compressed.");
    case ef::FusionMethod::DareLinear: return FuseDialog::tr("Drop entries of each ΔWᵢ with probability p, rescale by 1/(1−p), weighted sum; then re-compressed.");
    case ef::FusionMethod::DareTies: return FuseDialog::tr("DARE's drop and rescale, then TIES' sign election and disjoint mean; then re-compressed.");
    case ef::FusionMethod::MagnitudePrune: return FuseDialog::tr("Keep the largest entries of each λᵢ ΔWᵢ (density), weighted sum; then re-compressed.");
    }
    return {};
}
} // namespace

QStringList FuseDialog::methods() {
    QStringList names;
    for (ef::FusionMethod m : ef::fusionMethods())
        names << QString::fromStdString(ef::fusionMethodName(m));
    return names;
}

bool FuseDialog::usesTarget(const QString& method) {
    const auto m = methodOf(method);
    return m && *m != ef::FusionMethod::Exact;
}

bool FuseDialog::usesDensity(const QString& method) {
    const auto m = methodOf(method);
    return m && ef::usesDensity(*m);
}

bool FuseDialog::usesDrop(const QString& method) {
    const auto m = methodOf(method);
    return m && ef::usesDrop(*m);
}

FuseDialog::FuseDialog(const QList<FuseSource>& sources, QWidget* parent) : QDialog(parent), m_sources(sources) {
    setObjectName("fuseDialog");
    setWindowTitle(tr("Fuse %n adapter versions", nullptr, static_cast<int>(sources.size())));
    auto* layout = new QVBoxLayout(this);
    m_tabs = new QTabWidget(this);
    m_tabs->addTab(scrolled(buildFuseTab()), tr("Fuse"));
    m_grid = new GridSearchPanel(sources, this);
    m_tabs->addTab(scrolled(m_grid), tr("Grid search"));
    layout->addWidget(m_tabs, 1);

    auto* status = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("fuseProgress");
    m_progress->setMaximumWidth(220);
    m_progress->hide();
    m_message = new QLabel(this);
    m_message->setObjectName("fuseMessage");
    m_message->setWordWrap(true);
    m_message->setTextFormat(Qt::PlainText); // messages quote version names and paths
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    m_message->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    status->addWidget(m_progress);
    status->addWidget(m_message, 1);
    layout->addLayout(status);

    auto* buttons = new QDialogButtonBox(this);
    m_cancelButton = buttons->addButton(tr("Cancel job"), QDialogButtonBox::ActionRole);
    m_cancelButton->setObjectName("cancelJobButton");
    m_cancelButton->setEnabled(false);
    m_fuseButton = buttons->addButton(tr("Fuse"), QDialogButtonBox::AcceptRole);
    m_fuseButton->setObjectName("fuseButton");
    m_fuseButton->setToolTip(tr("Write the fused adapter and register it as a new version"));
    buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);
    connect(m_cancelButton, &QPushButton::clicked, this, &FuseDialog::cancelRequested);
    connect(m_fuseButton, &QPushButton::clicked, this, [this] {
        if (m_busy)
            return;
        m_gridAsked = false;
        if (refuseEntries())
            return;
        Q_EMIT fuseRequested(settings());
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &FuseDialog::reject);
    connect(m_grid, &GridSearchPanel::runRequested, this, [this](GridSettings grid) {
        if (m_busy)
            return;
        m_gridAsked = true;
        if (refuseEntries())
            return;
        grid.fuse = settings();
        Q_EMIT gridRequested(grid);
    });
    connect(m_grid, &GridSearchPanel::cancelRequested, this, &FuseDialog::cancelRequested);
    connect(m_grid, &GridSearchPanel::weightsChosen, this, [this](const QVector<double>& w) {
        setWeights(w);
        m_tabs->setCurrentIndex(0);
    });
    updateFields();
    resize(760, 640);
}

QWidget* FuseDialog::buildFuseTab() {
    auto* page = new QWidget;
    auto* layout = new QVBoxLayout(page);

    m_sourceWeights = new SourceWeights(tr("Adapters and weights (negative subtracts a task)"), m_sources, page);
    connect(m_sourceWeights, &SourceWeights::changed, this, &FuseDialog::settingsChanged);
    layout->addWidget(m_sourceWeights);

    auto* form = new QFormLayout;
    m_method = new QComboBox(page);
    m_method->setObjectName("methodBox");
    m_method->addItems(methods());
    m_method->setCurrentText("svd");
    m_methodHelp = new QLabel(page);
    m_methodHelp->setWordWrap(true);
    m_methodHelp->setStyleSheet("color: palette(dark)");
    form->addRow(tr("Method"), m_method);
    form->addRow(QString(), m_methodHelp);

    auto* targetRow = new QHBoxLayout;
    m_target = new QComboBox(page);
    m_target->setObjectName("targetBox");
    m_target->addItem(tr("the largest source rank"), "largest");
    m_target->addItem(tr("target rank"), "rank");
    m_target->addItem(tr("energy kept"), "energy");
    qint64 maxRank = 0;
    for (const FuseSource& s : m_sources)
        maxRank = std::max(maxRank, s.rank);
    m_rank = new numbers::IntBox(1, 4096, page);
    m_rank->setObjectName("rankBox");
    m_rank->setEntryName(tr("Target rank"));
    m_rank->setValue(maxRank > 0 ? static_cast<int>(maxRank) : 16);
    m_rank->setToolTip(tr("Rank of the result; at most the exact rank Σ rᵢ"));
    m_energy = new numbers::RealBox(0.01, 1.0, 4, 0.01, page);
    m_energy->setObjectName("energyBox");
    m_energy->setEntryName(tr("Energy kept"));
    m_energy->setValue(0.99);
    m_energy->setToolTip(tr("The smallest rank whose singular values keep this fraction of ‖ΔW‖²"));
    targetRow->addWidget(m_target);
    targetRow->addWidget(m_rank);
    targetRow->addWidget(m_energy);
    targetRow->addStretch(1);
    form->addRow(tr("Compress to"), targetRow);

    m_density = new numbers::RealBox(0.0, 1.0, 3, 0.05, page); // 0 is offered so that the engine's message for it can be seen
    m_density->setObjectName("densityBox");
    m_density->setEntryName(tr("Density"));
    m_density->setValue(engine::fusion::kDefaultDensity);
    m_density->setToolTip(tr("Fraction of each ΔWᵢ's entries kept, in (0, 1]"));
    form->addRow(tr("Density"), m_density);
    m_drop = new numbers::RealBox(0.0, 0.999, 3, 0.05, page);
    m_drop->setObjectName("dropBox");
    m_drop->setEntryName(tr("Drop rate"));
    m_drop->setValue(engine::fusion::kDefaultDrop);
    m_drop->setToolTip(tr("Probability p of dropping an entry; the rest are rescaled by 1/(1−p)"));
    form->addRow(tr("Drop rate"), m_drop);
    m_seed = new numbers::IntBox(0, 2147483647, page);
    m_seed->setObjectName("seedBox");
    m_seed->setEntryName(tr("Seed"));
    m_seed->setValue(0);
    form->addRow(tr("Seed"), m_seed);
    m_task = new QLineEdit("fused", page);
    m_task->setObjectName("taskEdit");
    m_task->setToolTip(tr("The task the new version joins in the Adapters view"));
    m_outputName = new QLineEdit(page);
    m_outputName->setObjectName("outputNameEdit");
    m_outputName->setPlaceholderText(tr("default: <task>_<method>_v<N>_<date>"));
    m_outputName->setToolTip(tr("Name of the new adapter version"));
    auto* outRow = new QHBoxLayout;
    outRow->addWidget(new QLabel(tr("task"), page));
    outRow->addWidget(m_task, 1);
    outRow->addWidget(new QLabel(tr("name"), page));
    outRow->addWidget(m_outputName, 2);
    form->addRow(tr("New version"), outRow);
    layout->addLayout(form);

    auto* previewRow = new QHBoxLayout;
    m_previewButton = new QPushButton(tr("Preview error"), page);
    m_previewButton->setObjectName("previewButton");
    m_previewButton->setToolTip(tr("Fuse in memory and show the relative error per module against the exact sum"));
    m_overall = new QLabel(tr("No preview yet."), page);
    m_overall->setObjectName("overallLabel");
    previewRow->addWidget(m_previewButton);
    previewRow->addWidget(m_overall, 1);
    layout->addLayout(previewRow);
    m_table = new QTableWidget(0, 3, page);
    m_table->setObjectName("previewTable");
    m_table->setHorizontalHeaderLabels({tr("Module"), tr("Rank"), tr("Relative error")});
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    layout->addWidget(m_table, 1);

    connect(m_method, &QComboBox::currentTextChanged, this, [this] {
        updateFields();
        settingsChanged();
    });
    connect(m_target, &QComboBox::currentIndexChanged, this, [this] {
        updateFields();
        settingsChanged();
    });
    for (QSpinBox* b : {m_rank, m_seed})
        connect(b, qOverload<int>(&QSpinBox::valueChanged), this, &FuseDialog::settingsChanged);
    for (QDoubleSpinBox* b : {m_energy, m_density, m_drop})
        connect(b, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &FuseDialog::settingsChanged);
    connect(m_previewButton, &QPushButton::clicked, this, [this] {
        if (m_busy)
            return;
        m_gridAsked = false;
        if (refuseEntries())
            return;
        Q_EMIT previewRequested(settings());
    });
    return page;
}

void FuseDialog::updateFields() {
    const QString method = m_method->currentText();
    const bool target = usesTarget(method);
    m_target->setEnabled(target);
    const QString how = m_target->currentData().toString();
    m_rank->setEnabled(target && how == "rank");
    m_energy->setEnabled(target && how == "energy");
    m_rank->setVisible(how == "rank");
    m_energy->setVisible(how == "energy");
    m_density->setEnabled(usesDensity(method));
    m_drop->setEnabled(usesDrop(method));
    m_seed->setEnabled(usesDrop(method));
    const auto m = methodOf(method);
    m_methodHelp->setText(m ? methodHelp(*m) : QString());
}

bool FuseDialog::refuseEntries() {
    // A number its box could not take (out of range, not finite): the settings hold the box's last
    // value, not the one typed.
    const QStringList problems = numbers::entryProblems(m_tabs->widget(0));
    if (problems.isEmpty())
        return false;
    showError(problems.join("; "));
    return true;
}

void FuseDialog::settingsChanged() {
    // A preview shown for other settings would be misread as the error of these.
    if (m_table->rowCount() > 0 || m_overall->property("shown").toBool())
        clearPreview();
    // So would an error said of them ("every fusion weight is 0" after a weight became 1).
    if (m_errorShown && !m_busy) {
        m_errorShown = false;
        m_message->setStyleSheet(QString());
        m_message->clear();
        if (m_gridAsked)
            m_grid->clearError();
    }
}

FuseSettings FuseDialog::settings() const {
    FuseSettings s;
    s.method = m_method->currentText();
    s.weights = m_sourceWeights->weights();
    if (usesTarget(s.method)) {
        if (m_target->currentData().toString() == "rank")
            s.rank = m_rank->value();
        else if (m_target->currentData().toString() == "energy")
            s.energy = m_energy->value();
    }
    if (usesDensity(s.method))
        s.density = m_density->value();
    if (usesDrop(s.method)) {
        s.drop = m_drop->value();
        s.seed = static_cast<quint64>(m_seed->value());
    }
    s.outputName = m_outputName->text().trimmed();
    s.task = m_task->text().trimmed();
    return s;
}

void FuseDialog::setWeights(const QVector<double>& weights) {
    m_sourceWeights->setWeights(weights);
}

QDoubleSpinBox* FuseDialog::weightBox(int source) const {
    return m_sourceWeights->weightBox(source);
}

void FuseDialog::setMethod(const QString& method) {
    m_method->setCurrentText(method);
}

void FuseDialog::setBusy(const QString& what) {
    m_busy = true;
    m_cancelButton->setEnabled(true);
    m_previewButton->setEnabled(false);
    m_fuseButton->setEnabled(false);
    m_grid->setBusy(true);
    m_progress->setRange(0, 0);
    m_progress->show();
    m_errorShown = false;
    m_message->setStyleSheet(QString());
    m_message->setText(what);
}

void FuseDialog::setIdle() {
    m_busy = false;
    m_cancelButton->setEnabled(false);
    m_previewButton->setEnabled(true);
    m_fuseButton->setEnabled(true);
    m_grid->setBusy(false);
    m_progress->hide();
}

void FuseDialog::showProgress(int done, int total) {
    m_progress->setRange(0, std::max(1, total));
    m_progress->setValue(done);
    m_grid->showProgress(done, total);
}

void FuseDialog::clearPreview() {
    m_table->setRowCount(0);
    m_overall->setText(tr("Settings changed: preview again to see their error."));
    m_overall->setProperty("shown", false);
}

void FuseDialog::showPreview(const FusePreview& preview) {
    m_table->setRowCount(static_cast<int>(preview.modules.size()));
    for (int r = 0; r < preview.modules.size(); ++r) {
        const FusePreview::Module& m = preview.modules[r];
        auto* name = new QTableWidgetItem(m.name);
        auto* rank = new QTableWidgetItem(QString::number(m.rank));
        rank->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        auto* error = new QTableWidgetItem(QString::number(m.relativeError, 'g', 4));
        error->setData(Qt::UserRole, m.relativeError);
        error->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(r, 0, name);
        m_table->setItem(r, 1, rank);
        m_table->setItem(r, 2, error);
    }
    m_overall->setText(tr("Overall relative error <b>%1</b> · exact rank %2 · result rank %3 · %4 modules")
                           .arg(QString::number(preview.overallError, 'g', 4))
                           .arg(preview.exactRank)
                           .arg(preview.resultRank)
                           .arg(preview.modules.size()));
    m_overall->setProperty("shown", true);
    m_overall->setProperty("overallError", preview.overallError);
}

void FuseDialog::showError(const QString& message) {
    m_message->setStyleSheet("color: #c62828");
    m_message->setText(message);
    m_errorShown = true;
    // A preview's or a fusion's error is about the Fuse tab: beside Run grid search it would read as
    // the grid's.
    if (m_gridAsked)
        m_grid->showError(message);
}

void FuseDialog::showMessage(const QString& message) {
    m_message->setStyleSheet(QString());
    m_message->setText(message);
    m_errorShown = false;
}

void FuseDialog::reject() {
    // Closing while a job runs cancels it; the application drops its result.
    if (m_busy)
        Q_EMIT cancelRequested();
    QDialog::reject();
}

void FuseDialog::showGridTab() { m_tabs->setCurrentIndex(1); }

} // namespace rslora::ui
