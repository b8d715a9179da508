// Path checks shared by the form sections: the kind of a path, named before a run trips over it.
#include "ui/PathProblems.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace rslora::ui {
namespace {
QString tr(const char* text) { return QCoreApplication::translate("PathProblems", text); }
} // namespace

QString PathProblems::ofFile(const QString& path) {
    const QFileInfo info(path);
    if (info.isDir())
        return tr("'%1' is a folder, not a file").arg(path);
    if (!info.exists())
        return tr("file '%1' does not exist").arg(path);
    return {};
}

QString PathProblems::ofFolder(const QString& path) {
    const QFileInfo info(path);
    if (!info.exists())
        return tr("folder '%1' does not exist").arg(path);
    if (!info.isDir())
        return tr("'%1' is a file, not a folder").arg(path);
    return {};
}

QString PathProblems::ofOutputFolder(const QString& path) {
    const QFileInfo info(path);
    if (info.exists())
        return info.isDir() ? QString() : tr("'%1' is a file, not a folder").arg(path);
    // The first part of the path that exists decides whether the rest can be made under it.
    QString above = QFileInfo(QDir::cleanPath(info.absoluteFilePath())).path();
    while (!QFileInfo::exists(above) && QFileInfo(above).path() != above)
        above = QFileInfo(above).path();
    if (QFileInfo::exists(above) && !QFileInfo(above).isDir())
        return tr("folder '%1' cannot be made: '%2' is a file, not a folder").arg(path, above);
    return {};
}

} // namespace rslora::ui
