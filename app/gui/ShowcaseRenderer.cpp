// The --screenshots showcase: real demo runs through the workbench, every screen grabbed to PNG.
#include "app/gui/ShowcaseRenderer.h"

#include "app/gui/FusionController.h"
#include "app/gui/MergeExportController.h"
#include "app/gui/PlaygroundController.h"
#include "app/gui/RunController.h"
#include "app/gui/SweepResultsController.h"
#include "app/gui/Workbench.h"

#include "ui/AdaptersBrowser.h"
#include "ui/ChartsPanel.h"
#include "ui/DataSection.h"
#include "ui/ExportMergedDialog.h"
#include "ui/FuseDialog.h"
#include "ui/GridSearchPanel.h"
#include "ui/LineageView.h"
#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/PlaygroundColumn.h"
#include "ui/PlaygroundView.h"
#include "ui/RunForm.h"
#include "ui/RunsBrowser.h"
#include "ui/SweepDialog.h"
#include "ui/StagesEditor.h"
#include "ui/SweepResultsView.h"
#include "ui/TrainingPanel.h"

#include "common/Log.h"
#include "common/Paths.h"
#include "storage/Store.h"

#include <QApplication>
#include <QFileInfo>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>

#include <algorithm>
#include <QTabWidget>

namespace rslora::app {

bool ShowcaseRenderer::runToEnd(const engine::TrainConfig& config, const QString& name, JobOutcome* result, QString* error) {
    bool ended = false;
    JobOutcome outcome;
    auto connection = QObject::connect(m_wb.controller(), &RunController::runEnded, m_wb.controller(), [&](const JobOutcome& o) {
        ended = true;
        outcome = o;
    });
    m_wb.controller()->enqueue(config, name);
    QElapsedTimer timer;
    timer.start();
    while (!ended && timer.elapsed() < 600000)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    QObject::disconnect(connection);
    if (!ended || outcome.status == "failed") {
        if (error)
            *error = ended ? outcome.message : tr("the showcase run did not finish within 10 minutes");
        return false;
    }
    *result = outcome;
    return true;
}

bool ShowcaseRenderer::grab(QWidget* w, const QString& dir, const QString& name, QString* error) {
    QApplication::processEvents();
    const QString path = QDir(dir).filePath(name + ".png");
    if (w->grab().save(path))
        return true;
    if (error)
        *error = tr("cannot write %1").arg(path);
    return false;
}

bool ShowcaseRenderer::prepare(int steps, QString* error) {
    ui::RunForm* form = m_wb.form();
    form->setRemembersState(false); // the showcase's form is not the user's
    if (!m_wb.loadDemo(error))
        return false;
    engine::TrainConfig config = form->config();
    config.maxSteps = steps;
    config.logEvery = 1;
    config.adapter.balancing.enabled = true; // the balance charts then show the balancer at work
    form->setConfig(config);
    JobOutcome outcome;
    if (!runToEnd(config, "demo_rslora_showcase", &outcome, error))
        return false;
    m_wb.runs()->refresh();
    m_wb.runs()->selectRuns({outcome.runId});
    m_wb.adapters()->refresh();
    if (outcome.adapterId)
        m_wb.adapters()->selectAdapter(outcome.adapterId);
    m_wb.training()->charts()->replotNow();
    return true;
}

bool ShowcaseRenderer::saveMergeScreens(const QString& dir, QString* error) {
    ui::AdaptersBrowser* adapters = m_wb.adapters();
    const qint64 first = adapters->selectedAdapterId();
    if (!adapters->adapterRecord(first)) {
        if (error)
            *error = tr("no showcase adapter to fuse");
        return false;
    }
    const std::string validation = m_wb.form()->config().validationData;
    // A second version of the same task, different enough to make fusing it meaningful.
    engine::TrainConfig config = m_wb.form()->config();
    config.adapter.rank = 4;
    config.adapter.alpha = 8;
    config.adapter.scaling = engine::ScalingMode::AlphaOverR;
    config.adapter.balancing.enabled = false;
    config.seed = 7;
    JobOutcome second;
    if (!runToEnd(config, "demo_lora_showcase", &second, error) || !second.adapterId)
        return false;
    adapters->refresh();
    const QList<qint64> pair{first, second.adapterId};

    ui::FuseDialog* fuse = m_wb.openFuseDialog(pair);
    if (!fuse) {
        if (error)
            *error = tr("cannot open the fuse dialog on the showcase versions");
        return false;
    }
    fuse->resize(820, 700);
    auto* controller = fuse->findChild<FusionController*>();
    fuse->setWeights({0.6, 0.4});
    fuse->targetBox()->setCurrentIndex(1);
    fuse->rankBox()->setValue(6);
    fuse->previewButton()->click();
    if (controller)
        controller->job()->waitForFinished();
    if (!grab(fuse, dir, "fuse-dialog", error))
        return false;
    // The grid tab with a real search over the demo's validation data.
    fuse->showGridTab();
    fuse->grid()->setAxis(0, {0.0, 1.5, 0.25});
    fuse->grid()->setAxis(1, {-0.5, 1.0, 0.25});
    fuse->grid()->setDataFile(QString::fromStdString(validation));
    fuse->grid()->runButton()->click();
    if (controller)
        controller->job()->waitForFinished();
    if (!grab(fuse, dir, "fuse-grid", error))
        return false;
    // Fused for real, so that the lineage shows a merged-from version.
    qint64 fusedId = 0;
    if (controller) {
        QObject::connect(controller, &FusionController::fused, controller, [&fusedId](qint64 id) { fusedId = id; });
        fuse->tabs()->setCurrentIndex(0);
        fuse->fuseButton()->click();
        controller->job()->waitForFinished();
    }
    fuse->close();

    ui::ExportMergedDialog* merge = m_wb.openExportMergedDialog(pair);
    if (merge) {
        merge->setOutDir(QDir(dir).filePath("merged-model"));
        QDir(QDir(dir).filePath("merged-model")).removeRecursively();
        merge->setWeights({0.6, 0.4});
        merge->exportButton()->click();
        if (auto* mc = merge->findChild<MergeExportController*>())
            mc->job()->waitForFinished();
        if (!grab(merge, dir, "export-merged", error))
            return false;
        merge->close();
    }

    m_wb.window()->views()->setCurrentWidget(adapters);
    adapters->selectAdapter(fusedId > 0 ? fusedId : second.adapterId);
    adapters->sideTabs()->setCurrentWidget(adapters->lineage());
    return grab(m_wb.window(), dir, "adapters-lineage", error);
}

bool ShowcaseRenderer::save(const QString& dir, QString* error) {
    QDir().mkpath(dir);
    QTabWidget* views = m_wb.window()->views();
    const char* names[] = {"new-run", "training", "runs", "adapters"};
    for (int i = 0; i < views->count() && i < 4; ++i) {
        views->setCurrentIndex(i);
        QApplication::processEvents();
        if (views->widget(i) == m_wb.training())
            m_wb.training()->charts()->replotNow();
        if (!grab(m_wb.window(), dir, names[i], error))
            return false;
    }
    // The further screens: each one that cannot be rendered is named in the log, the rest still are.
    using Screens = bool (ShowcaseRenderer::*)(const QString&, QString*);
    const std::pair<const char*, Screens> further[] = {{"merge screens", &ShowcaseRenderer::saveMergeScreens},
                                                       {"sweep screens", &ShowcaseRenderer::saveSweepScreens},
                                                       {"playground", &ShowcaseRenderer::savePlayground},
                                                       {"pipeline form", &ShowcaseRenderer::savePipelineForm},
                                                       {"study", &ShowcaseRenderer::saveStudyDialog},
                                                       {"preference data", &ShowcaseRenderer::savePreferencePreview}};
    for (const auto& [what, render] : further) {
        QString problem;
        if (!(this->*render)(dir, &problem))
            logWarning(std::string(what) + " not rendered: " + problem.toStdString());
    }
    return true;
}

bool ShowcaseRenderer::savePipelineForm(const QString& dir, QString* error) {
    const QString file = QString::fromStdString((resourcesDirectory() / "pipelines" / "demo-sft-dpo.yaml").string());
    if (!m_wb.form()->openConfigFile(file, error))
        return false;
    m_wb.window()->views()->setCurrentWidget(m_wb.form());
    QApplication::processEvents();
    if (auto* scroll = m_wb.form()->findChild<QScrollArea*>())
        scroll->ensureWidgetVisible(m_wb.form()->stagesEditor(), 0, 0);
    QApplication::processEvents();
    return grab(m_wb.window(), dir, "new-run-pipeline", error);
}

bool ShowcaseRenderer::savePreferencePreview(const QString& dir, QString* error) {
    const QString file = QString::fromStdString((resourcesDirectory() / "demo" / "demo-dpo-config.json").string());
    if (!m_wb.form()->openConfigFile(file, error))
        return false;
    m_wb.window()->views()->setCurrentWidget(m_wb.form());
    m_wb.form()->dataSection()->refreshPreview(m_wb.form()->modelSection()->modelPath());
    QApplication::processEvents();
    if (auto* scroll = m_wb.form()->findChild<QScrollArea*>())
        scroll->ensureWidgetVisible(m_wb.form()->dataSection(), 0, 0);
    QApplication::processEvents();
    return grab(m_wb.window(), dir, "new-run-preference-data", error);
}

bool ShowcaseRenderer::saveStudyDialog(const QString& dir, QString* error) {
    const QString file = QString::fromStdString((resourcesDirectory() / "studies" / "c-few-shot-subspace.yaml").string());
    if (!QFileInfo::exists(file)) {
        if (error)
            *error = "no study file " + file;
        return false;
    }
    if (!m_wb.openConfig(file))
        return false;
    // The earlier sweep screen's dialog may still await its deferred deletion.
    ui::SweepDialog* dialog = nullptr;
    for (ui::SweepDialog* d : m_wb.window()->findChildren<ui::SweepDialog*>())
        if (d->name() == "c-few-shot-subspace")
            dialog = d;
    if (!dialog) {
        if (error)
            *error = "Run > Studies opened no Sweep dialog for " + file;
        return false;
    }
    const bool saved = grab(dialog, dir, "sweep-study", error);
    dialog->close();
    return saved;
}

bool ShowcaseRenderer::saveSweepScreens(const QString& dir, QString* error) {
    // Two ranks × three seeds of a short demo run: enough for bands and p-values, quick on two cores.
    engine::TrainConfig config = m_wb.form()->config();
    config.maxSteps = 20;
    config.logEvery = 1;
    config.adapter.balancing.enabled = false;
    ui::SweepDialog* dialog = m_wb.openSweepDialog(config);
    dialog->setAxis(0, "adapter.r", "2,8");
    dialog->setSeeds(3);
    dialog->setEvaluationFile("exact_match", QString::fromStdString(config.validationData));
    if (!grab(dialog, dir, "sweep-dialog", error))
        return false;
    const QString name = dialog->name();
    engine::SweepSpec spec;
    try {
        spec = dialog->spec();
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    dialog->close();
    qint64 groupId = 0;
    try {
        groupId = m_wb.queueSweep(name, config, spec);
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    QElapsedTimer timer;
    timer.start();
    while ((m_wb.controller()->busy() || !m_wb.controller()->waiting().isEmpty()) && timer.elapsed() < 600000)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    m_wb.sweepResults()->waitForEvaluations();
    m_wb.window()->views()->setCurrentWidget(m_wb.sweeps());
    m_wb.sweepResults()->refresh();
    m_wb.sweeps()->selectGroup(groupId);
    if (!grab(m_wb.window(), dir, "sweeps", error))
        return false;
    // The Adapters view comparing the stored evaluations of the sweep's first two versions.
    QList<qint64> versions;
    for (const storage::RunGroupMember& m : m_wb.store()->groups().members(groupId))
        for (const storage::AdapterRecord& a : m_wb.store()->adapters().list())
            if (a.sourceRunId && *a.sourceRunId == m.runId && versions.size() < 2)
                versions << a.id;
    m_wb.window()->views()->setCurrentWidget(m_wb.adapters());
    m_wb.adapters()->refresh();
    m_wb.adapters()->selectAdapters(versions);
    m_wb.adapters()->sideTabs()->setCurrentWidget(m_wb.adapters()->evaluations());
    return grab(m_wb.window(), dir, "adapters-evaluations", error);
}

bool ShowcaseRenderer::savePlayground(const QString& dir, QString* error) {
    // A chat: the showcase's first version beside the newest (the fused one), answering an example of
    // the showcase run's validation data; each answer ends at its first line, as a chat reply does.
    ui::PlaygroundView* playground = m_wb.playground();
    m_wb.window()->views()->setCurrentWidget(playground);
    QApplication::processEvents();
    playground->setColumnCount(2);
    playground->setChatMode(true);
    const auto versions = m_wb.store()->adapters().list();
    auto label = [](const storage::AdapterRecord& a) { return QString::fromStdString(a.task + "@v" + std::to_string(a.version)); };
    if (versions.size() >= 2) {
        const auto first = std::min_element(versions.begin(), versions.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        playground->column(0)->setAdapters({{first->id, label(*first), 1.0}});
        playground->column(1)->setAdapters({{versions.back().id, label(versions.back()), 1.0}});
    }
    if (playground->runBox()->count() > 0)
        m_wb.playgroundController()->pullExample(playground->runBox()->itemData(0).toLongLong());
    playground->maxTokensBox()->setValue(40);
    playground->stopEdit()->setText("\\n");
    if (!playground->generate()) {
        if (error)
            *error = playground->errorLabel()->text();
        return false;
    }
    m_wb.playgroundController()->waitForFinished();
    return grab(m_wb.window(), dir, "playground", error);
}

} // namespace rslora::app
