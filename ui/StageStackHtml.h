// The details of a pipeline stage's adapter version: the stages below it, bottom to top (the base, each
// stage merged into the base or frozen with its weight, then the version itself), as HTML.
#pragma once

#include <QCoreApplication>
#include <QString>

namespace rslora::storage {
struct AdapterRecord;
struct AdapterGraph;
}

namespace rslora::ui {

class StageStackHtml {
    Q_DECLARE_TR_FUNCTIONS(StageStackHtml)
public:
    // Empty for a version that is no pipeline stage stacked on others.
    static QString of(const storage::AdapterRecord& a, const storage::AdapterGraph& g);
};

} // namespace rslora::ui
