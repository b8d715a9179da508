// A run's output folder (checkpoints, the final adapter): one writer at a time, leftovers of killed
// writers cleaned, and checkpoints told apart by the run that wrote them. No LibTorch.
#pragma once

#include "engine/RunIdentity.h"
#include "engine/TrainConfig.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rslora::engine {

struct CheckpointInfo {
    std::filesystem::path dir;
    int64_t step = 0;
    std::string runUuid;   // empty for checkpoints written before runs were recorded in them
    std::string runLabel;
    std::string configSha256;
    std::string describe() const; // "step-30 of run #1 \"a\""
};

class RunFolder {
public:
    static constexpr const char* kLockFile = ".rslora-run.lock";

    // Creates the folder and locks it for this process (released by the destructor). Throws naming
    // the run and process holding it when another process trains there.
    RunFolder(std::filesystem::path dir, RunIdentity run);
    // A start that never reached markStarted() (refused, or failed before training) takes back what
    // the constructor created: the lock file, and the folders that did not exist, when left empty.
    ~RunFolder();
    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;

    const std::filesystem::path& path() const { return m_dir; }

    // Throws naming the file when `dir`, or a folder above it, is a file (the folder cannot be made).
    static void requireFolderPath(const std::filesystem::path& dir);

    // Hidden staging folders and temporary files (".step-20.tmp-…", ".adapter.tmp-…") that killed
    // writers left here and under checkpoints/; safe while the lock is held. Returns bytes freed.
    uint64_t removeStaleStaging();

    // Every complete checkpoint under checkpoints/, oldest first.
    std::vector<CheckpointInfo> checkpoints() const;
    // The same for any run folder, without taking its lock (whether a run has something to resume;
    // staging folders of a killed save are not checkpoints).
    static std::vector<CheckpointInfo> checkpointsIn(const std::filesystem::path& dir);
    // This run's newest checkpoint: same run uuid, or, for a run without one, the same trained config.
    // Throws naming both runs when the folder holds only other runs' checkpoints.
    std::filesystem::path latestCheckpoint(const TrainConfig& config) const;
    // Throws when `checkpoint` was written with a config that trains something else (lists the keys).
    void checkResumable(const std::filesystem::path& checkpoint, const TrainConfig& config) const;
    // A new run must not mix its checkpoints with another run's, nor replace what its final save
    // would (`adapter/`, or `model/` for a full fine-tune): throws when the folder holds any of it.
    void checkFreshStart(TrainMode mode) const;
    // The run saves the config it trains as train_config.json here: throws when that name holds
    // something else (the user's own file, a folder) that the save would replace. Accepted: a config
    // that trains the same, or one a run saved for this folder.
    void checkConfigFile(const TrainConfig& config) const;
    // The run starts writing its outputs: from now on the folder and its lock file stay.
    void markStarted() { m_started = true; }

private:
    void removeCreatedFolders() const;

    std::filesystem::path m_dir;
    RunIdentity m_run;
    int m_fd = -1;
    bool m_started = false;
    bool m_createdLock = false;
    std::filesystem::path m_createdRoot; // the outermost folder the constructor created; empty if none
};

} // namespace rslora::engine
