// Item model of the adapters browser: tasks at the top level, their versions beneath (newest
// first) with status, stage, base model, method, rank and the version they were trained from.
// Sortable by any column (tasks by name, versions by the column), and filtered by a text that the
// task's or the version's name contains.
#pragma once

#include "storage/Records.h"

#include <QAbstractItemModel>
#include <map>

namespace rslora::ui {

class AdapterTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { Name, Version, Status, Stage, Model, Method, Rank, TrainedFrom, Created, ColumnCount };
    enum Role { AdapterIdRole = Qt::UserRole + 1, TaskRole };

    explicit AdapterTreeModel(QObject* parent = nullptr);

    // One graph per task (nodes are that task's versions, edges their lineage).
    void setTasks(std::map<std::string, storage::AdapterGraph> tasks);
    const storage::AdapterRecord* adapter(const QModelIndex& index) const;
    const storage::AdapterGraph* graphOf(const QString& task) const;
    // The row of a version (invalid when it is filtered out or unknown).
    QModelIndex indexOfAdapter(int64_t adapterId) const;
    // Whether a version is known, shown or not.
    bool holdsAdapter(int64_t adapterId) const;

    // Shows the tasks whose name contains `text` (all their versions) and the versions whose name
    // contains it, case-insensitively, surrounding spaces ignored; empty shows everything.
    void setFilter(const QString& text);
    QString filter() const { return m_filter; }
    int taskCount() const { return static_cast<int>(m_all.size()); }
    int versionCount() const;
    int shownVersionCount() const;

    // Tasks stay in name order (reversed only when sorting by Name); their versions follow the column.
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    int sortColumn() const { return m_sortColumn; }
    Qt::SortOrder sortOrder() const { return m_sortOrder; }

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    struct Task {
        QString name;
        storage::AdapterGraph graph;
        std::vector<const storage::AdapterRecord*> versions; // every live version of the task
    };
    struct Shown {
        const Task* task = nullptr;
        std::vector<const storage::AdapterRecord*> versions; // those the filter keeps, in sort order
    };
    // Applies the filter and the sort order to m_all.
    void arrange();
    bool versionBefore(const Task& t, const storage::AdapterRecord* a, const storage::AdapterRecord* b) const;
    static QString trainedFromText(const Task& t, const storage::AdapterRecord& a);
    static QString modelText(const storage::AdapterRecord& a);

    std::vector<Task> m_all;
    std::vector<Shown> m_tasks;
    QString m_filter;
    int m_sortColumn = Version;
    Qt::SortOrder m_sortOrder = Qt::DescendingOrder;
};

} // namespace rslora::ui
