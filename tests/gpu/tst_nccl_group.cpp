// The data-parallel process group on a CUDA device: a one-process group over a store file picks
// NCCL, and its collectives (all-reduce, started and waited; all-gather; broadcast; anyRank) give
// what a group of one must, in float32 and bfloat16. Built where LibTorch has CUDA and nccl.h was
// found; a plain executable, because CUDA builds are headless. Exits non-zero if any check fails.
#include "GpuCheck.h"
#include "engine/distributed/DistributedContext.h"
#include "engine/distributed/ProcessGroup.h"

#include <torch/cuda.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using namespace rslora::engine::distributed;

using rslora::gputest::check;

int main()
{
    if (!torch::cuda::is_available()) {
        std::printf("FAIL  this build has NCCL, but no CUDA device is usable\n");
        return 1;
    }
    const auto store = std::filesystem::temp_directory_path() / ("rslora-nccl-" + std::to_string(::getpid()));
    std::filesystem::remove(store);
    DistributedContext c;
    c.storeFile = store.string();
    c.timeoutSeconds = 60;
    try {
        ProcessGroup group(c, torch::Device(torch::kCUDA, 0));
        check(std::string(group.backendName()) == "nccl", std::string("a CUDA device picks NCCL (got ") + group.backendName() + ")");
        for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
            const torch::Tensor x = torch::arange(1000, torch::TensorOptions().dtype(dtype).device(torch::kCUDA));
            std::vector<torch::Tensor> t{x.clone()};
            group.allReduceSum(t, "test all-reduce");
            check(torch::equal(t[0].cpu(), x.cpu()), std::string("all-reduce of one rank is the identity (") + c10::toString(dtype) + ")");
            const torch::Tensor y = x * 2; // the collective writes into y's storage
            auto pending = group.startAllReduceSum({y}, "test started all-reduce");
            check(pending.started(), "an all-reduce starts");
            pending.wait();
            check(!pending.started() && torch::equal(y.cpu(), (x * 2).cpu()), std::string("a started all-reduce completes on wait() (")
                                                                                + c10::toString(dtype) + ")");
        }
        const auto gathered = group.allGather("rank zero's bytes", "test all-gather");
        check(gathered.size() == 1 && gathered[0] == "rank zero's bytes", "all-gather returns this rank's bytes");
        check(group.broadcastFromRoot("root", "test broadcast") == "root", "broadcast from the root");
        check(group.anyRank(true, "test anyRank") && !group.anyRank(false, "test anyRank"), "anyRank of one rank is its flag");
    } catch (const std::exception& e) {
        check(false, std::string("process group on cuda:0: ") + e.what());
    }
    std::filesystem::remove(store);
    return rslora::gputest::finish();
}
