#include "ui/RunTableModel.h"

#include "common/Paths.h"
#include "engine/TrainConfig.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace rslora::ui {
namespace {

QString durationText(double seconds) {
    if (!(seconds >= 0))
        return {};
    qint64 s = static_cast<qint64>(seconds);
    if (s < 60)
        return QString("%1 s").arg(s);
    if (s < 3600)
        return QString("%1 min %2 s").arg(s / 60).arg(s % 60);
    return QString("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
}

QColor statusColor(storage::RunStatus s) {
    switch (s) {
    case storage::RunStatus::Running: return QColor(25, 118, 210);
    case storage::RunStatus::Finished: return QColor(46, 125, 50);
    case storage::RunStatus::Failed: return QColor(198, 40, 40);
    case storage::RunStatus::Interrupted: return QColor(239, 108, 0);
    case storage::RunStatus::Paused: return QColor(121, 85, 72);
    default: return QColor(97, 97, 97);
    }
}

} // namespace

RunTableModel::RunTableModel(QObject* parent) : QAbstractTableModel(parent) {}

QString RunTableModel::methodSummary(const std::string& configJson) {
    engine::TrainConfig c;
    try {
        c = engine::TrainConfig::fromJson(nlohmann::json::parse(configJson));
    } catch (const std::exception&) {
        return {};
    }
    if (c.mode == engine::TrainMode::Full)
        return tr("full fine-tune");
    const auto& a = c.adapter;
    QStringList parts;
    parts << (a.scaling == engine::ScalingMode::AlphaOverSqrtR ? "α/√r" : "α/r");
    if (a.init != engine::InitMode::Lora)
        parts << engine::initModeName(a.init);
    if (a.parameterization == engine::Parameterization::RandomSubspace)
        parts << QString("subspace k=%1").arg(a.subspaceDim);
    if (a.balancing.enabled)
        parts << "balanced";
    if (a.loraPlusRatio != 1.0)
        parts << QString("LoRA+ λ=%1").arg(a.loraPlusRatio);
    if (a.allocation != engine::RankAllocation::Uniform)
        parts << QString(engine::rankAllocationName(a.allocation)) + " ranks";
    return parts.join(" · ");
}

double RunTableModel::durationSeconds(const storage::RunSummary& summary, double now) {
    const storage::RunRecord& run = summary.run;
    if (const storage::LatestMetric* trained = summary.metric(kRunSecondsKey)) {
        // A run training right now has trained on since its last logged step.
        const bool live = run.status == storage::RunStatus::Running;
        return trained->value + (live ? std::max(0.0, now - trained->wallTime) : 0.0);
    }
    if (!run.startTime)
        return -1;
    return (run.endTime ? *run.endTime : now) - *run.startTime;
}

QString RunTableModel::modelName(const std::string& modelPath) {
    if (modelPath.empty())
        return {};
    std::error_code ec;
    const std::filesystem::path path(modelPath);
    if (std::filesystem::equivalent(path, demoModelDirectory(), ec))
        return QStringLiteral("demo");
    // "…/Qwen2-0.5B/" and the hub id "Qwen/Qwen2-0.5B" both name Qwen2-0.5B.
    const QString text = QString::fromStdString(modelPath);
    return text.section('/', -1, -1, QString::SectionSkipEmpty);
}

void RunTableModel::setRuns(std::vector<storage::RunSummary> runs) {
    beginResetModel();
    m_rows.clear();
    for (auto& s : runs) {
        Row r;
        r.method = methodSummary(s.run.configJson);
        r.modelPath = QString::fromStdString(s.run.baseModel.ref);
        try {
            engine::TrainConfig c = engine::TrainConfig::fromJson(nlohmann::json::parse(s.run.configJson));
            if (r.modelPath.isEmpty())
                r.modelPath = QString::fromStdString(c.modelPath);
            if (c.mode == engine::TrainMode::Lora) {
                r.rank = c.adapter.rank;
                r.alpha = c.adapter.alpha;
            }
            r.lr = c.learningRate;
        } catch (const std::exception&) {
            // A run imported from elsewhere may carry a config this version cannot read: leave blanks.
        }
        r.model = modelName(r.modelPath.toStdString());
        r.summary = std::move(s);
        m_rows.push_back(std::move(r));
    }
    endResetModel();
}

const storage::RunSummary* RunTableModel::runAt(int row) const {
    return row >= 0 && row < static_cast<int>(m_rows.size()) ? &m_rows[row].summary : nullptr;
}

int RunTableModel::rowOfRun(int64_t runId) const {
    for (size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].summary.run.id == runId)
            return static_cast<int>(i);
    return -1;
}

int RunTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_rows.size()); }
int RunTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char* names[] = {"#", "Run", "Model", "Status", "Method", "r", "α", "lr", "train loss", "eval loss", "step", "duration", "started", "tags", "notes"};
    return tr(names[section]);
}

QVariant RunTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= static_cast<int>(m_rows.size()))
        return {};
    const Row& row = m_rows[index.row()];
    const storage::RunRecord& run = row.summary.run;
    if (role == RunIdRole)
        return static_cast<qlonglong>(run.id);
    if (role == StatusRole)
        return QString(storage::toString(run.status));
    auto metric = [&](const char* key) -> QVariant {
        const storage::LatestMetric* m = row.summary.metric(key);
        return m ? QVariant(m->value) : QVariant();
    };
    const double duration = durationSeconds(row.summary, QDateTime::currentMSecsSinceEpoch() / 1000.0);
    if (role == SortRole) {
        switch (index.column()) {
        case Id: return static_cast<qlonglong>(run.id);
        case Rank: return row.rank;
        case Alpha: return row.alpha;
        case LearningRate: return row.lr;
        case TrainLoss: return metric("train/loss");
        case EvalLoss: return metric("eval/loss");
        case Step: return run.lastStep ? QVariant(static_cast<qlonglong>(*run.lastStep)) : QVariant();
        case Duration: return duration;
        case Started: return run.startTime ? QVariant(*run.startTime) : QVariant(run.createdAt);
        default: return data(index, Qt::DisplayRole);
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Status)
        return QBrush(statusColor(run.status));
    if (role == Qt::ToolTipRole && index.column() == Status && !run.errorMessage.empty())
        return QString::fromStdString(run.errorMessage);
    if (role == Qt::ToolTipRole && index.column() == Started)
        return (run.startTime ? QString() : tr("not started yet; ")) + tr("created %1")
            .arg(QDateTime::fromSecsSinceEpoch(static_cast<qint64>(run.createdAt)).toString("yyyy-MM-dd HH:mm:ss"));
    if (role == Qt::ToolTipRole && index.column() == Model && !row.modelPath.isEmpty())
        return row.modelPath;
    if (role == Qt::TextAlignmentRole && (index.column() == Id || (index.column() >= Rank && index.column() <= Duration)))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::EditRole && index.column() == Notes)
        return QString::fromStdString(run.notes);
    if (role != Qt::DisplayRole && role != Qt::EditRole)
        return {};
    switch (index.column()) {
    case Id: return static_cast<qlonglong>(run.id);
    case Name: return QString::fromStdString(run.name);
    case Model: return row.model;
    case Status: return QString(storage::toString(run.status));
    case Method: return row.method;
    case Rank: return row.rank;
    case Alpha: return row.alpha;
    case LearningRate: return row.lr.isValid() ? QString::number(row.lr.toDouble(), 'g', 3) : QString();
    case TrainLoss:
    case EvalLoss: {
        QVariant v = metric(index.column() == TrainLoss ? "train/loss" : "eval/loss");
        return v.isValid() ? QString::number(v.toDouble(), 'f', 4) : QString();
    }
    case Step: return run.lastStep ? QVariant(static_cast<qlonglong>(*run.lastStep)) : QVariant();
    case Duration: return durationText(duration);
    case Started:
        // A run that never started has no start time to show (its creation time is in the tooltip).
        if (!run.startTime)
            return run.status == storage::RunStatus::Queued ? tr("queued") : QString();
        return QDateTime::fromSecsSinceEpoch(static_cast<qint64>(*run.startTime)).toString("yyyy-MM-dd HH:mm");
    case Tags: return tagsText(row.summary.tags);
    case Notes: return QString::fromStdString(run.notes).section('\n', 0, 0);
    }
    return {};
}

Qt::ItemFlags RunTableModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.isValid() && (index.column() == Name || index.column() == Tags || index.column() == Notes))
        f |= Qt::ItemIsEditable;
    return f;
}

bool RunTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !index.isValid() || index.row() >= static_cast<int>(m_rows.size()))
        return false;
    Row& row = m_rows[index.row()];
    const qint64 id = row.summary.run.id;
    const QString text = value.toString();
    switch (index.column()) {
    case Name: {
        const QString name = text.trimmed();
        if (name.isEmpty()) {
            Q_EMIT editRejected(tr("A run needs a name."));
            return false;
        }
        row.summary.run.name = name.toStdString();
        Q_EMIT runRenamed(id, name);
        break;
    }
    case Tags: {
        QString error;
        auto tags = parseTags(text, &error);
        if (!tags) {
            Q_EMIT editRejected(error);
            return false;
        }
        row.summary.tags = *tags;
        Q_EMIT runTagsEdited(id, *tags);
        break;
    }
    case Notes:
        row.summary.run.notes = text.toStdString();
        Q_EMIT runNotesEdited(id, text);
        break;
    default:
        return false;
    }
    Q_EMIT dataChanged(index, index);
    return true;
}

std::optional<storage::Tags> RunTableModel::parseTags(const QString& text, QString* error) {
    storage::Tags tags;
    for (const QString& part : text.split(',', Qt::SkipEmptyParts)) {
        const QString item = part.trimmed();
        if (item.isEmpty())
            continue;
        const int eq = item.indexOf('=');
        const QString key = (eq < 0 ? item : item.left(eq)).trimmed();
        const QString value = eq < 0 ? QString() : item.mid(eq + 1).trimmed();
        if (key.isEmpty()) {
            if (error)
                *error = tr("Tag \"%1\" has no name before '='.").arg(item);
            return std::nullopt;
        }
        if (tags.count(key.toStdString())) {
            if (error)
                *error = tr("Tag \"%1\" is given twice.").arg(key);
            return std::nullopt;
        }
        tags[key.toStdString()] = value.toStdString();
    }
    return tags;
}

QString RunTableModel::tagsText(const storage::Tags& tags) {
    QStringList t;
    for (const auto& [k, v] : tags)
        t << (v.empty() ? QString::fromStdString(k) : QString::fromStdString(k + "=" + v));
    return t.join(", ");
}

} // namespace rslora::ui
