// Rank-aware sharding of a global micro-batch: every rank walks the same seeded order of the data
// (so the data position is the same on every rank and does not depend on the world size) and
// takes its own contiguous slice of each micro-batch.
#pragma once

#include <cstddef>
#include <vector>

namespace rslora::engine::distributed {

// Rank `rank` of `worldSize` gets rows [rank·n/W, (rank+1)·n/W) of the n rows of `global`:
// slices differ by at most one row and together are `global` in order.
std::vector<size_t> shardRows(const std::vector<size_t>& global, int rank, int worldSize);

} // namespace rslora::engine::distributed
