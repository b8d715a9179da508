// The evaluations of a fusion-weight grid search kept in the store: one evaluation per stored
// adapter version that took part, on the validation set (path and hash), whose value is the grid's
// best score and whose details hold the whole table.
#pragma once

#include "app/shared/AdapterReference.h"
#include "engine/fusion/GridSearch.h"

#include <string>
#include <vector>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

// "fusion_grid/<metric> with <the other adapters' labels>": one record per combination of adapters,
// so that searching the same version with other partners does not replace it.
std::string gridEvaluationMetric(const engine::fusion::GridResult& result, size_t adapterIndex);

// Records the grid's evaluations for every source that names a stored version (folders are
// skipped), in one transaction; re-running the same grid replaces its records. Returns how many
// were recorded.
int storeGridEvaluations(storage::Store& store, const engine::fusion::GridResult& result,
                         const std::vector<ResolvedAdapter>& sources);

} // namespace rslora::app
