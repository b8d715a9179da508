// The Studies menu, read from the study configs' leading comments.
#include "app/gui/StudiesMenu.h"

#include "common/Paths.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

namespace rslora::app {

namespace {
// The first line of the file's leading comment ("Article C: random-subspace adapters beat LoRA ...")
// and the whole comment.
QPair<QString, QString> studyTitle(const QString& path) {
    QFile file(path);
    QStringList comment;
    if (file.open(QIODevice::ReadOnly | QIODevice::Text))
        while (!file.atEnd()) {
            const QString line = QString::fromUtf8(file.readLine()).trimmed();
            if (!line.startsWith('#'))
                break;
            comment << line.mid(1).trimmed();
        }
    const QString stem = QFileInfo(path).completeBaseName();
    if (comment.isEmpty())
        return {stem, stem};
    QString first = comment.first();
    if (first.size() > 72)
        first = first.left(71) + QStringLiteral("…");
    return {first, comment.join(' ')};
}
} // namespace

StudiesMenu::StudiesMenu(QWidget* parent) : QMenu(tr("S&tudies"), parent) {
    setObjectName("studiesMenu");
    setToolTipsVisible(true);
    const QDir folder(QString::fromStdString((resourcesDirectory() / "studies").string()));
    for (const QFileInfo& f : folder.entryInfoList({"*.yaml", "*.yml", "*.json"}, QDir::Files, QDir::Name)) {
        const auto [title, description] = studyTitle(f.absoluteFilePath());
        QAction* a = addAction(title);
        a->setToolTip(description);
        a->setStatusTip(description);
        a->setData(f.absoluteFilePath());
        connect(a, &QAction::triggered, this, [this, path = f.absoluteFilePath()] { Q_EMIT studyChosen(path); });
    }
    if (isEmpty())
        addAction(tr("(no studies in %1)").arg(QDir::toNativeSeparators(folder.path())))->setEnabled(false);
}

} // namespace rslora::app
