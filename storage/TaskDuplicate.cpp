// A task copied under a new name (see TaskDuplicate.h).
#include "storage/TaskDuplicate.h"

#include "common/Error.h"
#include "storage/AdapterRepository.h"
#include "storage/Database.h"
#include "storage/LineageRepository.h"
#include "storage/Naming.h"
#include "storage/Statement.h"
#include "storage/Store.h"
#include "storage/Transaction.h"
#include "storage/VersionFiles.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace rslora::storage {

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// All versions of `task`, deleted ones included.
int64_t versionsOf(Database& db, const std::string& task) {
    auto st = db.cached("SELECT count(*) FROM adapters WHERE task = ?");
    st->bind(1, task);
    st->step();
    return st->getInt(0);
}

std::vector<AdapterRecord> liveVersions(AdapterRepository& adapters, const std::string& task) {
    AdapterFilter f;
    f.task = task;
    std::vector<AdapterRecord> out = adapters.list(f);
    std::sort(out.begin(), out.end(), [](const AdapterRecord& a, const AdapterRecord& b) { return a.version < b.version; });
    return out;
}

void refuseTakenName(Database& db, const std::string& what, const std::string& newTask) {
    const int64_t taken = versionsOf(db, newTask);
    if (taken > 0)
        throw rslora::Error(what + ": a task of that name exists (" + std::to_string(taken) + " version" +
                                (taken == 1 ? "" : "s") + ", deleted ones included)",
                            "choose another name");
}

// The copies staged, checked and recorded; the staged and placed folders go with this call's locals
// when anything fails.
std::vector<AdapterRecord> copyTask(Store& store, const std::string& task, const std::string& newTask) {
    const std::string what = "cannot duplicate task " + quoted(task) + " as " + quoted(newTask);
    if (newTask == task)
        throw rslora::Error(what + ": that is its own name", "choose a name no task has");
    Database& db = store.database();
    const std::vector<AdapterRecord> originals = liveVersions(store.adapters(), task);
    if (originals.empty()) {
        const int64_t deleted = versionsOf(db, task);
        if (deleted == 0)
            throw rslora::Error("no task named " + quoted(task) + " in this store",
                                "the versions and their tasks: rslora adapters list");
        throw rslora::Error(what + ": all its " + std::to_string(deleted) + " version" + (deleted == 1 ? " is" : "s are") +
                                " deleted",
                            "restore the versions to copy first: rslora adapters restore ID");
    }
    refuseTakenName(db, what, newTask);

    // The slow part (copy, fsync, hash) before the write lock; the copies go when anything fails.
    std::vector<StagedAdapter> staged;
    for (const AdapterRecord& a : originals) {
        const std::string ref = task + " v" + std::to_string(a.version) + " (" + quoted(a.name) + ")";
        if (a.sha256.empty())
            throw rslora::Error(what + ": " + ref + " has no recorded files to copy",
                                "delete that version, or duplicate the others one by one: rslora adapters duplicate");
        AdapterRepository::verifyFiles(a);
        staged.push_back(stageAdapterFolder(store, a.path));
        if (staged.back().sha256 != a.sha256)
            throw rslora::Error(what + ": the files of " + ref + " under " + a.path +
                                " changed while they were copied; nothing was recorded");
    }

    Transaction tx(db);
    refuseTakenName(db, what, newTask); // another process may have taken it meanwhile
    const std::vector<AdapterRecord> now = liveVersions(store.adapters(), task);
    const bool same = now.size() == originals.size() &&
                      std::equal(now.begin(), now.end(), originals.begin(), [](const AdapterRecord& x, const AdapterRecord& y) {
                          return x.id == y.id && x.sha256 == y.sha256 && x.status == y.status && x.current == y.current;
                      });
    if (!same)
        throw rslora::Error(what + ": its versions changed while their files were copied; nothing was recorded",
                            "try again");
    std::map<int64_t, int64_t> copyOf;
    std::vector<int64_t> copies;
    for (std::size_t i = 0; i < originals.size(); ++i) {
        const AdapterRecord& a = originals[i];
        NewAdapter n;
        n.task = newTask;
        n.version = a.version;
        n.variant = a.variant;
        n.uuid = newUuid();
        n.sha256 = a.sha256;
        n.method = a.method;
        n.rank = a.rank;
        n.alpha = a.alpha;
        n.targets = a.targets;
        n.trainableParams = a.trainableParams;
        n.stage = a.stage;
        n.baseModel = a.baseModel;
        n.notes = a.notes;
        // Released and current: the copy of the current version is the copy's current one.
        n.status = a.current ? AdapterStatus::Released
                             : a.status == AdapterStatus::Released ? AdapterStatus::Draft : a.status;
        n.path = staged[i].folders->place(staged[i].dir, adapterFolder(store.adapterRoot(), newTask, a.version, n.uuid)).string();
        staged[i].dir.clear();
        const AdapterRecord copy = store.adapters().create(n);
        if (a.status == AdapterStatus::Released && !a.current)
            store.adapters().markReleased(copy.id);
        for (const auto& [key, value] : store.adapters().tags(a.id))
            store.adapters().setTag(copy.id, key, value);
        copyOf[a.id] = copy.id;
        copies.push_back(copy.id);
    }
    for (const AdapterRecord& a : originals) {
        for (LineageEdge e : store.lineage().parents(a.id)) {
            e.id = 0;
            e.childId = copyOf.at(a.id);
            if (const auto parent = copyOf.find(e.parentId); parent != copyOf.end())
                e.parentId = parent->second;
            store.lineage().add(e);
        }
        LineageEdge fromOriginal;
        fromOriginal.childId = copyOf.at(a.id);
        fromOriginal.parentId = a.id;
        fromOriginal.kind = LineageKind::ConvertedFrom;
        fromOriginal.method = "copy";
        store.lineage().add(fromOriginal);
    }
    tx.commit();
    for (StagedAdapter& s : staged)
        s.folders->commit(db);
    std::vector<AdapterRecord> out;
    for (int64_t id : copies)
        out.push_back(store.adapters().require(id));
    return out;
}

} // namespace

std::vector<AdapterRecord> duplicateTask(Store& store, const std::string& task, const std::string& newTask) {
    AdapterRepository::checkName("task name", newTask);
    // The new task's folder, made for the copies, goes too when they do.
    const fs::path taskFolder = adapterFolder(store.adapterRoot(), newTask, 1, "0").parent_path();
    std::error_code ec;
    const bool hadFolder = fs::exists(taskFolder, ec);
    try {
        return copyTask(store, task, newTask);
    } catch (...) {
        if (!hadFolder)
            fs::remove(taskFolder, ec); // only when empty
        throw;
    }
}

} // namespace rslora::storage
