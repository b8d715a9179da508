#include "ui/AdapterEdits.h"

#include "common/Error.h"
#include "storage/Store.h"
#include "storage/TaskDuplicate.h"
#include "storage/Transaction.h"
#include "storage/VersionFiles.h"

#include <QDir>

#include <algorithm>

namespace rslora::ui {

QString AdapterEdits::label(const storage::AdapterRecord& a) {
    return QString("%1 v%2 (\"%3\")").arg(QString::fromStdString(a.task)).arg(a.version).arg(QString::fromStdString(a.name));
}

QString AdapterEdits::checkedName(const QString& typed, const QString& what) {
    const QString name = typed.trimmed();
    if (name.isEmpty())
        throw rslora::Error(tr("The %1 cannot be empty.").arg(what).toStdString());
    for (const QChar c : name)
        if (c.category() == QChar::Other_Control)
            throw rslora::Error(tr("The %1 \"%2\" holds a line break or another control character; type it on one line.")
                                    .arg(what, QString(name).replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t"))
                                    .toStdString());
    return name;
}

void AdapterEdits::renameVersion(qint64 id, const QString& typed) {
    const QString name = checkedName(typed, tr("adapter name"));
    const storage::AdapterRecord a = m_store.adapters().require(id);
    if (a.name == name.toStdString())
        return;
    if (const auto other = m_store.adapters().findByName(name.toStdString()); other && other->id != id)
        throw rslora::Error(tr("Cannot rename %1 to \"%2\": %3 has that name already.").arg(label(a), name, label(*other)).toStdString(),
                            tr("choose another name").toStdString());
    m_store.adapters().rename(id, name.toStdString());
}

void AdapterEdits::renameTask(const QString& task, const QString& typed) {
    const QString name = checkedName(typed, tr("task name"));
    if (name == task)
        return;
    m_store.adapters().renameTask(task.toStdString(), name.toStdString());
}

qint64 AdapterEdits::duplicate(qint64 id, const QString& task, QString* note) {
    const QString target = task.trimmed().isEmpty() ? QString() : checkedName(task, tr("task name"));
    const storage::RegisteredVersion copy = storage::duplicateAdapterVersion(m_store, id, target.toStdString());
    if (note)
        *note = copy.requestedTask.empty()
                    ? QString()
                    : tr("Its base model differs from the versions of %1, so the copy went to task %2.")
                          .arg(QString::fromStdString(copy.requestedTask), QString::fromStdString(copy.record.task));
    return copy.record.id;
}

QList<qint64> AdapterEdits::duplicateTask(const QString& task, const QString& typed) {
    const QString name = checkedName(typed, tr("task name"));
    QList<qint64> ids;
    for (const storage::AdapterRecord& copy : storage::duplicateTask(m_store, task.toStdString(), name.toStdString()))
        ids << copy.id;
    return ids;
}

QStringList AdapterEdits::deleteBlockers(const QList<qint64>& ids) {
    QStringList out;
    for (qint64 id : ids) {
        const storage::AdapterRecord a = m_store.adapters().require(id);
        for (const std::string& use : m_store.adapters().liveRunsUsing(id))
            out << tr("%1: %2").arg(label(a), QString::fromStdString(use));
    }
    return out;
}

void AdapterEdits::deleteVersions(const QList<qint64>& ids) {
    storage::Transaction tx(m_store.database());
    for (qint64 id : ids)
        m_store.adapters().softDelete(id);
    tx.commit();
}

QList<qint64> AdapterEdits::taskVersions(const QString& task) {
    storage::AdapterFilter f;
    f.task = task.toStdString();
    QList<qint64> ids;
    for (const auto& a : m_store.adapters().list(f))
        ids << a.id;
    return ids;
}

void AdapterEdits::deleteTask(const QString& task) {
    const QList<qint64> ids = taskVersions(task);
    if (ids.isEmpty())
        throw rslora::Error(tr("Task %1 has no versions left to delete.").arg(task).toStdString());
    deleteVersions(ids);
}

QString AdapterEdits::successorSentence(const std::string& task, const QList<qint64>& leaving) {
    std::optional<storage::AdapterRecord> current = m_store.adapters().current(task);
    if (!current || !leaving.contains(current->id))
        return {};
    // As the store falls back: the newest released version that stays.
    storage::AdapterFilter f;
    f.task = task;
    f.statuses = {storage::AdapterStatus::Released};
    std::optional<storage::AdapterRecord> next;
    for (const auto& a : m_store.adapters().list(f))
        if (!leaving.contains(a.id) && (!next || a.version > next->version))
            next = a;
    const QString t = QString::fromStdString(task);
    if (next)
        return tr("%1 is the current version of task %2; %3 becomes current instead.").arg(label(*current), t, label(*next));
    return tr("%1 is the current version of task %2, and no other released version is left: the task will have no current "
              "version until you release one.")
        .arg(label(*current), t);
}

QStringList AdapterEdits::madeFrom(const QList<qint64>& ids) {
    QStringList out;
    for (qint64 id : ids) {
        const QString parent = label(m_store.adapters().require(id));
        for (const auto& e : m_store.lineage().children(id)) {
            const auto child = m_store.adapters().get(e.childId);
            if (child && !child->deletedAt && !ids.contains(child->id))
                out << tr("%1, %2 %3").arg(label(*child), QString::fromLatin1(storage::toString(e.kind)), parent);
        }
    }
    return out;
}

QString AdapterEdits::deleteQuestion(const QList<qint64>& ids) {
    QStringList names, folders;
    std::string task;
    QStringList restore;
    for (qint64 id : ids) {
        const storage::AdapterRecord a = m_store.adapters().require(id);
        names << label(a);
        folders << QDir::toNativeSeparators(QString::fromStdString(a.path));
        restore << QString::number(id);
    }
    QString text = ids.size() == 1 ? tr("Delete %1?").arg(names.front()) : tr("Delete these %1 versions: %2?").arg(ids.size()).arg(names.join(", "));
    text += "\n\n" + tr("Deleted versions disappear from the browser and from `rslora adapters list`. Their files stay (%1) "
                        "and their numbers are not given again; `rslora adapters restore ID` brings one back (ID: %2).")
                         .arg(folders.join(", "), restore.join(", "));
    // Per task: which version becomes current.
    QStringList seen;
    for (qint64 id : ids) {
        const std::string t = m_store.adapters().require(id).task;
        if (seen.contains(QString::fromStdString(t)))
            continue;
        seen << QString::fromStdString(t);
        const QString s = successorSentence(t, ids);
        if (!s.isEmpty())
            text += "\n\n" + s;
    }
    const QStringList children = madeFrom(ids);
    if (!children.isEmpty())
        text += "\n\n" + tr("Made from it and kept, with their lineage to it: %1.").arg(children.join("; "));
    return text;
}

QString AdapterEdits::deleteTaskQuestion(const QString& task) {
    const QList<qint64> ids = taskVersions(task);
    QString text = ids.size() == 1 ? tr("Delete task %1 with its one version?").arg(task)
                                   : tr("Delete task %1 with its %2 versions?").arg(task, QString::number(ids.size()));
    text += "\n\n" + tr("They disappear from the browser and from `rslora adapters list`; their files stay under their folders and "
                        "`rslora adapters restore ID` brings a version back.");
    if (m_store.adapters().current(task.toStdString()))
        text += "\n\n" + tr("The task will have no current version.");
    const QStringList children = madeFrom(ids);
    if (!children.isEmpty())
        text += "\n\n" + tr("Made from its versions and kept, with their lineage to them: %1.").arg(children.join("; "));
    return text;
}

QString AdapterEdits::archiveQuestion(qint64 id) {
    const storage::AdapterRecord a = m_store.adapters().require(id);
    if (!a.current)
        return {};
    return successorSentence(a.task, {id}) + "\n\n" + tr("Archive %1?").arg(label(a));
}

} // namespace rslora::ui
