// Gradient all-reduce for data-parallel training (see GradientReducer.h).
#include "engine/distributed/GradientReducer.h"

#include "common/Error.h"
#include "engine/distributed/BatchShard.h"
#include "engine/distributed/ProcessGroup.h"

#include <chrono>

namespace rslora::engine::distributed {

GradientReducer::GradientReducer(ProcessGroup& group, int64_t bucketElements, std::optional<torch::ScalarType> wire)
    : m_group(group), m_buckets(group, bucketElements, wire)
{
    if (wire == torch::kBFloat16 && std::string(group.backendName()) == "gloo")
        throw Error("bfloat16 gradients need NCCL (CUDA): Gloo, the CPU's backend, has no bfloat16 all-reduce; "
                    "use training.allreduce_dtype 'float16' or 'float32'");
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

void GradientReducer::beginStep(const std::vector<AdamWParam>& params, double normaliser, bool singleBackward)
{
    const auto start = std::chrono::steady_clock::now();
    const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().param.device();
    std::vector<torch::Tensor> n{torch::tensor({normaliser}, torch::kDouble).to(device)};
    m_group.allReduceSum(n, "all-reduce of the step's normaliser");
    const double total = n[0].cpu().item<double>();
    m_localNormaliser = normaliser;
    m_buckets.attach(params);
    m_buckets.arm(total > 0 ? normaliser / total : 0.0, singleBackward);
    m_begun = true;
    m_reduceSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void GradientReducer::reduce(const std::vector<AdamWParam>& params, objectives::StepOutcome& outcome)
{
    if (!m_begun)
        throw Error("data-parallel step: reduce() without beginStep()");
    m_begun = false;
    if (outcome.normaliser != m_localNormaliser)
        throw Error("data-parallel step: the objective normalised by " + std::to_string(outcome.normaliser)
                    + " but announced " + std::to_string(m_localNormaliser) + " before the step");
    const auto start = std::chrono::steady_clock::now();
    torch::NoGradGuard ng;
    // Every bucket backward did not start, in order; then the counts while they travel: the loss and
    // metrics as Σ n_r·x_r, the tokens summed. The metric count leads so that ranks that disagree
    // are caught rather than mixed.
    m_buckets.startRemaining();
    const double n = outcome.normaliser;
    std::vector<double> v{double(outcome.metrics.size()), n, n > 0 ? outcome.hostLoss() * n : 0.0, double(outcome.tokens)};
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
    outcome.normaliser = total;
    outcome.loss = total > 0 ? sv[2] / total : 0.0;
    outcome.lossOnDevice = torch::Tensor(); // the job's loss is the one just computed
    outcome.tokens = int64_t(sv[3]);
    for (size_t i = 0; i < outcome.metrics.size(); ++i)
        outcome.metrics[i].second = total > 0 ? sv[4 + i] / total : 0.0;
    // The gradients, each rank's weighted by its share of the normaliser and summed.
    m_buckets.finish();
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
