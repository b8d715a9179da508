// Records a merged model folder in the store as an artifact (kind "merged") of each stored adapter
// version merged into it, so the Adapters view and `rslora adapters show` can list where a version
// went. Shared by `rslora merge` and the GUI's "Export merged model…".
#pragma once

#include "engine/fusion/ModelExport.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

struct MergedSource {
    std::optional<int64_t> adapterId; // the stored version, when the adapter was named as one
    std::string label;                // what the user named it
    std::string path;                 // the adapter folder
    double weight = 1.0;
};

// Adds one artifact per stored version among `sources` (none when every adapter was a plain
// folder), in one transaction. An artifact belongs to a run: the version's source run when it has
// one, else one run created for this merge (finished, tagged "merge", its config the merge
// request). The details JSON holds the weight, dtype, shards and every source. Returns the ids.
std::vector<int64_t> recordMergedModel(storage::Store& store, const engine::fusion::MergeReport& report,
                                       const std::filesystem::path& modelDir, const std::vector<MergedSource>& sources);

} // namespace rslora::app
