#include "app/gui/RankPreview.h"

#include "engine/ErrorText.h"
#include "engine/Trainer.h"
#include "engine/TrainingRun.h"
#include "models/ModelLoader.h"

#include <QLocale>
#include <QMetaObject>
#include <QPointer>
#include <thread>

namespace rslora::app {

RankPreview::RankPreview(QObject* parent) : QObject(parent) {}

RankPreview::~RankPreview() {
    if (m_thread) {
        m_thread->join();
        delete m_thread;
    }
}

QString RankPreview::computeHtml(const engine::TrainConfig& input) {
    engine::TrainConfig config = input;
    config.adapter.allocation = engine::RankAllocation::Sensitivity;
    if (config.outputDir.empty())
        config.outputDir = "(preview)";
    engine::validateOrThrow(config, engine::modelFacts(config.modelPath));
    auto model = models::loadCausalLM(config.modelPath);
    std::vector<engine::TrainExample> train = engine::loadExamples(config.trainData, config);
    engine::Trainer trainer(config, *model, std::move(train));
    const auto& table = trainer.rankTable();
    int64_t total = 0;
    QString rows;
    for (const auto& r : table) {
        total += r.parameters;
        rows += QString("<tr><td>%1</td><td align='right'>%2</td><td align='right'>%3</td><td align='right'>%4</td></tr>")
                    .arg(QString::fromStdString(r.module).toHtmlEscaped())
                    .arg(r.score, 0, 'g', 4)
                    .arg(r.rank)
                    .arg(QLocale().toString(static_cast<qlonglong>(r.parameters)));
    }
    return QObject::tr("<b>Sensitivity allocation</b> (%1 probe batches): %2 adapter parameters<br>"
                       "<table cellspacing='3'><tr><th align='left'>module</th><th>score</th><th>rank</th><th>parameters</th></tr>%3</table>")
        .arg(config.adapter.sensitivity.probeBatches)
        .arg(QLocale().toString(static_cast<qlonglong>(total)))
        .arg(rows);
}

bool RankPreview::start(const engine::TrainConfig& config) {
    if (m_running)
        return false;
    if (m_thread) {
        m_thread->join();
        delete m_thread;
        m_thread = nullptr;
    }
    m_running = true;
    QPointer<RankPreview> self(this);
    m_thread = new std::thread([self, config] {
        QString html, error;
        try {
            html = computeHtml(config);
        } catch (const std::exception& e) {
            error = QString::fromStdString(engine::errorText(e));
        }
        if (!self)
            return;
        QMetaObject::invokeMethod(self.data(), [self, html, error] {
            if (!self)
                return;
            self->m_running = false;
            if (error.isEmpty())
                Q_EMIT self->ready(html);
            else
                Q_EMIT self->failed(error);
        }, Qt::QueuedConnection);
    });
    return true;
}

} // namespace rslora::app
