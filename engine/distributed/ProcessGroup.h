// A data-parallel process group over LibTorch's c10d: Gloo for CPU tensors, NCCL for CUDA tensors
// (CUDA builds), rendezvous through a TCP store hosted by rank 0 or a shared file. Every call is a
// collective: all ranks make the same calls in the same order. A peer that died, or one that does
// not arrive within the timeout, makes the call throw rslora::Error naming the operation.
#pragma once

#include "engine/distributed/DistributedContext.h"

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace rslora::engine::distributed {

class ProcessGroup {
public:
    // Joins the group (blocks until every rank has joined or the timeout passes). `device`: the
    // device the training tensors live on; CUDA selects NCCL where the build has it.
    ProcessGroup(DistributedContext context, torch::Device device = torch::kCPU);
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup&) = delete;
    ProcessGroup& operator=(const ProcessGroup&) = delete;

    const DistributedContext& context() const { return m_context; }
    int rank() const { return m_context.rank; }
    int size() const { return m_context.worldSize; }
    const char* backendName() const;

    // A collective in flight; wait() blocks until it has finished and throws as the blocking call
    // would. A Pending that is never waited for is waited for by its destructor (errors ignored).
    class Pending {
    public:
        Pending();
        Pending(Pending&&) noexcept;
        Pending& operator=(Pending&&) noexcept; // waits for the collective it held first
        ~Pending();
        bool started() const { return m_work != nullptr; }
        void wait();

    private:
        friend class ProcessGroup;
        struct Work;
        void waitQuietly() noexcept; // unwinding after another failure: its own error adds nothing
        std::unique_ptr<Work> m_work;
    };

    // Sums each tensor over the ranks, in place; `what` names the operation in errors.
    void allReduceSum(std::vector<torch::Tensor>& tensors, const std::string& what);
    // The same, started and left running (on Gloo's worker thread, or NCCL's stream): the caller goes
    // on and waits later. Collectives still start in the same order on every rank.
    Pending startAllReduceSum(std::vector<torch::Tensor> tensors, const std::string& what);
    // Every rank's bytes, indexed by rank.
    std::vector<std::string> allGather(const std::string& bytes, const std::string& what);
    // Rank 0's bytes on every rank.
    std::string broadcastFromRoot(const std::string& bytes, const std::string& what);
    // True on every rank when `flag` is true on any.
    bool anyRank(bool flag, const std::string& what);

private:
    struct Impl;
    DistributedContext m_context;
    std::unique_ptr<Impl> m_impl;
};

} // namespace rslora::engine::distributed
