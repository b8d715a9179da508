// torchrun-style environment of a data-parallel worker (see DistributedContext.h).
#include "engine/distributed/DistributedContext.h"

#include "common/Error.h"

#include <cstdlib>
#include <stdexcept>

namespace rslora::engine::distributed {

namespace {

int integerVariable(const std::map<std::string, std::string>& env, const char* name, int fallback, int minimum)
{
    auto it = env.find(name);
    if (it == env.end() || it->second.empty())
        return fallback;
    size_t used = 0;
    long v = 0;
    try {
        v = std::stol(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != it->second.size() || v < minimum || v > 1'000'000)
        throw Error(std::string("environment variable ") + name + "='" + it->second + "' is not an integer >= "
                    + std::to_string(minimum));
    return int(v);
}

bool given(const std::map<std::string, std::string>& env, const char* name)
{
    const auto it = env.find(name);
    return it != env.end() && !it->second.empty();
}

bool isLoopback(const std::string& host)
{
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

} // namespace

std::string DistributedContext::rankDevice(const std::string& device) const
{
    if (distributed() && device == "cuda")
        return "cuda:" + std::to_string(localRank);
    return device;
}

std::string DistributedContext::describe() const
{
    return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize);
}

DistributedContext DistributedContext::fromVariables(const std::map<std::string, std::string>& env)
{
    DistributedContext c;
    c.worldSize = integerVariable(env, kEnvWorldSize, 1, 1);
    c.rank = integerVariable(env, kEnvRank, 0, 0);
    c.localRank = integerVariable(env, kEnvLocalRank, c.rank, 0);
    // Without LOCAL_WORLD_SIZE the world counts as local (masterMayBeRemote says whether it may not be).
    c.localWorldSize = integerVariable(env, kEnvLocalWorldSize, c.worldSize, 1);
    c.masterPort = integerVariable(env, kEnvMasterPort, kDefaultMasterPort, 1);
    c.timeoutSeconds = integerVariable(env, kEnvTimeout, kDefaultTimeoutSeconds, 1);
    if (auto it = env.find(kEnvMasterAddr); it != env.end() && !it->second.empty())
        c.masterAddr = it->second;
    if (auto it = env.find(kEnvStoreFile); it != env.end())
        c.storeFile = it->second;
    c.masterMayBeRemote = !given(env, kEnvLocalWorldSize) && !isLoopback(c.masterAddr);
    if (c.rank >= c.worldSize)
        throw Error(std::string(kEnvRank) + "=" + std::to_string(c.rank) + " is not below " + kEnvWorldSize + "="
                    + std::to_string(c.worldSize)
                    + (given(env, kEnvWorldSize) ? std::string() : std::string(" (") + kEnvWorldSize + " is not set)"));
    if (c.localWorldSize > c.worldSize)
        throw Error(std::string(kEnvLocalWorldSize) + "=" + std::to_string(c.localWorldSize) + " is larger than "
                    + kEnvWorldSize + "=" + std::to_string(c.worldSize)
                    + (given(env, kEnvWorldSize) ? std::string() : std::string(" (") + kEnvWorldSize + " is not set)"));
    if (c.localRank >= c.localWorldSize)
        throw Error(std::string(kEnvLocalRank) + "=" + std::to_string(c.localRank) + " is not below "
                    + kEnvLocalWorldSize + "=" + std::to_string(c.localWorldSize));
    if (c.masterPort > 65535)
        throw Error(std::string(kEnvMasterPort) + "=" + std::to_string(c.masterPort) + " is not a TCP port (1-65535)");
    return c;
}

DistributedContext DistributedContext::fromEnvironment()
{
    std::map<std::string, std::string> env;
    for (const char* name : {kEnvRank, kEnvWorldSize, kEnvLocalRank, kEnvLocalWorldSize, kEnvMasterAddr, kEnvMasterPort,
                             kEnvTimeout, kEnvStoreFile})
        if (const char* v = std::getenv(name))
            env[name] = v;
    return fromVariables(env);
}

} // namespace rslora::engine::distributed
