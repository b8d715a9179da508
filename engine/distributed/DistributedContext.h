// Where this process stands in a data-parallel job: its rank, the world size and how the ranks meet,
// read from the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT) plus the workbench's own RSLORA_COLLECTIVE_TIMEOUT (seconds) and
// RSLORA_STORE_FILE (a shared file that replaces the TCP rendezvous, for tests and shared disks).
#pragma once

#include <map>
#include <string>

namespace rslora::engine::distributed {

// Environment variable names, in one place (the launcher writes what this reads).
inline constexpr const char* kEnvRank = "RANK";
inline constexpr const char* kEnvWorldSize = "WORLD_SIZE";
inline constexpr const char* kEnvLocalRank = "LOCAL_RANK";
inline constexpr const char* kEnvLocalWorldSize = "LOCAL_WORLD_SIZE";
inline constexpr const char* kEnvMasterAddr = "MASTER_ADDR";
inline constexpr const char* kEnvMasterPort = "MASTER_PORT";
inline constexpr const char* kEnvTimeout = "RSLORA_COLLECTIVE_TIMEOUT";
inline constexpr const char* kEnvStoreFile = "RSLORA_STORE_FILE";
inline constexpr int kDefaultTimeoutSeconds = 300;
inline constexpr int kDefaultMasterPort = 29500;

struct DistributedContext {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1;
    std::string masterAddr = "127.0.0.1";
    int masterPort = kDefaultMasterPort;
    int timeoutSeconds = kDefaultTimeoutSeconds;
    std::string storeFile; // non-empty: rendezvous through this file instead of a TCP store
    // Set when LOCAL_WORLD_SIZE was not given and MASTER_ADDR is not a loopback address: the ranks
    // may be on several machines (a launcher that sets only RANK, WORLD_SIZE and MASTER_ADDR).
    bool masterMayBeRemote = false;

    bool distributed() const { return worldSize > 1; }
    // Every rank on this machine: the ranks talk over the loopback interface.
    bool singleNode() const { return localWorldSize == worldSize && !masterMayBeRemote; }
    // "rank 1 of 2"
    std::string describe() const;
    // The device this rank trains on: in a data-parallel job a CUDA device without an index is the
    // one of this rank's LOCAL_RANK (cuda -> cuda:1 for local rank 1), as torchrun users set it;
    // anything else as given.
    std::string rankDevice(const std::string& device) const;

    // Reads the variables from `env` (a name absent means its default); a malformed or
    // inconsistent value is refused naming the variable and the value. Without LOCAL_WORLD_SIZE
    // every rank is taken to be on this machine when MASTER_ADDR is a loopback address (or unset).
    static DistributedContext fromVariables(const std::map<std::string, std::string>& env);
    static DistributedContext fromEnvironment();
};

} // namespace rslora::engine::distributed
