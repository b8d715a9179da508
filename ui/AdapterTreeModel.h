// Item model of the adapters browser: tasks at the top level, their versions beneath (newest
// first) with status, stage, base model, method, rank and the version they were trained from.
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
    QModelIndex indexOfAdapter(int64_t adapterId) const;

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
        std::vector<const storage::AdapterRecord*> versions; // newest first
    };
    std::vector<Task> m_tasks;
};

} // namespace rslora::ui
