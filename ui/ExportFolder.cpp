// The remembered export folder, with <data folder>/exports as the first default.
#include "ui/ExportFolder.h"

#include "ui/Preference.h"

#include "common/Paths.h"

#include <QDir>
#include <QFileInfo>

namespace rslora::ui {
namespace {
const Preference<QString> kLastExportFolder{"export/lastFolder", {}};
} // namespace

QString ExportFolder::initial() {
    const QString last = kLastExportFolder.get();
    if (!last.isEmpty() && QFileInfo(last).isDir())
        return last;
    const QString exports = QDir(QString::fromStdString(dataDirectory().string())).filePath("exports");
    QDir().mkpath(exports);
    return exports;
}

void ExportFolder::remember(const QString& folder) {
    if (!folder.isEmpty())
        kLastExportFolder.set(QFileInfo(folder).absoluteFilePath());
}

} // namespace rslora::ui
