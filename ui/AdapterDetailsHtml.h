// The Details tab of the adapters browser for one version, as HTML: its fields, its lineage edges,
// the stages it stacks on, its stored evaluations and the files in its folder with their sizes.
#pragma once

#include <QCoreApplication>
#include <QString>

#include <vector>

namespace rslora::storage {
struct AdapterRecord;
struct AdapterGraph;
struct EvaluationRecord;
}

namespace rslora::ui {

class AdapterDetailsHtml {
    Q_DECLARE_TR_FUNCTIONS(AdapterDetailsHtml)
public:
    // `graph`: the version's task graph (null: no lineage section).
    static QString of(const storage::AdapterRecord& a, const storage::AdapterGraph* graph,
                      const std::vector<storage::EvaluationRecord>& evaluations);
};

} // namespace rslora::ui
