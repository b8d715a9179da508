#include "ui/AdapterTreeModel.h"

#include "ui/RunTableModel.h"

#include <QBrush>
#include <QDateTime>
#include <QFont>

#include <algorithm>

namespace rslora::ui {
namespace {
// Top-level rows carry this internal id; version rows carry their task's row + 1.
constexpr quintptr kTaskRow = 0;

int compareText(const QString& a, const QString& b) {
    const int folded = QString::compare(a, b, Qt::CaseInsensitive);
    return folded != 0 ? folded : QString::compare(a, b, Qt::CaseSensitive);
}
} // namespace

AdapterTreeModel::AdapterTreeModel(QObject* parent) : QAbstractItemModel(parent) {}

void AdapterTreeModel::setTasks(std::map<std::string, storage::AdapterGraph> tasks) {
    beginResetModel();
    m_tasks.clear();
    m_all.clear();
    m_all.reserve(tasks.size());
    for (auto& [name, graph] : tasks) {
        Task t;
        t.name = QString::fromStdString(name);
        t.graph = std::move(graph);
        m_all.push_back(std::move(t));
    }
    // Pointers into the graphs are taken after the vector stops moving.
    for (Task& t : m_all) {
        // The graph also holds parents and children from other tasks (for the lineage); they are
        // listed under their own task. A deleted parent of a live version is there for the lineage
        // too, but is no version of the task any more.
        for (const auto& n : t.graph.nodes)
            if (QString::fromStdString(n.task) == t.name && !n.deletedAt)
                t.versions.push_back(&n);
    }
    arrange();
    endResetModel();
}

void AdapterTreeModel::setFilter(const QString& text) {
    const QString filter = text.trimmed();
    if (filter == m_filter)
        return;
    beginResetModel();
    m_filter = filter;
    arrange();
    endResetModel();
}

int AdapterTreeModel::versionCount() const {
    int n = 0;
    for (const Task& t : m_all)
        n += static_cast<int>(t.versions.size());
    return n;
}

int AdapterTreeModel::shownVersionCount() const {
    int n = 0;
    for (const Shown& s : m_tasks)
        n += static_cast<int>(s.versions.size());
    return n;
}

bool AdapterTreeModel::versionBefore(const Task& t, const storage::AdapterRecord* a, const storage::AdapterRecord* b) const {
    int c = 0;
    auto number = [](double x, double y) { return x < y ? -1 : (x > y ? 1 : 0); };
    switch (m_sortColumn) {
    case Name: c = compareText(QString::fromStdString(a->name), QString::fromStdString(b->name)); break;
    case Version: c = number(a->version, b->version); break;
    case Status: c = compareText(storage::toString(a->status), storage::toString(b->status)); break;
    case Stage: c = compareText(QString::fromStdString(a->stage), QString::fromStdString(b->stage)); break;
    case Model: c = compareText(modelText(*a), modelText(*b)); break;
    case Method: c = compareText(QString::fromStdString(a->method), QString::fromStdString(b->method)); break;
    case Rank: c = number(a->rank ? double(*a->rank) : -1.0, b->rank ? double(*b->rank) : -1.0); break;
    case TrainedFrom: c = compareText(trainedFromText(t, *a), trainedFromText(t, *b)); break;
    case Created: c = number(double(a->createdAt), double(b->createdAt)); break;
    }
    if (c == 0) // equal in the column: newest first whatever the order
        return a->version > b->version;
    return m_sortOrder == Qt::AscendingOrder ? c < 0 : c > 0;
}

void AdapterTreeModel::arrange() {
    m_tasks.clear();
    for (const Task& t : m_all) {
        Shown s;
        s.task = &t;
        const bool wholeTask = m_filter.isEmpty() || t.name.contains(m_filter, Qt::CaseInsensitive);
        for (const storage::AdapterRecord* a : t.versions)
            if (wholeTask || QString::fromStdString(a->name).contains(m_filter, Qt::CaseInsensitive))
                s.versions.push_back(a);
        // A task with no version left by the filter is hidden; one without versions at all is not
        // listed by the browser in the first place.
        if (!wholeTask && s.versions.empty())
            continue;
        std::stable_sort(s.versions.begin(), s.versions.end(), [&](auto* a, auto* b) { return versionBefore(t, a, b); });
        m_tasks.push_back(std::move(s));
    }
    const bool reversed = m_sortColumn == Name && m_sortOrder == Qt::DescendingOrder;
    std::stable_sort(m_tasks.begin(), m_tasks.end(), [reversed](const Shown& a, const Shown& b) {
        const int c = compareText(a.task->name, b.task->name);
        return reversed ? c > 0 : c < 0;
    });
}

void AdapterTreeModel::sort(int column, Qt::SortOrder order) {
    if (column < 0 || column >= ColumnCount)
        return;
    Q_EMIT layoutAboutToBeChanged({}, QAbstractItemModel::VerticalSortHint);
    // Persistent indexes (the selection, the current row) follow their task or version.
    struct Where {
        const Task* task;
        const storage::AdapterRecord* version;
        int column;
    };
    const QModelIndexList before = persistentIndexList();
    std::vector<Where> where;
    where.reserve(size_t(before.size()));
    for (const QModelIndex& i : before) {
        if (i.internalId() == kTaskRow)
            where.push_back({m_tasks[size_t(i.row())].task, nullptr, i.column()});
        else
            where.push_back({m_tasks[size_t(i.internalId() - 1)].task, adapter(i), i.column()});
    }
    m_sortColumn = column;
    m_sortOrder = order;
    arrange();
    QModelIndexList after;
    after.reserve(before.size());
    for (const Where& w : where) {
        QModelIndex found;
        for (size_t ti = 0; ti < m_tasks.size() && !found.isValid(); ++ti) {
            if (m_tasks[ti].task != w.task)
                continue;
            if (!w.version) {
                found = createIndex(static_cast<int>(ti), w.column, kTaskRow);
                break;
            }
            const auto& versions = m_tasks[ti].versions;
            const auto it = std::find(versions.begin(), versions.end(), w.version);
            if (it != versions.end())
                found = createIndex(static_cast<int>(it - versions.begin()), w.column, quintptr(ti + 1));
        }
        after << found;
    }
    changePersistentIndexList(before, after);
    Q_EMIT layoutChanged({}, QAbstractItemModel::VerticalSortHint);
}

const storage::AdapterRecord* AdapterTreeModel::adapter(const QModelIndex& index) const {
    if (!index.isValid() || index.internalId() == kTaskRow || index.internalId() > m_tasks.size())
        return nullptr;
    const Shown& t = m_tasks[index.internalId() - 1];
    return index.row() < static_cast<int>(t.versions.size()) ? t.versions[size_t(index.row())] : nullptr;
}

const storage::AdapterGraph* AdapterTreeModel::graphOf(const QString& task) const {
    for (const Task& t : m_all)
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

bool AdapterTreeModel::holdsAdapter(int64_t adapterId) const {
    for (const Task& t : m_all)
        for (const storage::AdapterRecord* a : t.versions)
            if (a->id == adapterId)
                return true;
    return false;
}

QModelIndex AdapterTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (row < 0 || column < 0 || column >= ColumnCount)
        return {};
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
    if (parent.internalId() == kTaskRow && parent.column() == 0 && parent.row() < static_cast<int>(m_tasks.size()))
        return static_cast<int>(m_tasks[size_t(parent.row())].versions.size());
    return 0;
}

int AdapterTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant AdapterTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return {};
    if (role == Qt::ToolTipRole)
        return tr("Click to sort the versions of each task by this column (tasks stay in name order; "
                  "the Adapter column sorts the tasks too)");
    if (role != Qt::DisplayRole)
        return {};
    static const char* names[] = {"Adapter", "Version", "Status", "Stage", "Base model", "Method", "r", "Trained from", "Created"};
    return tr(names[section]);
}

QString AdapterTreeModel::modelText(const storage::AdapterRecord& a) {
    // Named as the Runs view names it, with the fingerprint's first digits: two bases with one
    // folder name differ.
    const QString name = RunTableModel::modelName(a.baseModel.ref);
    return a.baseModel.sha256.empty() ? name : QString("%1 (%2)").arg(name, QString::fromStdString(a.baseModel.sha256.substr(0, 8)));
}

QString AdapterTreeModel::trainedFromText(const Task& t, const storage::AdapterRecord& a) {
    QStringList parents;
    for (const auto& e : t.graph.edges) {
        if (e.childId != a.id)
            continue;
        const storage::AdapterRecord* p = t.graph.find(e.parentId);
        QString label = p ? QString("v%1").arg(p->version) : QString("#%1").arg(e.parentId);
        if (e.kind == storage::LineageKind::MergedFrom && e.weight)
            label += QString(" ×%1").arg(*e.weight);
        parents << QString("%1 %2").arg(storage::toString(e.kind), label);
    }
    return parents.join(", ");
}

QVariant AdapterTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid())
        return {};
    if (index.internalId() == kTaskRow) {
        if (index.row() >= static_cast<int>(m_tasks.size()))
            return {};
        const Shown& s = m_tasks[size_t(index.row())];
        if (role == TaskRole)
            return s.task->name;
        if (role == Qt::FontRole) {
            QFont f;
            f.setBold(true);
            return f;
        }
        if (role != Qt::DisplayRole)
            return {};
        if (index.column() == Name)
            return s.task->name;
        if (index.column() == Version) {
            const int all = static_cast<int>(s.task->versions.size());
            const QString versions = all == 1 ? tr("1 version") : tr("%1 versions").arg(all);
            const int shown = static_cast<int>(s.versions.size());
            return shown < all ? tr("%1 of %2").arg(shown).arg(versions) : versions;
        }
        return {};
    }
    const storage::AdapterRecord* a = adapter(index);
    if (!a)
        return {};
    const Task& t = *m_tasks[index.internalId() - 1].task;
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
    case Model: return modelText(*a);
    case Method: return QString::fromStdString(a->method);
    case Rank: return a->rank ? QVariant(static_cast<qlonglong>(*a->rank)) : QVariant();
    case TrainedFrom: return trainedFromText(t, *a);
    case Created: return QDateTime::fromSecsSinceEpoch(static_cast<qint64>(a->createdAt)).toString("yyyy-MM-dd HH:mm");
    }
    return {};
}

} // namespace rslora::ui
