// The adapters browser's edits of the store: rename, duplicate and delete a version, rename,
// duplicate and delete a task, and the questions the browser asks before a delete or before
// archiving the version a task serves (what will happen: which version becomes current, what was
// made from it, where the files stay). Every action throws rslora::Error with the reason and changes
// nothing when refused.
#pragma once

#include <QCoreApplication>
#include <QList>
#include <QString>
#include <QStringList>

namespace rslora::storage {
class Store;
struct AdapterRecord;
}

namespace rslora::ui {

class AdapterEdits {
    Q_DECLARE_TR_FUNCTIONS(AdapterEdits)
public:
    explicit AdapterEdits(storage::Store& store) : m_store(store) {}

    // A name as typed, trimmed; throws when it is empty or holds a line break or another control
    // character (`what`: "adapter name", "task name").
    static QString checkedName(const QString& typed, const QString& what);

    // Refused when another live version has the name (naming it).
    void renameVersion(qint64 id, const QString& typed);
    // Refused when a task of that name exists.
    void renameTask(const QString& task, const QString& typed);
    // A new draft version of `task` (empty: the original's) with a copy of the files; returns its id
    // and, in *note, where it went when its base model sent it to another task.
    qint64 duplicate(qint64 id, const QString& task, QString* note = nullptr);
    // Every live version of `task` copied into a new task named `typed` (storage::duplicateTask: all or
    // nothing; refused for a name a task has); returns the copies' ids in version order.
    QList<qint64> duplicateTask(const QString& task, const QString& typed);
    // Soft deletes (hidden; files and numbers kept), all or none. Refused while a live run uses one.
    void deleteVersions(const QList<qint64>& ids);
    void deleteTask(const QString& task);

    // Why these versions cannot be deleted now (a live run stacks on one); empty when they can.
    QStringList deleteBlockers(const QList<qint64>& ids);
    // What a delete of these versions (or of the whole task) does, for the confirmation.
    QString deleteQuestion(const QList<qint64>& ids);
    QString deleteTaskQuestion(const QString& task);
    // Empty when archiving `id` needs no question (it is not the current version); otherwise which
    // version becomes current, or that none will be.
    QString archiveQuestion(qint64 id);

    static QString label(const storage::AdapterRecord& a); // `medical v2 ("name")`

private:
    // The version that becomes current when `leaving` stop being candidates, as a sentence.
    QString successorSentence(const std::string& task, const QList<qint64>& leaving);
    QStringList madeFrom(const QList<qint64>& ids);
    // The ids of a task's live versions.
    QList<qint64> taskVersions(const QString& task);
    storage::Store& m_store;
};

} // namespace rslora::ui
