// The adapter gradients of data-parallel training, laid out in buckets whose all-reduces start while
// backward is still running, as PyTorch's DDP does. Buckets hold the parameters in reverse order
// (backward produces the last layers' gradients first); a hook after each parameter's gradient
// accumulation marks it ready, and a bucket whose gradients are all ready is multiplied by this
// rank's weight and its all-reduce started, always in bucket order, so that every rank starts the
// same collectives in the same order whatever its own backward reaches first. What backward did
// not reach (a parameter no supervised token of this rank touched) counts as zero and starts after
// backward. The sums are written back into the gradients once they have arrived.
#pragma once

#include "engine/AdamW.h"
#include "engine/distributed/ProcessGroup.h"

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::distributed {

class GradientBuckets {
public:
    // `bucketElements`: how many gradient elements one all-reduce carries at most. `wire`: the dtype
    // they travel in (none: the gradients' own), rounded once after the rank's weight is applied.
    GradientBuckets(ProcessGroup& group, int64_t bucketElements, std::optional<torch::ScalarType> wire = std::nullopt);
    ~GradientBuckets();
    GradientBuckets(const GradientBuckets&) = delete;
    GradientBuckets& operator=(const GradientBuckets&) = delete;

    // Lays the buckets out over `params` and hooks their gradient accumulators; again only when the
    // parameters differ from the last call's.
    void attach(const std::vector<AdamWParam>& params);
    // Before one step's backward: gradients are multiplied by `weight`; with `overlap` the hooks start
    // each bucket during backward (only right when the step has a single backward pass: later passes
    // would add to gradients already sent).
    void arm(double weight, bool overlap);
    // After backward: starts every bucket not started yet, in order.
    void startRemaining();
    // Waits for every bucket and writes the sums into the parameters' gradients.
    void finish();

    int64_t bucketCount() const;
    // Buckets of the last step whose all-reduce started during backward (the overlap achieved).
    int startedDuringBackward() const;

private:
    struct State;
    ProcessGroup& m_group;
    int64_t m_bucketElements;
    std::optional<torch::ScalarType> m_wire;
    std::shared_ptr<State> m_state;
};

} // namespace rslora::engine::distributed
