#include "ui/StageStackHtml.h"

#include "storage/Records.h"

#include <QList>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace rslora::ui {

QString StageStackHtml::of(const storage::AdapterRecord& a, const storage::AdapterGraph& g) {
    // A pipeline stage's version has one edge per stage below it, its position in the details.
    struct Below {
        int position = 0;
        QString name, relation;
        double weight = 1.0;
    };
    QList<Below> below;
    for (const auto& e : g.edges) {
        if (e.childId != a.id || (e.method != "stacked-on" && e.method != "merged-into-base"))
            continue;
        const auto details = nlohmann::json::parse(e.detailsJson, nullptr, false);
        const storage::AdapterRecord* parent = g.find(e.parentId);
        Below b;
        b.position = details.is_object() ? details.value("position", 0) : 0;
        b.name = parent ? QString::fromStdString(parent->name) : QString("#%1").arg(e.parentId);
        b.relation = QString::fromStdString(e.method);
        b.weight = e.weight.value_or(1.0);
        below << b;
    }
    if (below.isEmpty())
        return {};
    std::sort(below.begin(), below.end(), [](const Below& x, const Below& y) { return x.position < y.position; });
    QString html = "<h4>" + tr("Stage stack (bottom to top)") + "</h4><table cellspacing='4'>";
    html += QString("<tr><td></td><td>%1</td><td></td></tr>").arg(tr("base model").toHtmlEscaped());
    for (const Below& b : std::as_const(below))
        html += QString("<tr><td>%1</td><td>%2</td><td>%3</td></tr>")
                    .arg(b.position)
                    .arg(b.name.toHtmlEscaped())
                    .arg(b.relation == "merged-into-base" ? tr("merged into the base") : tr("frozen, weight %1").arg(b.weight, 0, 'g', 3));
    html += QString("<tr><td>%1</td><td><b>%2</b></td><td>%3</td></tr></table>")
                .arg(below.size() + 1)
                .arg(QString::fromStdString(a.name).toHtmlEscaped(), tr("trained in this stage (%1)").arg(QString::fromStdString(a.stage).toHtmlEscaped()));
    return html;
}

} // namespace rslora::ui
