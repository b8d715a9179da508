// c10d process group wrapper (see ProcessGroup.h).
#include "engine/distributed/ProcessGroup.h"

#include "common/Error.h"
#include "engine/distributed/C10dLogThreshold.h"
#include "engine/distributed/MasterAddress.h"

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
#include <cctype>
#include <csignal>
#include <chrono>
#include <filesystem>

#include <unistd.h>

namespace rslora::engine::distributed {

// The backends are held by their own types: LibTorch 1.x derives them from c10d::ProcessGroup,
// 2.x from c10d::Backend (and its ProcessGroup no longer takes them), so no common base is named.
struct ProcessGroup::Impl {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef RSLORA_WITH_NCCL
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
    torch::Device device = torch::kCPU;
    std::chrono::milliseconds timeout{0};
    std::string backend = "gloo";

    c10::intrusive_ptr<c10d::Work> allreduce(std::vector<torch::Tensor>& tensors, const c10d::AllreduceOptions& opts)
    {
#ifdef RSLORA_WITH_NCCL
        if (nccl)
            return nccl->allreduce(tensors, opts);
#endif
        return gloo->allreduce(tensors, opts);
    }
    c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<torch::Tensor>>& out, std::vector<torch::Tensor>& in,
                                             const c10d::AllgatherOptions& opts)
    {
#ifdef RSLORA_WITH_NCCL
        if (nccl)
            return nccl->allgather(out, in, opts);
#endif
        return gloo->allgather(out, in, opts);
    }
};

namespace {

#ifdef RSLORA_WITH_NCCL
// LibTorch 2.4 and later want NCCL groups shut down before they are destroyed (else a warning on
// every exit); older ones have no shutdown() and need none.
template <class Group>
auto shutDown(Group& g, int) -> decltype(g.shutdown(), void())
{
    g.shutdown();
}
template <class Group>
void shutDown(Group&, long)
{
}
#endif

// LibTorch's errors (c10::Error) carry a C++ stack trace in what(): the user and the store get the
// message alone.
std::string reasonOf(const std::exception& e)
{
    const auto* c10error = dynamic_cast<const c10::Error*>(&e);
    std::string text = c10error ? c10error->what_without_backtrace() : e.what();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    return text;
}

bool addressInUse(const std::string& reason)
{
    std::string lower = reason;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    return lower.find("address already in use") != std::string::npos || lower.find("eaddrinuse") != std::string::npos;
}

[[noreturn]] void collectiveFailed(const DistributedContext& c, const std::string& what, const std::exception& e)
{
    throw Error("data-parallel " + what + " failed on " + c.describe() + ": " + reasonOf(e),
                "another rank stopped or did not arrive within the collective timeout of "
                    + std::to_string(c.timeoutSeconds) + " s (" + kEnvTimeout + ")");
}

} // namespace

ProcessGroup::ProcessGroup(DistributedContext context, torch::Device device)
    : m_context(std::move(context)), m_impl(std::make_unique<Impl>())
{
    const auto& c = m_context;
    // Gloo writes to its peers with writev, which raises SIGPIPE when a peer has gone: its default
    // action ended this rank silently (no error, no failure recorded) where a read would have failed
    // with a message. A write to a gone peer must be an error here too, as under Python, whose
    // interpreter ignores SIGPIPE (PyTorch's DDP never sees the signal).
    std::signal(SIGPIPE, SIG_IGN);
    m_impl->timeout = std::chrono::milliseconds(int64_t(c.timeoutSeconds) * 1000);
    m_impl->device = device;
    if (!c.storeFile.empty()) {
        // c10d opens the file only at the first rendezvous, and its error then reads like a late rank.
        const std::filesystem::path file(c.storeFile);
        const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
        std::error_code ec;
        if (!std::filesystem::is_directory(folder, ec))
            throw Error(std::string(kEnvStoreFile) + "=" + c.storeFile + ": the folder " + folder.string() + " does not exist",
                        "name a file in an existing folder that every rank can write (a shared disk across machines)");
        if (std::filesystem::is_directory(file, ec))
            throw Error(std::string(kEnvStoreFile) + "=" + c.storeFile + " is a folder: the rendezvous needs a file name");
        if (::access(folder.c_str(), W_OK) != 0)
            throw Error(std::string(kEnvStoreFile) + "=" + c.storeFile + ": the folder " + folder.string()
                        + " is not writable by this process");
    } else {
        requireResolvableHost(c.masterAddr, kEnvMasterAddr, c.timeoutSeconds);
    }
    const C10dLogThreshold quietSetUp; // c10d's failures here are thrown and reported as ours
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
        const std::string reason = reasonOf(e);
        // Rank 0 hosts the TCP store: another program (or job) on its port is not a late rank.
        if (c.storeFile.empty() && c.rank == 0 && addressInUse(reason))
            throw Error("cannot host the data-parallel rendezvous (" + c.describe() + "): port " + std::to_string(c.masterPort)
                            + " on this machine is in use by another program or job (" + reason + ")",
                        std::string("choose a free port: rslora launch --master-port P, or ") + kEnvMasterPort
                            + " for other launchers");
        throw Error("cannot join the data-parallel group (" + c.describe() + ") through "
                        + (c.storeFile.empty() ? "the TCP store at " + c.masterAddr + ":" + std::to_string(c.masterPort)
                                               : "the store file " + c.storeFile)
                        + ": " + reason,
                    "every rank must start within " + std::to_string(c.timeoutSeconds) + " s and reach "
                        + std::string(kEnvMasterAddr) + ":" + kEnvMasterPort);
    }
    try {
#ifdef RSLORA_WITH_NCCL
        if (device.is_cuda()) {
            auto opts = c10d::ProcessGroupNCCL::Options::create();
            opts->timeout = m_impl->timeout;
            m_impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
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
        m_impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
            c10::make_intrusive<c10d::PrefixStore>("gloo", m_impl->store), c.rank, c.worldSize, opts);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        collectiveFailed(c, "group set-up", e);
    }
}

ProcessGroup::~ProcessGroup()
{
#ifdef RSLORA_WITH_NCCL
    if (m_impl && m_impl->nccl) {
        try {
            shutDown(*m_impl->nccl, 0);
        } catch (...) {
        }
    }
#endif
}

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
        m_impl->allreduce(tensors, opts)->wait(m_impl->timeout);
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e);
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
        p.m_work->work = m_impl->allreduce(p.m_work->tensors, opts);
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e);
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
        collectiveFailed(w->context, w->what, e);
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
        m_impl->allgather(lens, len, opts)->wait(m_impl->timeout);
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
        m_impl->allgather(out, in, opts)->wait(m_impl->timeout);
        std::vector<std::string> result;
        for (int r = 0; r < n; ++r) {
            const auto t = out[0][size_t(r)].cpu().contiguous();
            const char* p = reinterpret_cast<const char*>(t.data_ptr<uint8_t>());
            result.emplace_back(p, p + sizes[size_t(r)]);
        }
        return result;
    } catch (const std::exception& e) {
        collectiveFailed(m_context, what, e);
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
