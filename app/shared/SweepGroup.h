// A sweep in the store for both front ends: the group and all its runs created queued at once, the
// runs still to do (for a resume), and the members' results as the statistics want them.
#pragma once

#include "engine/sweep/SweepSpec.h"
#include "engine/sweep/SweepSummary.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslora::storage {
class Store;
struct RunGroupMember;
} // namespace rslora::storage

namespace rslora::app {

class SweepGroup {
public:
    // Expands and validates every run's config as create() does, and reads the evaluation files the
    // spec names (checkEvaluationFiles), storing nothing; returns the number of runs. Throws
    // rslora::Error naming the combination, the key and the value at fault, or the file.
    static int validate(const nlohmann::json& baseConfig, const engine::SweepSpec& spec);
    // Validates every expanded config first (every problem of the first bad one named, with the
    // combination), then creates the group and one queued run per point in one transaction.
    static int64_t create(storage::Store& store, const std::string& name, const std::string& configPath,
                          const nlohmann::json& baseConfig, const engine::SweepSpec& spec);
    // The evaluation files of the spec exist, are files, and read as their kind (exact-match items,
    // multiple-choice items, preference records): a typo is found before hours of training, not after
    // every run. Throws rslora::Error naming the key and the file.
    static void checkEvaluationFiles(const engine::SweepSpec& spec);
    // Members whose run is not finished, in run order.
    static std::vector<storage::RunGroupMember> pending(storage::Store& store, int64_t groupId);
    // Before a process continues the group: throws rslora::Error naming the first pending run that
    // another live process trains, holds paused or has queued (the sweep is under way there; its
    // queued runs would each be refused when they came up), and that process.
    static void refuseHeld(storage::Store& store, int64_t groupId);
    // refuseHeld, then every pending run queued for this process, in one transaction: a second
    // process continuing the group at the same time is refused as for a live group, instead of
    // finding each run taken when it comes up. Returns the pending members, in run order.
    static std::vector<storage::RunGroupMember> claim(storage::Store& store, int64_t groupId);
    // A small committed write to the group's row: throws storage::DatabaseError when the store no
    // longer takes writes (full disk, I/O error, locked past the busy timeout).
    static void probeWrite(storage::Store& store, int64_t groupId);
    // Finished members whose adapter version lacks an evaluation their run recorded on one of the
    // spec's files (it failed, the sweep was stopped during it, or `rslora eval --record` replaced
    // it): (run id, adapter id), in run order. Empty when the spec evaluates nothing.
    static std::vector<std::pair<int64_t, int64_t>> unevaluated(storage::Store& store, int64_t groupId);
    // What the member runs measured, for SweepSummary::compute.
    static std::vector<engine::SweepRunResult> results(storage::Store& store, int64_t groupId);
    // The runs the group was made with that are no longer its members (deleted from the store), as
    // results marked missing (combination and seed from the group's spec and base config), in run
    // order; for SweepSummary::compute beside results(), which then names them.
    static std::vector<engine::SweepRunResult> missing(storage::Store& store, int64_t groupId);
    static engine::SweepSpec spec(storage::Store& store, int64_t groupId);
    // True when the spec asks every run for evaluations besides the trainer's validation loss.
    static bool evaluates(const engine::SweepSpec& spec);
    // Evaluates a finished member run's adapter version as the spec asks (exact match, multiple
    // choice, preference) and stores the results against the version; returns the report as text.
    // Throws rslora::Error when the evaluation cannot run.
    static std::string evaluateRun(storage::Store& store, const engine::SweepSpec& spec, int64_t runId, int64_t adapterId);
};

} // namespace rslora::app
