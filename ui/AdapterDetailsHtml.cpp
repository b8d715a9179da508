#include "ui/AdapterDetailsHtml.h"

#include "ui/StageStackHtml.h"

#include "storage/Records.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QLocale>
#include <QStringList>

namespace rslora::ui {

QString AdapterDetailsHtml::of(const storage::AdapterRecord& a, const storage::AdapterGraph* graph,
                               const std::vector<storage::EvaluationRecord>& evaluations) {
    QString html = QString("<h3>%1</h3><table cellspacing='4'>").arg(QString::fromStdString(a.name).toHtmlEscaped());
    auto row = [&](const QString& k, const QString& v) { html += QString("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k, v.toHtmlEscaped()); };
    row(tr("Task"), QString::fromStdString(a.task));
    row(tr("Version"), QString("v%1%2").arg(a.version).arg(a.current ? tr(" (current)") : QString()));
    row(tr("Status"), storage::toString(a.status));
    row(tr("Stage"), QString::fromStdString(a.stage));
    row(tr("Method"), QString::fromStdString(a.method));
    if (!a.baseModel.ref.empty())
        row(tr("Base model"), QString::fromStdString(a.baseModel.ref)
                                 + (a.baseModel.sha256.empty() ? QString()
                                                                : tr(" (fingerprint %1)").arg(QString::fromStdString(a.baseModel.sha256.substr(0, 16)))));
    if (a.rank)
        row(tr("Rank / alpha"), QString("%1 / %2").arg(*a.rank).arg(a.alpha ? QString::number(*a.alpha) : "—"));
    if (a.trainableParams)
        row(tr("Trainable parameters"), QLocale().toString(static_cast<qlonglong>(*a.trainableParams)));
    QStringList targets;
    for (const auto& t : a.targets)
        targets << QString::fromStdString(t);
    row(tr("Targets"), targets.join(", "));
    if (a.sourceRunId)
        row(tr("Source run"), QString("#%1%2").arg(*a.sourceRunId).arg(a.sourceStep ? QString(" at step %1").arg(*a.sourceStep) : QString()));
    row(tr("Created"), QDateTime::fromSecsSinceEpoch(static_cast<qint64>(a.createdAt)).toString(Qt::ISODate));
    row(tr("SHA-256"), QString::fromStdString(a.sha256));
    html += "</table>";

    if (const storage::AdapterGraph* g = graph) {
        QStringList lines;
        for (const auto& e : g->edges) {
            if (e.childId != a.id && e.parentId != a.id)
                continue;
            const storage::AdapterRecord* other = g->find(e.childId == a.id ? e.parentId : e.childId);
            QString name = other ? QString::fromStdString(other->name) : QString("#%1").arg(e.childId == a.id ? e.parentId : e.childId);
            QString text = e.childId == a.id ? QString("%1 ← %2").arg(storage::toString(e.kind), name) : QString("%1 → %2").arg(storage::toString(e.kind), name);
            if (e.weight)
                text += QString(" (weight %1)").arg(*e.weight);
            if (!e.method.empty())
                text += QString(" [%1]").arg(QString::fromStdString(e.method));
            lines << text.toHtmlEscaped();
        }
        if (!lines.isEmpty())
            html += "<h4>" + tr("Lineage") + "</h4><p>" + lines.join("<br>") + "</p>";
        html += StageStackHtml::of(a, *g);
    }
    if (!evaluations.empty()) {
        html += "<h4>" + tr("Evaluations") + "</h4><table cellspacing='4'>";
        for (const auto& e : evaluations)
            html += QString("<tr><td>%1</td><td>%2</td><td align='right'>%3</td></tr>")
                        .arg(QString::fromStdString(e.dataset).toHtmlEscaped(), QString::fromStdString(e.metric).toHtmlEscaped())
                        .arg(e.value, 0, 'g', 5);
        html += "</table>";
    }
    QDir dir(QString::fromStdString(a.path));
    html += "<h4>" + tr("Files") + "</h4>";
    if (!dir.exists()) {
        html += "<p style='color:#c62828'>" + tr("The folder %1 is missing.").arg(dir.path().toHtmlEscaped()) + "</p>";
    } else {
        qint64 total = 0;
        html += "<table cellspacing='4'>";
        for (const QFileInfo& f : dir.entryInfoList(QDir::Files, QDir::Name)) {
            total += f.size();
            html += QString("<tr><td>%1</td><td align='right'>%2</td></tr>").arg(f.fileName().toHtmlEscaped(), QLocale().formattedDataSize(f.size()));
        }
        html += QString("<tr><td><b>%1</b></td><td align='right'><b>%2</b></td></tr></table>").arg(tr("total"), QLocale().formattedDataSize(total));
    }
    return html;
}

} // namespace rslora::ui
