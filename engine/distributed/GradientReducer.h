// What the trainer calls around a step in data-parallel training. Before the forward, the step's
// normaliser (supervised tokens for SFT, pairs for DPO) is summed over the ranks; each rank's
// gradients are weighted by its share of it and summed in buckets whose all-reduces start during
// backward (GradientBuckets), so every rank holds the gradient one process would have computed on
// the whole global batch. After backward, loss and objective metrics become the global values too,
// so clipping, balancing, logging and the optimizer see the same numbers on every rank.
#pragma once

#include "engine/AdamW.h"
#include "engine/distributed/GradientBuckets.h"
#include "engine/objectives/Objective.h"

#include <string>
#include <optional>
#include <vector>

namespace rslora::engine::distributed {

class ProcessGroup;

class GradientReducer {
public:
    // `bucketElements`: how many gradient elements one all-reduce carries at most. `wire`: the dtype
    // gradients travel in (none: their own); bfloat16 is refused on Gloo, which cannot sum it.
    explicit GradientReducer(ProcessGroup& group, int64_t bucketElements = int64_t(1) << 22,
                             std::optional<torch::ScalarType> wire = std::nullopt);

    int rank() const;
    int worldSize() const;
    // Rank 0 writes the store, checkpoints and adapters; the others write nothing.
    bool isWriter() const { return rank() == 0; }
    ProcessGroup& group() { return m_group; }

    // This rank's rows of a global micro-batch.
    std::vector<size_t> shard(const std::vector<size_t>& globalMicroBatch) const;
    // Before the step's forward: this rank's normaliser, summed over the ranks to weigh this rank's
    // gradients. `singleBackward`: the step runs one backward pass on this rank, so buckets can start
    // during it (with several passes, all start after the last).
    void beginStep(const std::vector<AdamWParam>& params, double normaliser, bool singleBackward);
    // After backward: replaces the local gradients of `params` and the local loss, tokens and metrics
    // of `outcome` by their global values. Needs beginStep() first.
    void reduce(const std::vector<AdamWParam>& params, objectives::StepOutcome& outcome);
    // Buckets whose all-reduce started during the last step's backward, and the bucket count.
    int overlappedBuckets() const { return m_buckets.startedDuringBackward(); }
    int64_t bucketCount() const { return m_buckets.bucketCount(); }
    // True on every rank when `flag` is true on any (a stop or save decision all ranks must share).
    bool anyRank(bool flag, const std::string& what);
    // Every rank's CPU random state (for checkpoints), indexed by rank.
    std::vector<torch::Tensor> gatherRandomStates(const torch::Tensor& mine);

    // Seconds this rank waited in beginStep() and reduce() so far: the communication backward did not
    // hide (benchmarks).
    double reduceSeconds() const { return m_reduceSeconds; }

private:
    ProcessGroup& m_group;
    GradientBuckets m_buckets;
    bool m_begun = false;
    double m_localNormaliser = 0.0;
    double m_reduceSeconds = 0.0;
};

} // namespace rslora::engine::distributed
