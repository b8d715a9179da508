// Stored gates (see GateRecorder.h).
#include "app/shared/GateRecorder.h"

#include "common/Error.h"
#include "models/ModelFingerprint.h"
#include "storage/Store.h"
#include "storage/VersionFiles.h"

#include <set>
#include <sstream>

namespace rslora::app {

namespace fs = std::filesystem;
namespace fusion = engine::fusion;

bool isGateVersion(const storage::AdapterRecord& record)
{
    return record.stage == kGateStage;
}

void refuseGateAsAdapter(const storage::AdapterRecord& record, const std::string& label)
{
    if (isGateVersion(record))
    {
        const std::string reference = record.task + "@v" + std::to_string(record.version);
        throw Error(label + (label == reference ? "" : " (" + reference + ")")
                    + " is a learned gate, not an adapter: use it with --gate (rslora gate eval) or the Playground's \"Use a gate\"");
    }
}

ResolvedAdapter resolveGateArgument(const std::string& argument, storage::Store* store)
{
    if (argument.empty())
        throw Error("--gate: empty (expected a gate folder or a stored gate such as gated@v1)");
    if (fs::is_directory(argument)) {
        if (!fs::is_regular_file(fs::path(argument) / fusion::kGateConfigFile))
            throw Error("--gate " + argument + ": not a gate folder (" + fusion::kGateConfigFile + " is missing)");
        return ResolvedAdapter{fs::absolute(argument), 1.0, argument, std::nullopt};
    }
    if (!store)
        throw Error("--gate " + argument + ": no such folder (expected a gate folder, or a stored gate such as gated@v1 with a store)");
    storage::AdapterRecord record;
    try {
        record = store->adapters().resolve(argument);
    } catch (const Error& e) {
        throw Error("--gate " + argument + ": no such folder, and " + e.what());
    }
    if (!isGateVersion(record))
        throw Error("--gate " + argument + ": " + record.task + "@v" + std::to_string(record.version) + " is an adapter (stage '"
                    + record.stage + "'), not a learned gate; gates are stored by rslora gate train");
    storage::AdapterRepository::verifyFiles(record);
    return ResolvedAdapter{fs::path(record.path), 1.0, argument, record};
}

storage::AdapterRecord registerGate(storage::Store& store, const fs::path& gateDir, const fusion::FusionGate& gate,
                                    const std::vector<ResolvedAdapter>& sources, const fs::path& modelDir,
                                    const GateRegistration& registration)
{
    storage::NewAdapter n;
    n.task = registration.task.empty() ? "gated" : registration.task;
    n.name = registration.name;
    n.notes = registration.notes;
    n.variant = kGateStage; // default names read <task>_gate_v<N>_<date>
    n.stage = kGateStage;
    std::ostringstream summary;
    summary << "learned gate over " << gate.adapters().size() << " adapters (";
    for (size_t i = 0; i < gate.adapters().size(); ++i)
        summary << (i ? ", " : "") << gate.adapters()[i].label;
    summary << "), " << (gate.hidden() > 0 ? "1 hidden layer of " + std::to_string(gate.hidden()) : std::string("linear"))
            << ", loss " << gate.stats().firstLoss << " -> " << gate.stats().finalLoss;
    n.method = summary.str();
    int64_t params = 0;
    for (const auto& [name, t] : gate.parameters())
        params += t.numel();
    n.trainableParams = params;
    std::set<std::string> targets;
    for (const auto& s : sources)
        if (s.record)
            targets.insert(s.record->targets.begin(), s.record->targets.end());
    n.targets.assign(targets.begin(), targets.end());
    n.baseModel.ref = fs::absolute(modelDir).string();
    n.baseModel.sha256 = models::modelFingerprint(modelDir);

    // One edge per stored adapter (named twice: once).
    std::vector<int64_t> parents;
    for (const auto& s : sources)
        if (s.record && std::find(parents.begin(), parents.end(), s.record->id) == parents.end())
            parents.push_back(s.record->id);
    const std::string details = nlohmann::ordered_json{{"adapters", gate.adapters().size()},
                                                       {"gate_hidden", gate.hidden()},
                                                       {"steps", gate.stats().steps},
                                                       {"final_loss", gate.stats().finalLoss}}
                                    .dump();
    return storage::registerAdapterVersion(store, n, gateDir,
                                           [&](const storage::AdapterRecord& child) {
                                               for (int64_t parent : parents) {
                                                   storage::LineageEdge e;
                                                   e.childId = child.id;
                                                   e.parentId = parent;
                                                   e.kind = storage::LineageKind::MergedFrom;
                                                   e.method = kGateStage;
                                                   e.detailsJson = details;
                                                   store.lineage().add(e);
                                               }
                                           })
        .record;
}

} // namespace rslora::app
