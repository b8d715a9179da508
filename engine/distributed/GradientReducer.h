// What the trainer calls between backward and the optimizer in data-parallel training: the step's
// counts are summed over the ranks, each rank's gradients are weighted by its share of the global
// normaliser (supervised tokens for SFT, pairs for DPO) and summed in buckets, so every rank holds
// the gradient one process would have computed on the whole global batch. Loss and objective
// metrics become the global values too, so clipping, balancing, logging and the optimizer see the
// same numbers on every rank.
#pragma once

#include "engine/AdamW.h"
#include "engine/objectives/Objective.h"

#include <string>
#include <vector>

namespace rslora::engine::distributed {

class ProcessGroup;

class GradientReducer {
public:
    // `bucketElements`: how many gradient elements one all-reduce carries at most.
    explicit GradientReducer(ProcessGroup& group, int64_t bucketElements = int64_t(1) << 22);

    int rank() const;
    int worldSize() const;
    // Rank 0 writes the store, checkpoints and adapters; the others write nothing.
    bool isWriter() const { return rank() == 0; }
    ProcessGroup& group() { return m_group; }

    // This rank's rows of a global micro-batch.
    std::vector<size_t> shard(const std::vector<size_t>& globalMicroBatch) const;
    // Replaces the local gradients of `params` and the local loss, tokens and metrics of `outcome`
    // by their global values.
    void reduce(const std::vector<AdamWParam>& params, objectives::StepOutcome& outcome);
    // True on every rank when `flag` is true on any (a stop or save decision all ranks must share).
    bool anyRank(bool flag, const std::string& what);
    // Every rank's CPU random state (for checkpoints), indexed by rank.
    std::vector<torch::Tensor> gatherRandomStates(const torch::Tensor& mine);

    // Seconds spent in reduce() so far (benchmarks).
    double reduceSeconds() const { return m_reduceSeconds; }

private:
    ProcessGroup& m_group;
    int64_t m_bucketElements;
    double m_reduceSeconds = 0.0;
};

} // namespace rslora::engine::distributed
