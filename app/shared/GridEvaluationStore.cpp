// Grid-search evaluations in the store (see GridEvaluationStore.h).
#include "app/shared/GridEvaluationStore.h"

#include "storage/EvaluationRepository.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <cmath>

namespace rslora::app {

std::string gridEvaluationMetric(const engine::fusion::GridResult& result, size_t adapterIndex)
{
    std::string others;
    for (size_t i = 0; i < result.adapters.size(); ++i)
        if (i != adapterIndex)
            others += (others.empty() ? "" : ", ") + result.adapters[i];
    return std::string("fusion_grid/") + engine::fusion::gridMetricName(result.metric) + " with " + others;
}

int storeGridEvaluations(storage::Store& store, const engine::fusion::GridResult& result,
                         const std::vector<ResolvedAdapter>& sources)
{
    if (result.points.empty())
        return 0;
    int recorded = 0;
    storage::Transaction tx(store.database());
    for (size_t i = 0; i < sources.size() && i < result.adapters.size(); ++i) {
        if (!sources[i].record)
            continue;
        nlohmann::ordered_json details = result.toJson();
        details["adapter_index"] = i; // this version's axis in "axes" and in each point's "weights"
        storage::EvaluationRecord ev;
        ev.adapterId = sources[i].record->id;
        ev.dataset = result.dataset;
        ev.datasetSha256 = result.datasetSha256;
        ev.metric = gridEvaluationMetric(result, i);
        ev.value = result.bestPoint().score.value; // NaN is stored as NULL
        ev.detailsJson = details.dump();
        store.evaluations().record(ev);
        ++recorded;
    }
    tx.commit();
    return recorded;
}

} // namespace rslora::app
