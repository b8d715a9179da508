// The adapters browser's edits (see AdaptersBrowser.h): archive, rename, duplicate and delete a version
// or a task, asked for from the tree's context menu and keys.
#include "ui/AdaptersBrowser.h"

#include "ui/AdapterEdits.h"
#include "ui/AdapterTreeModel.h"

#include "storage/Store.h"

#include <QAction>
#include <QItemSelectionModel>
#include <QMenu>
#include <QPushButton>
#include <QTreeView>

namespace rslora::ui {

bool AdaptersBrowser::confirm(const QString& title, const QString& text) { return m_dialogs.confirm && m_dialogs.confirm(title, text); }

bool AdaptersBrowser::edit(const QString& failure, const std::function<void()>& action) {
    if (!m_store)
        return false;
    try {
        action();
        return true;
    } catch (const std::exception& e) {
        if (m_dialogs.warn)
            m_dialogs.warn(failure, QString::fromStdString(e.what()));
        refresh(); // show what the store holds now
        return false;
    }
}

void AdaptersBrowser::archiveCurrent() {
    const qint64 id = selectedAdapterId();
    if (!m_store || id == 0)
        return;
    QString question;
    if (!edit(tr("Cannot archive"), [&] { question = AdapterEdits(*m_store).archiveQuestion(id); }))
        return;
    if (!question.isEmpty() && !confirm(tr("Archive the current version?"), question))
        return;
    QString e;
    if (!archiveSelected(&e) && m_dialogs.warn)
        m_dialogs.warn(tr("Adapter action failed"), e);
}

void AdaptersBrowser::renameCurrent() {
    if (!m_store || !m_dialogs.ask)
        return;
    const QString task = selectedTask();
    if (!task.isEmpty()) {
        const auto typed = m_dialogs.ask(tr("Rename task"), tr("New name of task %1 (its versions, folders and lineage stay):").arg(task), task);
        if (!typed)
            return;
        QString name;
        if (edit(tr("Task not renamed"), [&] {
                name = AdapterEdits::checkedName(*typed, tr("task name"));
                AdapterEdits(*m_store).renameTask(task, *typed);
            })) {
            refresh();
            selectTask(name);
            Q_EMIT changed(tr("Task %1 renamed to %2").arg(task, name));
        }
        return;
    }
    const storage::AdapterRecord* a = adapterRecord(selectedAdapterId());
    if (!a)
        return;
    const qint64 id = a->id;
    const QString before = QString::fromStdString(a->name);
    const auto typed = m_dialogs.ask(tr("Rename version"), tr("New name of %1 v%2:").arg(QString::fromStdString(a->task)).arg(a->version), before);
    if (!typed)
        return;
    if (edit(tr("Version not renamed"), [&] { AdapterEdits(*m_store).renameVersion(id, *typed); })) {
        refresh();
        selectAdapter(id);
        Q_EMIT changed(tr("Renamed %1 to %2").arg(before, typed->trimmed()));
    }
}

void AdaptersBrowser::selectTask(const QString& task) {
    for (int r = 0; r < m_model->rowCount(); ++r)
        if (m_model->index(r, 0).data(AdapterTreeModel::TaskRole).toString() == task)
            m_tree->setCurrentIndex(m_model->index(r, 0));
}

void AdaptersBrowser::duplicateTask(const QString& task) {
    const auto typed = m_dialogs.ask(tr("Duplicate task"),
                                     tr("Name of the new task (every version of %1 copied into it, with its files, status, "
                                        "tags and lineage):").arg(task),
                                     task + "_copy");
    if (!typed)
        return;
    QString name;
    QList<qint64> copies;
    if (edit(tr("Task not duplicated"), [&] {
            name = AdapterEdits::checkedName(*typed, tr("task name"));
            copies = AdapterEdits(*m_store).duplicateTask(task, name);
        })) {
        refresh();
        selectTask(name);
        Q_EMIT changed(tr("Duplicated task %1 as %2 (%3)").arg(task, name, countOf(static_cast<int>(copies.size()), tr("version"), tr("versions"))));
    }
}

void AdaptersBrowser::duplicateCurrent() {
    if (!m_store || !m_dialogs.ask)
        return;
    if (const QString task = selectedTask(); !task.isEmpty()) {
        duplicateTask(task);
        return;
    }
    const storage::AdapterRecord* a = adapterRecord(selectedAdapterId());
    if (!a)
        return;
    const qint64 id = a->id;
    const QString label = AdapterEdits::label(*a);
    const auto task = m_dialogs.ask(tr("Duplicate version"),
                                    tr("Copy the files of %1 into a new draft version of task:").arg(label), QString::fromStdString(a->task));
    if (!task)
        return;
    qint64 copy = 0;
    QString note;
    if (edit(tr("Version not duplicated"), [&] { copy = AdapterEdits(*m_store).duplicate(id, *task, &note); })) {
        refresh();
        selectAdapter(copy);
        const storage::AdapterRecord* made = adapterRecord(copy);
        Q_EMIT changed(tr("Duplicated %1 as %2").arg(label, made ? AdapterEdits::label(*made) : QString("#%1").arg(copy))
                       + (note.isEmpty() ? QString() : " — " + note));
    }
}

void AdaptersBrowser::deleteCurrent() {
    if (!m_store)
        return;
    const QString task = selectedTask();
    QList<qint64> ids;
    if (task.isEmpty()) {
        ids = selectedAdapterIds();
        if (ids.isEmpty() && selectedAdapterId() > 0)
            ids << selectedAdapterId();
        if (ids.isEmpty())
            return;
    } else {
        storage::AdapterFilter f;
        f.task = task.toStdString();
        if (!edit(tr("Cannot delete"), [&] {
                for (const auto& a : m_store->adapters().list(f))
                    ids << a.id;
            }))
            return;
    }
    AdapterEdits edits(*m_store);
    QStringList blockers;
    QString question;
    if (!edit(tr("Cannot delete"), [&] {
            blockers = edits.deleteBlockers(ids);
            question = task.isEmpty() ? edits.deleteQuestion(ids) : edits.deleteTaskQuestion(task);
        }))
        return;
    if (!blockers.isEmpty()) {
        if (m_dialogs.warn)
            m_dialogs.warn(tr("Not deleted"), tr("Still in use: %1.\n\nStop that run (or let it finish), then delete.").arg(blockers.join("; ")));
        return;
    }
    if (!confirm(task.isEmpty() ? tr("Delete adapter versions?") : tr("Delete task?"), question))
        return;
    if (edit(tr("Not deleted"), [&] { task.isEmpty() ? edits.deleteVersions(ids) : edits.deleteTask(task); })) {
        refresh();
        const QString what = ids.size() == 1 ? tr("1 version") : tr("%1 versions").arg(ids.size());
        Q_EMIT changed((task.isEmpty() ? tr("Deleted %1").arg(what) : tr("Deleted task %1 (%2)").arg(task, what))
                       + tr("; `rslora adapters restore ID` brings a version back"));
    }
}

QMenu* AdaptersBrowser::contextMenuFor(const QModelIndex& index) {
    auto* menu = new QMenu(this);
    if (index.isValid() && index != m_tree->currentIndex() && !m_tree->selectionModel()->isSelected(index))
        m_tree->setCurrentIndex(index); // the menu acts on the row it was opened on
    if (!index.isValid()) {
        menu->addAction(tr("Refresh"), this, &AdaptersBrowser::refresh);
        return menu;
    }
    updateEditActions();
    if (!m_model->adapter(index)) { // a task row
        menu->addAction(m_renameAction);
        menu->addAction(m_duplicateAction);
        menu->addAction(m_deleteAction);
        return menu;
    }
    for (QPushButton* b : {m_release, m_rollback, m_archive}) {
        QAction* a = menu->addAction(b->text() + (b == m_archive ? "…" : ""), b, &QPushButton::click);
        a->setEnabled(b->isEnabled());
    }
    menu->addSeparator();
    menu->addAction(m_renameAction);
    menu->addAction(m_duplicateAction);
    menu->addAction(m_deleteAction);
    menu->addSeparator();
    for (QPushButton* b : {m_openFolder, m_export})
        menu->addAction(b->text(), b, &QPushButton::click)->setEnabled(b->isEnabled());
    menu->addSeparator();
    menu->addAction(m_fuseAction);
    menu->addAction(m_exportMergedAction);
    return menu;
}

void AdaptersBrowser::updateEditActions() {
    const bool version = selectedAdapterId() > 0;
    const bool task = !selectedTask().isEmpty();
    // Rename and duplicate take one version; delete takes every selected one.
    m_renameAction->setEnabled(m_store && (version || task) && !severalSelected());
    m_deleteAction->setEnabled(m_store && (version || task));
    m_duplicateAction->setEnabled(m_store && (version || task) && !severalSelected());
    m_renameAction->setText(task ? tr("Rename task…") : tr("Rename…"));
    m_duplicateAction->setText(task ? tr("Duplicate task…") : tr("Duplicate…"));
    m_duplicateAction->setToolTip(task ? tr("Copy every version of this task, with its files, status, tags and lineage, into a new task")
                                       : tr("Copy this version's files into a new draft version (of this task or another)"));
    m_deleteAction->setText(task ? tr("Delete task…") : (selectedAdapterIds().size() > 1 ? tr("Delete versions…") : tr("Delete…")));
}

} // namespace rslora::ui
