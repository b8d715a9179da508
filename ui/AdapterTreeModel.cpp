#include "ui/AdapterTreeModel.h"

#include "ui/RunTableModel.h"

#include <QBrush>
#include <QDateTime>
#include <QFont>

namespace rslora::ui {
namespace {
// Top-level rows carry this internal id; version rows carry their task's index + 1.
constexpr quintptr kTaskRow = 0;
} // namespace

AdapterTreeModel::AdapterTreeModel(QObject* parent) : QAbstractItemModel(parent) {}

void AdapterTreeModel::setTasks(std::map<std::string, storage::AdapterGraph> tasks) {
    beginResetModel();
    m_tasks.clear();
    m_tasks.reserve(tasks.size());
    for (auto& [name, graph] : tasks) {
        Task t;
        t.name = QString::fromStdString(name);
        t.graph = std::move(graph);
        m_tasks.push_back(std::move(t));
    }
    // Pointers into the graphs are taken after the vector stops moving.
    for (Task& t : m_tasks) {
        // The graph also holds parents and children from other tasks (for the lineage); they are
        // listed under their own task. A deleted parent of a live version is there for the lineage
        // too, but is no version of the task any more.
        for (const auto& n : t.graph.nodes)
            if (QString::fromStdString(n.task) == t.name && !n.deletedAt)
                t.versions.push_back(&n);
        std::sort(t.versions.begin(), t.versions.end(), [](auto* a, auto* b) { return a->version > b->version; });
    }
    endResetModel();
}

const storage::AdapterRecord* AdapterTreeModel::adapter(const QModelIndex& index) const {
    if (!index.isValid() || index.internalId() == kTaskRow)
        return nullptr;
    const Task& t = m_tasks[index.internalId() - 1];
    return index.row() < static_cast<int>(t.versions.size()) ? t.versions[index.row()] : nullptr;
}

const storage::AdapterGraph* AdapterTreeModel::graphOf(const QString& task) const {
    for (const Task& t : m_tasks)
        if (t.name == task)
            return &t.graph;
    return nullptr;
}

QModelIndex AdapterTreeModel::indexOfAdapter(int64_t adapterId) const {
    for (size_t ti = 0; ti < m_tasks.size(); ++ti)
        for (size_t vi = 0; vi < m_tasks[ti].versions.size(); ++vi)
            if (m_tasks[ti].versions[vi]->id == adapterId)
                return createIndex(static_cast<int>(vi), 0, quintptr(ti + 1));
    return {};
}

QModelIndex AdapterTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (!parent.isValid())
        return row < static_cast<int>(m_tasks.size()) ? createIndex(row, column, kTaskRow) : QModelIndex();
    if (parent.internalId() != kTaskRow)
        return {};
    return createIndex(row, column, quintptr(parent.row() + 1));
}

QModelIndex AdapterTreeModel::parent(const QModelIndex& child) const {
    if (!child.isValid() || child.internalId() == kTaskRow)
        return {};
    return createIndex(static_cast<int>(child.internalId() - 1), 0, kTaskRow);
}

int AdapterTreeModel::rowCount(const QModelIndex& parent) const {
    if (!parent.isValid())
        return static_cast<int>(m_tasks.size());
    if (parent.internalId() == kTaskRow && parent.column() == 0)
        return static_cast<int>(m_tasks[parent.row()].versions.size());
    return 0;
}

int AdapterTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant AdapterTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char* names[] = {"Adapter", "Version", "Status", "Stage", "Base model", "Method", "r", "Trained from", "Created"};
    return tr(names[section]);
}

QVariant AdapterTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid())
        return {};
    if (index.internalId() == kTaskRow) {
        const Task& t = m_tasks[index.row()];
        if (role == TaskRole)
            return t.name;
        if (role == Qt::FontRole) {
            QFont f;
            f.setBold(true);
            return f;
        }
        if (role != Qt::DisplayRole)
            return {};
        if (index.column() == Name)
            return t.name;
        if (index.column() == Version)
            return tr("%n version(s)", nullptr, static_cast<int>(t.versions.size()));
        return {};
    }
    const Task& t = m_tasks[index.internalId() - 1];
    const storage::AdapterRecord* a = adapter(index);
    if (!a)
        return {};
    if (role == AdapterIdRole)
        return static_cast<qlonglong>(a->id);
    if (role == TaskRole)
        return t.name;
    if (role == Qt::FontRole && a->current) {
        QFont f;
        f.setBold(true);
        return f;
    }
    if (role == Qt::ForegroundRole && a->status == storage::AdapterStatus::Archived)
        return QBrush(QColor(140, 140, 140));
    if (role == Qt::ToolTipRole && index.column() == Model)
        return a->baseModel.ref.empty() ? tr("base model not recorded")
                                        : tr("%1\nfingerprint %2").arg(QString::fromStdString(a->baseModel.ref),
                                                                        QString::fromStdString(a->baseModel.sha256));
    if (role == Qt::ToolTipRole)
        return QString::fromStdString(a->path);
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Name: return QString::fromStdString(a->name) + (a->current ? tr("  ● current") : QString());
    case Version: return QString("v%1").arg(a->version);
    case Status: return QString(storage::toString(a->status));
    case Stage: return QString::fromStdString(a->stage);
    case Model: {
        // Named as the Runs view names it, with the fingerprint's first digits: two bases with one
        // folder name differ.
        const QString name = RunTableModel::modelName(a->baseModel.ref);
        return a->baseModel.sha256.empty() ? name
                                           : QString("%1 (%2)").arg(name, QString::fromStdString(a->baseModel.sha256.substr(0, 8)));
    }
    case Method: return QString::fromStdString(a->method);
    case Rank: return a->rank ? QVariant(static_cast<qlonglong>(*a->rank)) : QVariant();
    case TrainedFrom: {
        QStringList parents;
        for (const auto& e : t.graph.edges) {
            if (e.childId != a->id)
                continue;
            const storage::AdapterRecord* p = t.graph.find(e.parentId);
            QString label = p ? QString("v%1").arg(p->version) : QString("#%1").arg(e.parentId);
            if (e.kind == storage::LineageKind::MergedFrom && e.weight)
                label += QString(" ×%1").arg(*e.weight);
            parents << QString("%1 %2").arg(storage::toString(e.kind), label);
        }
        return parents.join(", ");
    }
    case Created: return QDateTime::fromSecsSinceEpoch(static_cast<qint64>(a->createdAt)).toString("yyyy-MM-dd HH:mm");
    }
    return {};
}

} // namespace rslora::ui
