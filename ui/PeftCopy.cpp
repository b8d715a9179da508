// A PEFT copy of an adapter version: staged beside the target, renamed into place.
#include "ui/PeftCopy.h"

#include "engine/PeftConfigFile.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

namespace rslora::ui {

namespace {

QString tr(const char* text) { return QCoreApplication::translate("PeftCopy", text); }

bool fail(QString* error, const QString& message) {
    if (error)
        *error = message;
    return false;
}

} // namespace

QString PeftCopy::folderName(const QString& adapterName) {
    QString name;
    for (const QChar c : adapterName.trimmed())
        name += (c == '/' || c == '\\' || c.category() == QChar::Other_Control) ? QChar('_') : c;
    for (qsizetype i = 0; i < name.size() && name[i] == '.'; ++i)
        name[i] = '_';
    return name.isEmpty() ? QStringLiteral("adapter") : name;
}

PeftCopy::Target PeftCopy::inspect(const QString& source, const QString& folder, QStringList* files) {
    const QFileInfo info(folder);
    if (!info.exists())
        return Target::Free;
    if (!info.isDir() || info.isSymLink())
        return Target::Taken;
    const QFileInfoList entries = QDir(folder).entryInfoList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot, QDir::Name);
    if (files)
        for (const QFileInfo& e : entries)
            *files << e.fileName() + (e.isDir() ? "/" : "");
    if (entries.isEmpty())
        return Target::Free;
    // What a copy writes: the adapter's own files, which are PEFT's pair and the extras beside them.
    QStringList known{engine::kPeftConfigFile, engine::kPeftWeightsFile, engine::kExtraConfigFile, engine::kCoefficientsFile};
    for (const QFileInfo& f : QDir(source).entryInfoList(QDir::Files))
        known << f.fileName();
    bool hasConfig = false;
    for (const QFileInfo& e : entries) {
        if (e.isSymLink() || !e.isFile() || !known.contains(e.fileName()))
            return Target::Taken;
        hasConfig = hasConfig || e.fileName() == engine::kPeftConfigFile;
    }
    return hasConfig ? Target::EarlierExport : Target::Taken;
}

bool PeftCopy::write(const QString& source, const QString& folder, bool replaceEarlierExport, QString* error) {
    QStringList found;
    const Target target = inspect(source, folder, &found);
    if (target == Target::Taken)
        return fail(error, QFileInfo(folder).isDir()
                               ? tr("%1 already exists and holds other files (%2); choose another folder or empty it. Nothing was written.")
                                     .arg(folder, found.mid(0, 5).join(", ") + (found.size() > 5 ? ", …" : ""))
                               : tr("%1 is a file; choose a folder. Nothing was written.").arg(folder));
    if (target == Target::EarlierExport && !replaceEarlierExport)
        return fail(error, tr("%1 holds an earlier adapter copy; confirm replacing it, or choose another folder. Nothing was written.").arg(folder));
    const QFileInfo info(folder);
    const QString parent = info.absolutePath();
    if (!QDir().mkpath(parent))
        return fail(error, tr("cannot create the folder %1").arg(parent));
    // Staged beside the target (same file system, so the rename is atomic), hidden, unique.
    QTemporaryDir staging(QDir(parent).filePath("." + info.fileName() + ".partial-XXXXXX"));
    if (!staging.isValid())
        return fail(error, tr("cannot write in %1: %2").arg(parent, staging.errorString()));
    for (const QFileInfo& f : QDir(source).entryInfoList(QDir::Files))
        if (!QFile::copy(f.filePath(), QDir(staging.path()).filePath(f.fileName())))
            return fail(error, tr("cannot copy %1 into %2; nothing was written to %3").arg(f.filePath(), parent, folder));
    // A temporary folder is private to its owner; the copy gets an ordinary folder's permissions.
    QFile::setPermissions(staging.path(), QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner | QFile::ReadGroup | QFile::ExeGroup
                                              | QFile::ReadOther | QFile::ExeOther);
    QString previous;
    if (info.exists()) {
        // An empty folder, or an earlier copy (confirmed): moved aside until the new one is in place.
        previous = staging.path() + ".previous";
        if (!QDir().rename(folder, previous))
            return fail(error, tr("cannot replace %1 (it could not be moved aside); nothing was changed").arg(folder));
    }
    if (!QDir().rename(staging.path(), folder)) {
        if (!previous.isEmpty())
            QDir().rename(previous, folder);
        return fail(error, tr("cannot create %1; nothing was changed").arg(folder));
    }
    staging.setAutoRemove(false); // it is the copy now
    if (!previous.isEmpty())
        QDir(previous).removeRecursively(); // only the earlier copy's PEFT files (inspect), or nothing
    return true;
}

} // namespace rslora::ui
