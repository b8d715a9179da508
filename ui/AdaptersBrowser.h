// The adapters browser: adapters grouped by task, their versions with lineage, evaluations, files
// and size, and their lineage graph; release, roll back, archive, open the folder, export a PEFT copy;
// on a selection of versions, ask for a fusion or a merged-model export (handled by the application);
// rename, duplicate and delete a version or a whole task (context menu, F2, Ctrl+D, Delete); a
// filter box and sortable columns.
#pragma once

#include <QList>
#include <QWidget>

#include <functional>
#include <optional>

class QAction;
class QMenu;
class QModelIndex;
class QLabel;
class QLineEdit;
class QTabWidget;
class QPushButton;
class QTextBrowser;
class QTableWidget;
class QTreeView;

namespace rslora::storage {
class Store;
struct AdapterRecord;
struct AdapterGraph;
}

namespace rslora::ui {

class AdapterTreeModel;
class LineageView;

class AdaptersBrowser : public QWidget {
    Q_OBJECT
public:
    explicit AdaptersBrowser(QWidget* parent = nullptr);

    void setStore(storage::Store* store);
    void refresh();
    void selectAdapter(qint64 adapterId);
    qint64 selectedAdapterId() const;
    // Every selected version, in the order the user picked them (the current one last).
    QList<qint64> selectedAdapterIds() const;
    // Selects exactly these versions (the last one current).
    void selectAdapters(const QList<qint64>& adapterIds);
    // The graph and records the browser read at its last refresh (for the application's dialogs).
    const storage::AdapterRecord* adapterRecord(qint64 adapterId) const;

    // Shows only the tasks and versions whose name contains `text` (the filter box above the tree;
    // empty: all); the selected versions that stay visible stay selected.
    void setFilter(const QString& text);
    QLineEdit* filterEdit() const { return m_filter; }
    // Beside the filter: how many versions it shows, or why it shows none.
    QLabel* filterNote() const { return m_filterNote; }

    // The task of the current row when it is a task row; empty on a version row.
    QString selectedTask() const;

    // The actions, also for tests; false with *error when the store refuses.
    bool releaseSelected(QString* error = nullptr);
    bool rollbackToSelected(QString* error = nullptr);
    bool archiveSelected(QString* error = nullptr);

    // How the browser asks: yes or no, a line of text (nullopt: cancelled), and why an action failed.
    // Message boxes and an input dialog unless replaced (tests answer themselves).
    struct Dialogs {
        std::function<bool(const QString& title, const QString& text)> confirm;
        std::function<std::optional<QString>(const QString& title, const QString& label, const QString& initial)> ask;
        std::function<void(const QString& title, const QString& text)> warn;
    };
    void setDialogs(Dialogs dialogs) { m_dialogs = std::move(dialogs); }

    // The context menu's actions, asking as they do there. Archive asks first when the version is the
    // task's current one (naming the version that takes over); rename asks for the new name of the
    // version, or of the task on a task row; duplicate for the task of the copy (on a task row: the name
    // of a new task that gets a copy of every version, AdapterEdits::duplicateTask); delete confirms with
    // what will happen (the selected versions, or the whole task on a task row) and refuses while a
    // live run stacks on a version.
    void archiveCurrent();
    void renameCurrent();
    void duplicateCurrent();
    void deleteCurrent();
    QAction* renameAction() const { return m_renameAction; }
    QAction* duplicateAction() const { return m_duplicateAction; }
    QAction* deleteAction() const { return m_deleteAction; }
    // The menu the tree shows at `index` (for tests; the caller owns it).
    QMenu* contextMenuFor(const QModelIndex& index);
    // Copies the PEFT files of the selected adapter into `folder` (PeftCopy: created, or an empty
    // folder; an earlier copy only with `replaceEarlierExport`; a folder holding anything else is refused).
    bool exportSelected(const QString& folder, QString* error = nullptr, bool replaceEarlierExport = false);

    AdapterTreeModel* model() const { return m_model; }
    QTreeView* tree() const { return m_tree; }
    QTextBrowser* details() const { return m_details; }
    LineageView* lineage() const { return m_lineage; }
    QTabWidget* sideTabs() const { return m_side; }
    // The Evaluations tab: the stored evaluations of the selected version, or of every selected
    // version side by side (a column each), metric by metric; two get their difference too.
    QTableWidget* evaluations() const { return m_evals; }
    QAction* fuseAction() const { return m_fuseAction; }
    QAction* exportMergedAction() const { return m_exportMergedAction; }

Q_SIGNALS:
    // After a successful exportSelected(): what was written and where, for the status bar.
    void exported(const QString& summary);
    // After a rename, duplicate or delete: what changed, for the status bar.
    void changed(const QString& summary);
    // "Fuse…" on two or more selected versions, "Export merged model…" on one or more.
    void fuseRequested(const QList<qint64>& adapterIds);
    void exportMergedRequested(const QList<qint64>& adapterIds);

private:
    void updateDetails();
    // Release, Make current, Archive, Open folder and Export PEFT copy: for the current version,
    // off while several versions are selected.
    void updateVersionButtons();
    bool severalSelected() const;
    void updateSelectionActions();
    void updateEvaluations();
    void showLineageOf(const storage::AdapterRecord* adapter);
    bool act(const std::function<void(qint64)>& action, QString* error);
    // Runs a store edit; on failure warns with `failure` and the reason. True when it went through.
    bool edit(const QString& failure, const std::function<void()>& action);
    bool confirm(const QString& title, const QString& text);
    void updateEditActions();
    void updateFilterNote();
    // "1 version", "3 versions"; every version and task there is, counted so.
    static QString countOf(int n, const QString& one, const QString& many);
    QString hiddenCount() const;
    // Selects `keepAll` (`keep` current) or the row of task `keepTask`, as far as they are shown.
    void restoreSelection(QList<qint64> keepAll, qint64 keep, const QString& keepTask);
    void selectTask(const QString& task);
    void duplicateTask(const QString& task);

    storage::Store* m_store = nullptr;
    AdapterTreeModel* m_model = nullptr;
    QTreeView* m_tree = nullptr;
    QLineEdit* m_filter = nullptr;
    QLabel* m_filterNote = nullptr;
    QTextBrowser* m_details = nullptr;
    QTabWidget* m_side = nullptr;
    LineageView* m_lineage = nullptr;
    QTableWidget* m_evals = nullptr;
    QAction* m_fuseAction = nullptr;
    QAction* m_exportMergedAction = nullptr;
    QPushButton* m_fuse = nullptr;
    QPushButton* m_exportMerged = nullptr;
    QList<qint64> m_pickOrder; // selected versions in the order they were picked
    QPushButton* m_release = nullptr;
    QPushButton* m_rollback = nullptr;
    QPushButton* m_archive = nullptr;
    QPushButton* m_openFolder = nullptr;
    QPushButton* m_export = nullptr;
    QAction* m_renameAction = nullptr;
    QAction* m_duplicateAction = nullptr;
    QAction* m_deleteAction = nullptr;
    Dialogs m_dialogs;
};

} // namespace rslora::ui
