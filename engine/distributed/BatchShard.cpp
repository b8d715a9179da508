// Micro-batch sharding (see BatchShard.h).
#include "engine/distributed/BatchShard.h"

namespace rslora::engine::distributed {

std::vector<size_t> shardRows(const std::vector<size_t>& global, int rank, int worldSize)
{
    if (worldSize <= 1)
        return global;
    const size_t n = global.size(), w = size_t(worldSize), r = size_t(rank);
    return std::vector<size_t>(global.begin() + long(r * n / w), global.begin() + long((r + 1) * n / w));
}

} // namespace rslora::engine::distributed
