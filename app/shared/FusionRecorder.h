// Fusion around the engine, shared by the CLI and the GUI: the sources named by `--adapter`
// arguments (folders or stored versions) as the engine's inputs, and the fused folder registered in
// the store as a new adapter version with merged-from lineage edges (weights, method), in one
// transaction.
#pragma once

#include "app/shared/AdapterReference.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "storage/Records.h"

#include <filesystem>
#include <string>
#include <vector>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

// The adapters read as factors, labelled as the user named them.
std::vector<engine::fusion::AdapterFactors> readFusionSources(const std::vector<ResolvedAdapter>& sources);
// The weights of the resolved arguments, in order.
std::vector<double> fusionWeights(const std::vector<ResolvedAdapter>& sources);
// The base model folder recorded with the first stored version that records one (empty: none); a
// fusion reads it only for trained biases (bias "lora_only").
std::filesystem::path recordedBaseModel(const std::vector<ResolvedAdapter>& sources);
// Per source, the stored version's base model fingerprint ("" for folders).
std::vector<std::string> baseFingerprints(const std::vector<ResolvedAdapter>& sources);
// Per source, what rslora_fusion.json records (stored versions with their id, uuid and hash).
std::vector<engine::fusion::FusionSource> fusionSourceRecords(const std::vector<ResolvedAdapter>& sources);

struct FusionRegistration {
    std::string task = "fused"; // the task the new version joins
    std::string name;           // "" = the store's default name
    std::string notes;
};

// Copies the fused folder into the store as a new version (stage "merged") and adds one merged-from
// edge per stored source (a source named twice gets one edge with the summed weight), with the
// method and the parameters and errors as details. Nothing is recorded when anything fails.
storage::AdapterRecord registerFusedAdapter(storage::Store& store, const std::filesystem::path& fusedDir,
                                            const engine::fusion::FusionPlan& plan,
                                            const engine::fusion::FusionResult& result,
                                            const std::vector<ResolvedAdapter>& sources,
                                            const FusionRegistration& registration = {});

} // namespace rslora::app
