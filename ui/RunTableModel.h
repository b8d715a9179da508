// Item model of the runs table: one row per run with status, method, key parameters, latest
// metrics, duration, tags and notes. Filled from the store's "runs with their latest metrics" query.
#pragma once

#include "storage/Queries.h"

#include <QAbstractTableModel>

namespace rslora::ui {

class RunTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Status, Method, Rank, Alpha, LearningRate, TrainLoss, EvalLoss, Step, Duration, Started, Tags, Notes, ColumnCount };
    enum Role { RunIdRole = Qt::UserRole + 1, StatusRole, SortRole };

    explicit RunTableModel(QObject* parent = nullptr);

    void setRuns(std::vector<storage::RunSummary> runs);
    const storage::RunSummary* runAt(int row) const;
    int rowOfRun(int64_t runId) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // "rs-lora α/√r · spectral · balanced" etc., from a run's config JSON.
    static QString methodSummary(const std::string& configJson);

private:
    struct Row {
        storage::RunSummary summary;
        QString method;
        QVariant rank, alpha, lr;
    };
    std::vector<Row> m_rows;
};

} // namespace rslora::ui
