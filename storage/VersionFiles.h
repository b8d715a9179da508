// Adapter versions own their files: registering a version copies the adapter folder into the store's
// adapter root (<root>/<task>/v<N>-<uuid8>), hashes the copy and records it in one transaction, so no
// later run, resume or export can change what a version points at.
#pragma once

#include "storage/AdapterRepository.h"

#include <filesystem>
#include <functional>
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
// no folder is left behind when anything fails. `inTransaction` (optional) runs with the new record
// inside the same transaction, for what must be recorded with it or not at all (lineage edges).
RegisteredVersion registerAdapterVersion(Store& store, NewAdapter adapter, const std::filesystem::path& sourceDir,
                                         const std::function<void(const AdapterRecord&)>& inTransaction = {});

// The task a version of `base` goes to when `task` was asked for: `task` itself unless it holds
// versions of other bases, then <task>_<model folder name> (and its fingerprint's first 8 digits if
// that is taken by yet another base).
std::string taskForBaseModel(AdapterRepository& adapters, const std::string& task, const ContentRef& base);

} // namespace rslora::storage
