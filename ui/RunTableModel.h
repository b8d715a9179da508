// Item model of the runs table: one row per run with its id, base model, status, method, key
// parameters, latest metrics, duration, tags and notes. Filled from the store's "runs with their latest metrics" query.
// Name, tags ("key=value, flag") and notes are editable in place; an accepted edit updates the row
// and is announced by runEdited for the owner to write to the store.
#pragma once

#include "storage/Queries.h"

#include <QAbstractTableModel>

#include <optional>

namespace rslora::ui {

class RunTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, Name, Model, Status, Method, Rank, Alpha, LearningRate, TrainLoss, EvalLoss, Step, Duration, Started, Tags, Notes, ColumnCount };
    enum Role { RunIdRole = Qt::UserRole + 1, StatusRole, SortRole };

    explicit RunTableModel(QObject* parent = nullptr);

    // The metric with a run's training time (pauses and stopped time excluded, resumed sessions
    // added up), which the duration column shows; runs without it show end - start.
    static constexpr const char* kRunSecondsKey = "train/run_seconds";
    static double durationSeconds(const storage::RunSummary& summary, double now);

    void setRuns(std::vector<storage::RunSummary> runs);
    const storage::RunSummary* runAt(int row) const;
    int rowOfRun(int64_t runId) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

    // "a=1, b" -> {a: "1", b: ""}; nullopt (with `error` set) for an empty key or a repeated one.
    static std::optional<storage::Tags> parseTags(const QString& text, QString* error = nullptr);
    static QString tagsText(const storage::Tags& tags);

Q_SIGNALS:
    // Name: the new name; Tags: the full new tag set; Notes: the full new notes.
    void runRenamed(qint64 runId, const QString& name);
    void runTagsEdited(qint64 runId, const storage::Tags& tags);
    void runNotesEdited(qint64 runId, const QString& notes);
    void editRejected(const QString& reason);

public:

    // "rs-lora α/√r · spectral · balanced" etc., from a run's config JSON.
    static QString methodSummary(const std::string& configJson);
    // A base model's short name, as the Model column and default run names show it: "demo" for the
    // built-in demo model, else the folder's (or hub id's) last part, e.g. "Qwen2-0.5B".
    static QString modelName(const std::string& modelPath);

private:
    struct Row {
        storage::RunSummary summary;
        QString method;
        QString model, modelPath;
        QVariant rank, alpha, lr;
    };
    std::vector<Row> m_rows;
};

} // namespace rslora::ui
