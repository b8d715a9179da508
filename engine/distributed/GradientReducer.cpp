// Gradient all-reduce for data-parallel training (see GradientReducer.h).
#include "engine/distributed/GradientReducer.h"

#include "common/Error.h"
#include "engine/distributed/BatchShard.h"
#include "engine/distributed/ProcessGroup.h"

#include <chrono>

namespace rslora::engine::distributed {

GradientReducer::GradientReducer(ProcessGroup& group, int64_t bucketElements)
    : m_group(group), m_bucketElements(std::max<int64_t>(1, bucketElements))
{
}

int GradientReducer::rank() const
{
    return m_group.rank();
}

int GradientReducer::worldSize() const
{
    return m_group.size();
}

std::vector<size_t> GradientReducer::shard(const std::vector<size_t>& globalMicroBatch) const
{
    return shardRows(globalMicroBatch, rank(), worldSize());
}

void GradientReducer::reduce(const std::vector<AdamWParam>& params, objectives::StepOutcome& outcome)
{
    const auto start = std::chrono::steady_clock::now();
    torch::NoGradGuard ng;
    // Counts first: the normaliser N = Σ n_r, the loss and metrics as Σ n_r·x_r, the tokens summed.
    // The metric count leads so that ranks that disagree are caught rather than mixed.
    const double n = outcome.normaliser;
    std::vector<double> v{double(outcome.metrics.size()), n, n > 0 ? outcome.loss * n : 0.0, double(outcome.tokens)};
    for (const auto& [name, value] : outcome.metrics)
        v.push_back(n > 0 ? value * n : 0.0);
    const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().param.device();
    std::vector<torch::Tensor> stats{torch::tensor(v, torch::kDouble).to(device)};
    m_group.allReduceSum(stats, "all-reduce of the step's loss and token counts");
    const auto s = stats[0].cpu();
    const double* sv = s.data_ptr<double>();
    if (sv[0] != double(outcome.metrics.size()) * worldSize())
        throw Error("data-parallel step: the ranks report different objective metrics (rank "
                    + std::to_string(rank()) + " has " + std::to_string(outcome.metrics.size()) + ")");
    const double total = sv[1];
    const double share = total > 0 ? n / total : 0.0;
    outcome.normaliser = total;
    outcome.loss = total > 0 ? sv[2] / total : 0.0;
    outcome.tokens = int64_t(sv[3]);
    for (size_t i = 0; i < outcome.metrics.size(); ++i)
        outcome.metrics[i].second = total > 0 ? sv[4 + i] / total : 0.0;

    // Gradients, flattened into buckets, weighted by the rank's share and summed. A parameter
    // without a gradient on this rank (no supervised token reached it) counts as zero.
    size_t first = 0;
    while (first < params.size()) {
        size_t last = first;
        int64_t elements = 0;
        std::vector<torch::Tensor> flat;
        while (last < params.size() && (last == first || elements + params[last].param.numel() <= m_bucketElements)) {
            const auto& p = params[last].param;
            const auto& g = p.grad();
            flat.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({p.numel()}, p.options()));
            elements += p.numel();
            ++last;
        }
        std::vector<torch::Tensor> bucket{torch::cat(flat).mul_(share)};
        m_group.allReduceSum(bucket, "gradient all-reduce");
        int64_t offset = 0;
        for (size_t i = first; i < last; ++i) {
            auto p = params[i].param;
            const int64_t k = p.numel();
            auto part = bucket[0].narrow(0, offset, k).view(p.sizes());
            if (p.grad().defined())
                p.mutable_grad().copy_(part);
            else
                p.mutable_grad() = part.clone();
            offset += k;
        }
        first = last;
    }
    m_reduceSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool GradientReducer::anyRank(bool flag, const std::string& what)
{
    return m_group.anyRank(flag, what);
}

std::vector<torch::Tensor> GradientReducer::gatherRandomStates(const torch::Tensor& mine)
{
    const auto t = mine.contiguous();
    const std::string bytes(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), size_t(t.numel()));
    std::vector<torch::Tensor> out;
    for (const auto& b : m_group.allGather(bytes, "gathering the ranks' random states for a checkpoint")) {
        auto s = torch::empty({int64_t(b.size())}, torch::kUInt8);
        std::copy(b.begin(), b.end(), reinterpret_cast<char*>(s.data_ptr<uint8_t>()));
        out.push_back(s);
    }
    return out;
}

} // namespace rslora::engine::distributed
