// c10d process group wrapper (see ProcessGroup.h).
#include "engine/distributed/ProcessGroup.h"

#include "common/Error.h"

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RSLORA_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <chrono>

namespace rslora::engine::distributed {

struct ProcessGroup::Impl {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroup> group;
    torch::Device device = torch::kCPU;
    std::chrono::milliseconds timeout{0};
    std::string backend = "gloo";
};

namespace {

[[noreturn]] void collectiveFailed(const DistributedContext& c, const std::string& what, const std::string& why)
{
    throw Error("data-parallel " + what + " failed on " + c.describe() + ": " + why,
                "another rank stopped or did not arrive within the collective timeout of "
                    + std::to_string(c.timeoutSeconds) + " s (" + kEnvTimeout + ")");
}

} // namespace

ProcessGroup::ProcessGroup(DistributedContext context, torch::Device device)
    : m_context(std::move(context)), m_impl(std::make_unique<Impl>())
{
    const auto& c = m_context;
    m_impl->timeout = std::chrono::milliseconds(int64_t(c.timeoutSeconds) * 1000);
    m_impl->device = device;
    try {
        if (!c.storeFile.empty()) {
            m_impl->store = c10::make_intrusive<c10d::FileStore>(c.storeFile, c.worldSize);
            m_impl->store->setTimeout(m_impl->timeout);
        } else {
            c10d::TCPStoreOptions opts;
            opts.port = uint16_t(c.masterPort);
            opts.isServer = c.rank == 0;
            opts.numWorkers = size_t(c.worldSize);
            opts.waitWorkers = true;
            opts.timeout = m_impl->timeout;
            m_impl->store = c10::make_intrusive<c10d::TCPStore>(c.masterAddr, opts);
        }
    } catch (const std::exception& e) {
        throw Error("cannot join the data-parallel group (" + c.describe() + ") through "
                        + (c.storeFile.empty() ? "the TCP store at " + c.masterAddr + ":" + std::to_string(c.masterPort)
                                               : "the store file " + c.storeFile)
                        + ": " + e.what(),
                    "every rank must start within " + std::to_string(c.timeoutSeconds) + " s and reach "
                        + std::string(kEnvMasterAddr) + ":" + kEnvMasterPort);
    }
    try {
#ifdef RSLORA_WITH_NCCL
        if (device.is_cuda()) {
            auto opts = c10d::ProcessGroupNCCL::Options::create();
            opts->timeout = m_impl->timeout;
            m_impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
                c10::make_intrusive<c10d::PrefixStore>("nccl", m_impl->store), c.rank, c.worldSize, opts);
            m_impl->backend = "nccl";
            return;
        }
#endif
        if (device.is_cuda())
            throw Error("this build has no NCCL: data-parallel training on CUDA needs a LibTorch with NCCL");
        auto opts = c10d::ProcessGroupGloo::Options::create(m_impl->timeout);
        // On one machine the ranks talk over loopback; across machines over the interface that
        // reaches the master (GLOO_SOCKET_IFNAME chooses another, as with PyTorch).
        if (c.singleNode())
            opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
            opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else
            opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        opts->threads = 1; // the collectives are small next to the step; the cores belong to compute
        m_impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
            c10::make_intrusive<c10d::PrefixStore>("gloo", m_impl->store), c.rank, c.worldSize, opts);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        collectiveFailed(c, "group set-up", e.what());
    }
}

ProcessGroup::~ProcessGroup() = default;

const char* ProcessGroup::backendName() const
{
    return m_impl->backend.c_str();
}

void ProcessGroup::allReduceSum(std::vector<torch::Tensor>& tensors, const std::string& what)
{
    try {
        c10d::AllreduceOptions opts;
        opts.reduceOp = c10d::ReduceOp::SUM;
        opts.timeout = m_impl->timeout;
        m_impl->group->allreduce(tensors, opts)->wait(m_impl->timeout);
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e.what());
    }
}

struct ProcessGroup::Pending::Work {
    c10::intrusive_ptr<c10d::Work> work;
    std::vector<torch::Tensor> tensors; // kept alive until the collective has finished
    std::chrono::milliseconds timeout{0};
    DistributedContext context;
    std::string what;
};

ProcessGroup::Pending ProcessGroup::startAllReduceSum(std::vector<torch::Tensor> tensors, const std::string& what)
{
    Pending p;
    p.m_work = std::make_unique<Pending::Work>();
    p.m_work->tensors = std::move(tensors);
    p.m_work->timeout = m_impl->timeout;
    p.m_work->context = m_context;
    p.m_work->what = what;
    try {
        c10d::AllreduceOptions opts;
        opts.reduceOp = c10d::ReduceOp::SUM;
        opts.timeout = m_impl->timeout;
        p.m_work->work = m_impl->group->allreduce(p.m_work->tensors, opts);
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e.what());
    }
    return p;
}

void ProcessGroup::Pending::wait()
{
    if (!m_work)
        return;
    const std::unique_ptr<Work> w = std::move(m_work);
    try {
        w->work->wait(w->timeout);
    } catch (const std::exception& e) {
        collectiveFailed(w->context, w->what, e.what());
    }
}

ProcessGroup::Pending::Pending() = default;
ProcessGroup::Pending::Pending(Pending&&) noexcept = default;

ProcessGroup::Pending& ProcessGroup::Pending::operator=(Pending&& other) noexcept
{
    if (this != &other) {
        waitQuietly();
        m_work = std::move(other.m_work);
    }
    return *this;
}

ProcessGroup::Pending::~Pending()
{
    waitQuietly();
}

void ProcessGroup::Pending::waitQuietly() noexcept
{
    if (!m_work)
        return;
    try {
        m_work->work->wait(m_work->timeout);
    } catch (...) {
    }
    m_work.reset();
}

std::vector<std::string> ProcessGroup::allGather(const std::string& bytes, const std::string& what)
{
    const int n = size();
    try {
        // Lengths first, then every rank's bytes padded to the longest.
        std::vector<torch::Tensor> len{torch::full({1}, int64_t(bytes.size()), torch::kLong).to(m_impl->device)};
        std::vector<std::vector<torch::Tensor>> lens(1);
        for (int r = 0; r < n; ++r)
            lens[0].push_back(torch::zeros({1}, torch::kLong).to(m_impl->device));
        c10d::AllgatherOptions opts;
        opts.timeout = m_impl->timeout;
        m_impl->group->allgather(lens, len, opts)->wait(m_impl->timeout);
        std::vector<int64_t> sizes;
        int64_t longest = 1;
        for (const auto& t : lens[0]) {
            sizes.push_back(t.cpu().item<int64_t>());
            longest = std::max(longest, sizes.back());
        }
        auto mine = torch::zeros({longest}, torch::kUInt8);
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(mine.data_ptr<uint8_t>()));
        std::vector<torch::Tensor> in{mine.to(m_impl->device)};
        std::vector<std::vector<torch::Tensor>> out(1);
        for (int r = 0; r < n; ++r)
            out[0].push_back(torch::zeros({longest}, torch::kUInt8).to(m_impl->device));
        m_impl->group->allgather(out, in, opts)->wait(m_impl->timeout);
        std::vector<std::string> result;
        for (int r = 0; r < n; ++r) {
            const auto t = out[0][size_t(r)].cpu().contiguous();
            const char* p = reinterpret_cast<const char*>(t.data_ptr<uint8_t>());
            result.emplace_back(p, p + sizes[size_t(r)]);
        }
        return result;
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e.what());
    }
}

std::string ProcessGroup::broadcastFromRoot(const std::string& bytes, const std::string& what)
{
    return allGather(bytes, what).front();
}

bool ProcessGroup::anyRank(bool flag, const std::string& what)
{
    std::vector<torch::Tensor> t{torch::full({1}, flag ? 1.0 : 0.0, torch::kDouble).to(m_impl->device)};
    allReduceSum(t, what);
    return t[0].cpu().item<double>() > 0.0;
}

} // namespace rslora::engine::distributed
