// Adapter versions own their files: registering a version copies the adapter folder into the store's
// adapter root (<root>/<task>/v<N>-<uuid8>), hashes the copy and records it in one transaction, so no
// later run, resume or export can change what a version points at.
#pragma once

#include "storage/AdapterRepository.h"
#include "storage/StagedFolders.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace rslora::storage {

class Store;

struct RegisteredVersion {
    AdapterRecord record;
    // Set when the requested task already holds versions of another base model: the version went to
    // a task of its own (<task>_<model>) instead of being chained into that lineage.
    std::string requestedTask;
};

// `adapter.path` and `adapter.sha256` are ignored (they come from the copy). Nothing is recorded and
// no folder is left behind when anything fails, or when a transaction around the call rolls back.
// `inTransaction` (optional) runs with the new record inside the same transaction, for what must be
// recorded with it or not at all (lineage edges).
RegisteredVersion registerAdapterVersion(Store& store, NewAdapter adapter, const std::filesystem::path& sourceDir,
                                         const std::function<void(const AdapterRecord&)>& inTransaction = {});

// The slow half of registering (copy, fsync, hash), for a caller that records the version inside a
// longer transaction of its own: staged before that transaction opens, so the write lock is held only
// for the rows. The copy is removed when this goes away unless a version was registered from it.
struct StagedAdapter {
    std::unique_ptr<StagedFolders> folders;
    std::filesystem::path dir; // the copy, under the adapter root
    std::string sha256;        // of the copy
};
StagedAdapter stageAdapterFolder(Store& store, const std::filesystem::path& sourceDir);
// registerAdapterVersion from a staged copy (use each copy once).
RegisteredVersion registerAdapterVersion(Store& store, NewAdapter adapter, StagedAdapter& staged,
                                         const std::function<void(const AdapterRecord&)>& inTransaction = {});

// A new draft version of `task` (empty: the version's own task) with a copy of version `id`'s files and
// its method, shape, stage, base model, notes and tags, under the default name (no source run); a
// converted-from edge (method "copy") links it to the original. The original's files are verified first
// (AdapterRepository::verifyFiles) and the copy must hash to the same sha256. Nothing is recorded
// and no folder is left behind when anything fails.
RegisteredVersion duplicateAdapterVersion(Store& store, int64_t id, const std::string& task = {});

// The task a version of `base` goes to when `task` was asked for: `task` itself unless it holds
// versions of other bases, then <task>_<model folder name> (and its fingerprint's first 8 digits if
// that is taken by yet another base).
std::string taskForBaseModel(AdapterRepository& adapters, const std::string& task, const ContentRef& base);

} // namespace rslora::storage
