// Registration of adapter versions with files of their own (see VersionFiles.h).
#include "storage/VersionFiles.h"

#include "common/Error.h"
#include "common/Sha256.h"
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

} // namespace rslora::storage
