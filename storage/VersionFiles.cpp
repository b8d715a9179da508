// Registration of adapter versions with files of their own (see VersionFiles.h).
#include "storage/VersionFiles.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "storage/LineageRepository.h"
#include "storage/Naming.h"
#include "storage/StagedFolders.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <algorithm>

namespace fs = std::filesystem;

namespace rslora::storage {

namespace {

bool onlyBase(AdapterRepository& adapters, const std::string& task, const std::string& sha) {
    const auto bases = adapters.baseModelsOf(task);
    return std::all_of(bases.begin(), bases.end(), [&](const std::string& b) { return b == sha; });
}

} // namespace

std::string taskForBaseModel(AdapterRepository& adapters, const std::string& task, const ContentRef& base) {
    if (base.sha256.empty() || onlyBase(adapters, task, base.sha256))
        return task;
    std::string model = fs::path(base.ref).filename().string();
    if (model.empty())
        model = fs::path(base.ref).parent_path().filename().string();
    std::string candidate = task + "_" + sanitizeId(model.empty() ? "model" : model);
    if (onlyBase(adapters, candidate, base.sha256))
        return candidate;
    return candidate + "_" + base.sha256.substr(0, 8);
}

StagedAdapter stageAdapterFolder(Store& store, const fs::path& sourceDir) {
    if (!fs::is_directory(sourceDir))
        throw rslora::Error("adapter folder " + sourceDir.string() + " does not exist");
    StagedAdapter out;
    out.folders = std::make_unique<StagedFolders>(store.adapterRoot());
    out.dir = out.folders->stage(sourceDir);
    out.sha256 = Sha256::directoryHex(out.dir);
    return out;
}

RegisteredVersion registerAdapterVersion(Store& store, NewAdapter n, StagedAdapter& staged,
                                         const std::function<void(const AdapterRecord&)>& inTransaction) {
    if (n.task.empty())
        throw rslora::Error("an adapter needs a task name");
    if (!staged.folders || staged.dir.empty())
        throw rslora::Error("adapter version of task \"" + n.task + "\": no staged copy of its folder to register");
    n.sha256 = staged.sha256;
    if (n.uuid.empty())
        n.uuid = newUuid();

    RegisteredVersion out;
    Transaction tx(store.database());
    const std::string task = taskForBaseModel(store.adapters(), n.task, n.baseModel);
    if (task != n.task)
        out.requestedTask = n.task;
    n.task = task;
    const int64_t version = store.adapters().nextVersion(task);
    n.path = staged.folders->place(staged.dir, adapterFolder(store.adapterRoot(), task, version, n.uuid)).string();
    staged.dir.clear();
    out.record = store.adapters().create(n);
    if (inTransaction)
        inTransaction(out.record);
    tx.commit();
    staged.folders->commit(store.database());
    return out;
}

RegisteredVersion registerAdapterVersion(Store& store, NewAdapter n, const fs::path& sourceDir,
                                         const std::function<void(const AdapterRecord&)>& inTransaction) {
    if (n.task.empty())
        throw rslora::Error("an adapter needs a task name");
    StagedAdapter staged = stageAdapterFolder(store, sourceDir);
    return registerAdapterVersion(store, std::move(n), staged, inTransaction);
}

RegisteredVersion duplicateAdapterVersion(Store& store, int64_t id, const std::string& task) {
    const AdapterRecord original = store.adapters().require(id);
    const std::string ref = "adapter " + original.task + ":v" + std::to_string(original.version);
    if (original.deletedAt)
        throw rslora::Error("cannot duplicate " + ref + " (\"" + original.name + "\"): it is deleted",
                            "restore it first: rslora adapters restore " + std::to_string(id));
    if (original.sha256.empty())
        throw rslora::Error("cannot duplicate " + ref + " (\"" + original.name + "\"): it has no recorded files to copy");
    AdapterRepository::verifyFiles(original);
    StagedAdapter staged = stageAdapterFolder(store, original.path);
    if (staged.sha256 != original.sha256)
        throw rslora::Error("cannot duplicate " + ref + ": its files under " + original.path +
                            " changed while they were copied; nothing was recorded");
    NewAdapter n;
    n.task = task.empty() ? original.task : task;
    n.variant = original.variant;
    n.method = original.method;
    n.rank = original.rank;
    n.alpha = original.alpha;
    n.targets = original.targets;
    n.trainableParams = original.trainableParams;
    n.stage = original.stage;
    // No source run: the copy is not a result of that run (a run's newest version carries its
    // evaluations into sweep results); the converted-from edge says where it came from.
    n.baseModel = original.baseModel;
    n.notes = original.notes;
    const Tags tags = store.adapters().tags(id);
    return registerAdapterVersion(store, n, staged, [&](const AdapterRecord& copy) {
        LineageEdge e;
        e.childId = copy.id;
        e.parentId = original.id;
        e.kind = LineageKind::ConvertedFrom;
        e.method = "copy";
        store.lineage().add(e);
        for (const auto& [key, value] : tags)
            store.adapters().setTag(copy.id, key, value);
    });
}

} // namespace rslora::storage
