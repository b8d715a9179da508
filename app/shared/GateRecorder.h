// Learned gates (`rslora gate train`) as stored versions, shared by the CLI and the GUI: a gate is
// kept in the store like an adapter version, with stage "gate", so that it has a task, a version
// number, a hash-checked folder and lineage (one merged-from edge, method "gate", per stored adapter
// it weighs). A gate is not a PEFT adapter: the places that take adapters refuse it by name, and the
// places that take a gate (`--gate`, the Playground's "Use a gate") accept a gate folder or a stored
// gate version.
#pragma once

#include "app/shared/AdapterReference.h"
#include "engine/fusion/FusionGate.h"
#include "storage/Records.h"

#include <filesystem>
#include <string>
#include <vector>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

inline constexpr const char* kGateStage = "gate";

bool isGateVersion(const storage::AdapterRecord& record);

// Throws, naming `label` and saying where a gate is used, when `record` is a stored gate.
void refuseGateAsAdapter(const storage::AdapterRecord& record, const std::string& label);

// A gate folder (with gate.json) or a stored gate version (task@vN, name, ...; files verified against
// their recorded hash). `store` may be null (folders only). Throws saying what was tried; a stored
// version that is an adapter, not a gate, is refused by name.
ResolvedAdapter resolveGateArgument(const std::string& argument, storage::Store* store);

struct GateRegistration {
    std::string task = "gated"; // the task the new version joins
    std::string name;           // "" = the store's default name
    std::string notes;
};

// Copies the gate folder into the store as a new version of stage "gate" and adds one merged-from
// edge (method "gate", no weight: the gate weighs per prompt) per stored adapter among `sources`, in
// one transaction. The base model is recorded from `modelDir`. Nothing is recorded when anything fails.
storage::AdapterRecord registerGate(storage::Store& store, const std::filesystem::path& gateDir,
                                    const engine::fusion::FusionGate& gate, const std::vector<ResolvedAdapter>& sources,
                                    const std::filesystem::path& modelDir, const GateRegistration& registration = {});

} // namespace rslora::app
