// `rslora launch`: starts the workers of a data-parallel training job on this machine with the
// environment torchrun gives its workers, forwards their output by rank and ends the job as a whole
// when one fails.
#include "app/cli/Commands.h"
#include "app/cli/WorkerGroup.h"
#include "common/Error.h"
#include "engine/distributed/DistributedContext.h"
#include "engine/distributed/MasterAddress.h"
#include "engine/sweep/ConfigOverride.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace rslora::cli {

namespace {

namespace dist = engine::distributed;

struct LaunchOptions {
    int nproc = 1;
    int nnodes = 1;
    int nodeRank = 0;
    std::string masterAddr = "127.0.0.1";
    int masterPort = dist::kDefaultMasterPort;
    int timeoutSeconds = dist::kDefaultTimeoutSeconds;
    int graceSeconds = 10;
    std::string storeFile;
    std::vector<std::string> command;
};

std::string selfExecutable()
{
    std::error_code ec;
    const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec)
        throw Error("cannot find this executable (/proc/self/exe): " + ec.message());
    return p.string();
}

// The `--set` values of the worker command (`--set K=V` and `--set=K=V`), as `train` will read them.
std::vector<std::string> setArguments(const std::vector<std::string>& command)
{
    std::vector<std::string> values;
    for (size_t i = 1; i < command.size(); ++i) {
        if (command[i] == "--")
            break;
        if (command[i] == "--set" && i + 1 < command.size())
            values.push_back(command[++i]);
        else if (command[i].rfind("--set=", 0) == 0)
            values.push_back(command[i].substr(6));
    }
    return values;
}

// Rank 0 of this machine will host the TCP store on `port`: a program (or another job) already
// listening there is reported now, naming the option, rather than by rank 0 after the start while the
// other ranks wait to join. The probe binds as the store does (every address, SO_REUSEADDR, so a
// port of a job that just ended is not refused) and lets go at once.
void requirePortFree(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return; // the store itself will say what is wrong
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(uint16_t(port));
    const bool inUse = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
    ::close(fd);
    if (inUse)
        throw Error("--master-port " + std::to_string(port) + " is in use on this machine (another program or job listens on it): "
                        "rank 0 could not host the rendezvous there",
                    "choose a free port with --master-port, or meet through a file with --store-file PATH");
}

void runLaunch(const LaunchOptions& o)
{
    if (o.command.empty() || (o.command.front() != "train" && o.command.front() != "bench"))
        throw Error("rslora launch runs `train` or `bench`: write `rslora launch --nproc N -- train CONFIG ...` (got '"
                    + (o.command.empty() ? std::string() : o.command.front()) + "')");
    // What every rank would refuse on its own, refused once before any rank starts.
    if (o.command.front() == "train")
        engine::refuseRepeatedKeys(setArguments(o.command), "--set");
    if (o.nodeRank >= o.nnodes)
        throw Error("--node-rank " + std::to_string(o.nodeRank) + " is not below --nnodes " + std::to_string(o.nnodes));
    if (!o.storeFile.empty()) {
        // Checked here, before any rank starts (c10d opens the file only at the rendezvous).
        const std::filesystem::path file(o.storeFile);
        const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
        std::error_code ec;
        if (!std::filesystem::is_directory(folder, ec))
            throw Error("--store-file " + o.storeFile + ": the folder " + folder.string() + " does not exist",
                        "name a file in an existing folder that every rank can write (a shared disk across machines)");
        if (std::filesystem::is_directory(file, ec))
            throw Error("--store-file " + o.storeFile + " is a folder: the rendezvous needs a file name");
        if (::access(folder.c_str(), W_OK) != 0)
            throw Error("--store-file " + o.storeFile + ": the folder " + folder.string() + " is not writable");
    }
    if (!o.storeFile.empty() && o.nnodes == 1) {
        // A store file left by an earlier job would be read as this job's rendezvous.
        std::error_code ec;
        std::filesystem::remove(o.storeFile, ec);
    }
    if (o.storeFile.empty())
        dist::requireResolvableHost(o.masterAddr, "--master-addr", o.timeoutSeconds);
    if (o.storeFile.empty() && o.nodeRank == 0)
        requirePortFree(o.masterPort);
    const int world = o.nproc * o.nnodes;
    std::vector<WorkerSpec> workers;
    for (int local = 0; local < o.nproc; ++local) {
        WorkerSpec w;
        w.rank = o.nodeRank * o.nproc + local;
        w.environment = {{dist::kEnvRank, std::to_string(w.rank)},
                         {dist::kEnvWorldSize, std::to_string(world)},
                         {dist::kEnvLocalRank, std::to_string(local)},
                         {dist::kEnvLocalWorldSize, std::to_string(o.nproc)},
                         {"GROUP_RANK", std::to_string(o.nodeRank)},
                         {dist::kEnvMasterAddr, o.masterAddr},
                         {dist::kEnvMasterPort, std::to_string(o.masterPort)},
                         {dist::kEnvTimeout, std::to_string(o.timeoutSeconds)}};
        if (!o.storeFile.empty())
            w.environment.emplace_back(dist::kEnvStoreFile, o.storeFile);
        workers.push_back(std::move(w));
    }
    WorkerGroup group(selfExecutable(), o.command, o.graceSeconds);
    group.start(workers);
    const int code = group.supervise();
    if (code == 0) {
        const int first = o.nodeRank * o.nproc, last = first + o.nproc - 1;
        if (o.nnodes == 1 && o.nproc == 1)
            std::fprintf(stderr, "launch: rank 0 finished\n");
        else if (o.nnodes == 1)
            std::fprintf(stderr, "launch: all %d ranks finished\n", o.nproc);
        else if (first == last)
            std::fprintf(stderr, "launch: rank %d of %d finished on this machine (node %d of %d)\n", first, world, o.nodeRank, o.nnodes);
        else
            std::fprintf(stderr, "launch: ranks %d-%d of %d finished on this machine (node %d of %d)\n", first, last, world, o.nodeRank,
                         o.nnodes);
    }
    exitCode() = code;
}

} // namespace

void registerLaunchCommand(CLI::App& app)
{
    static LaunchOptions o;
    auto* launch = app.add_subcommand("launch", "Data-parallel training: start N worker processes (torchrun's environment) "
                                                "running `train` (or `bench`), e.g. rslora launch --nproc 2 -- train run.yaml");
    launch->add_option("--nproc", o.nproc, "Worker processes on this machine")->required()->check(CLI::Range(1, 1024));
    launch->add_option("--nnodes", o.nnodes, "Machines in the job")->check(CLI::Range(1, 4096));
    launch->add_option("--node-rank", o.nodeRank, "This machine's index (0 hosts the rendezvous)")->check(CLI::Range(0, 4095));
    launch->add_option("--master-addr", o.masterAddr, "Address of the machine of rank 0")
        ->check(CLI::Validator(
            [](std::string& host) {
                return host.find_first_not_of(" \t") == std::string::npos ? std::string("--master-addr is empty: give rank 0's host name or address")
                                                                           : std::string();
            },
            "HOST"));
    launch->add_option("--master-port", o.masterPort, "Port of the rendezvous store on rank 0's machine")->check(CLI::Range(1, 65535));
    launch->add_option("--timeout", o.timeoutSeconds, "Seconds a collective waits for the other ranks before the job fails")
        ->check(CLI::Range(1, 86400));
    launch->add_option("--grace", o.graceSeconds, "Seconds the other ranks get to stop on their own after one fails")
        ->check(CLI::Range(0, 3600));
    launch->add_option("--store-file", o.storeFile, "Meet through this file (a shared disk) instead of a TCP store");
    launch->add_option("command", o.command, "The worker command after --: train CONFIG [train options], or bench [bench options]")->required();
    launch->callback([] { runLaunch(o); });
}

} // namespace rslora::cli
