// The runs browser: a sortable, filterable table of every run in the store; select several to
// overlay their curves on one chart and compare their configs (differences only, if asked); open a
// run's curves, resume an interrupted run, delete with undo.
#pragma once

#include <QSet>
#include <QStringList>

#include <functional>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QMenu;
class QModelIndex;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QTableWidget;
class QTimer;

namespace rslora::storage {
class Store;
}

namespace rslora::ui {

class CurvePlot;
class RunTableModel;

class RunsBrowser : public QWidget {
    Q_OBJECT
public:
    explicit RunsBrowser(QWidget* parent = nullptr);
    ~RunsBrowser() override;

    // The store is owned elsewhere and outlives the browser; nullptr shows an empty table.
    void setStore(storage::Store* store);
    // Reads the runs again; while a cell is being edited, once the edit ends (a run that finishes
    // meanwhile does not throw away the name being typed).
    void refresh();
    // Selects runs by id (replacing the selection) and updates overlay and diff.
    void selectRuns(const QList<qint64>& runIds);
    QList<qint64> selectedRunIds() const;

    RunTableModel* model() const { return m_model; }
    QSortFilterProxyModel* proxy() const { return m_proxy; }
    QTableView* table() const { return m_table; }
    QLineEdit* filter() const { return m_filter; }
    // Shown over an empty table: "No runs yet…" or "No run matches …".
    QLabel* emptyHint() const { return m_empty; }
    CurvePlot* overlay() const { return m_overlay; }
    QTableWidget* diffTable() const { return m_diff; }
    QCheckBox* differencesOnly() const { return m_diffOnly; }
    QComboBox* overlayMetric() const { return m_metric; }

    // Hides the selected runs at once and deletes them from the store when the undo time runs out
    // (or on commitPendingDeletes()); undoDelete() brings them back. Runs that a live process still
    // trains, holds paused or has queued are not deleted: a notice names them.
    void deleteSelected();
    void undoDelete();
    void commitPendingDeletes();

    // The table's context menu at `index` (a proxy index; the caller owns the menu): open the curves,
    // resume, rename, edit tags or notes, delete, each as the button or key does it. A row that is not
    // selected becomes the selection first.
    QMenu* contextMenuFor(const QModelIndex& index);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override; // keeps the empty hint over the table

Q_SIGNALS:
    void openRunRequested(qint64 runId);
    void resumeRequested(qint64 runId);

private:
    void updateSelection();
    void updateOverlay();
    void updateDiff();
    // Runs a store write for an edit made in the table; on failure says why and reloads the table.
    void writeEdit(const std::function<void()>& write);
    void showNotice(const QString& text);
    void updateEmptyHint();
    // "run #7 is running in process 123 on host" for each of `ids` that a live process holds.
    QStringList heldRuns(const QList<qint64>& ids) const;

    storage::Store* m_store = nullptr;
    RunTableModel* m_model = nullptr;
    QSortFilterProxyModel* m_proxy = nullptr;
    QTableView* m_table = nullptr;
    QLineEdit* m_filter = nullptr;
    QComboBox* m_status = nullptr;
    QComboBox* m_metric = nullptr;
    CurvePlot* m_overlay = nullptr;
    QTableWidget* m_diff = nullptr;
    QCheckBox* m_diffOnly = nullptr;
    QPushButton* m_open = nullptr;
    QPushButton* m_resume = nullptr;
    QPushButton* m_delete = nullptr;
    QWidget* m_undoBar = nullptr;
    QLabel* m_undoText = nullptr;
    QTimer* m_undoTimer = nullptr;
    QLabel* m_notice = nullptr;
    QTimer* m_noticeTimer = nullptr;
    QSet<qint64> m_pendingDelete;
    bool m_refreshAfterEdit = false; // a refresh came while a cell was being edited
    QLabel* m_empty = nullptr;       // why the table is empty: no runs yet, or none matches the filter
};

} // namespace rslora::ui
