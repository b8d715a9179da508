// The `--adapter` argument of fuse, merge and their GUI counterparts: a folder or a stored version,
// optionally followed by a weight ("DIR[:WEIGHT]", "task@v3[:WEIGHT]").
#pragma once

#include "storage/Records.h"

#include <filesystem>
#include <optional>
#include <string>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

struct ResolvedAdapter {
    std::filesystem::path path;                // the adapter folder
    double weight = 1.0;                       // the fusion weight (1 unless given)
    std::string label;                         // what the user wrote, without the weight
    std::optional<storage::AdapterRecord> record; // set when it named a stored version
};

// A folder that exists wins over a store reference; ":WEIGHT" is split off only when it parses as a
// finite number. A weight beyond float32, or one that times the adapter's largest scale is, is
// refused (adapters are applied in float32). A stored version's files are verified against their recorded hash. `store` may be
// null (no store in use: folders only). Throws rslora::Error saying what was tried, naming the
// argument as `option` ARGUMENT ("--adapter DIR:2"), or quoted when `option` is empty (a request field).
ResolvedAdapter resolveAdapterArgument(const std::string& argument, storage::Store* store,
                                       const std::string& option = "--adapter");

} // namespace rslora::app
