// Worker processes of `rslora launch` (see WorkerGroup.h).
#include "app/cli/WorkerGroup.h"

#include "common/Error.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>

namespace rslora::cli {

namespace {

std::atomic<int> g_interrupts{0};

void onInterrupt(int)
{
    g_interrupts.fetch_add(1);
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string describeStatus(int status)
{
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

} // namespace

WorkerGroup::WorkerGroup(std::string executable, std::vector<std::string> arguments, int graceSeconds)
    : m_executable(std::move(executable)), m_arguments(std::move(arguments)), m_graceSeconds(graceSeconds)
{
}

WorkerGroup::~WorkerGroup()
{
    // Never leave workers behind (an exception between start and the end of supervise()).
    signalRunning(SIGKILL);
    for (auto& w : m_workers) {
        if (w.running)
            ::waitpid(w.pid, nullptr, 0);
        for (int fd : w.fds)
            if (fd >= 0)
                ::close(fd);
    }
}

void WorkerGroup::start(const std::vector<WorkerSpec>& workers)
{
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(m_executable.c_str()));
    for (auto& a : m_arguments)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t launcher = ::getpid();
    for (const auto& spec : workers) {
        int out[2], err[2], steps[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(steps, O_CLOEXEC) != 0)
            throw Error(std::string("cannot create the pipes of rank ") + std::to_string(spec.rank) + ": " + std::strerror(errno));
        const pid_t pid = ::fork();
        if (pid < 0)
            throw Error("cannot start rank " + std::to_string(spec.rank) + ": fork failed: " + std::strerror(errno));
        if (pid == 0) {
            ::dup2(out[1], 1);
            ::dup2(err[1], 2);
            ::dup2(steps[1], kStepReportFd);
            ::setenv(kEnvStepReportFd, std::to_string(kStepReportFd).c_str(), 1);
            // A worker whose launcher is gone has nobody to report to: it ends with it.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != launcher)
                ::_exit(127);
            ::signal(SIGINT, SIG_DFL);
            // A process group of its own: Ctrl-C in the terminal signals the terminal's group, and the
            // launcher forwards it once; a worker in that group got it twice, and the second SIGINT
            // ends a run (instead of stopping it at an agreed step with a checkpoint).
            ::setpgid(0, 0);
            for (const auto& [name, value] : spec.environment)
                ::setenv(name.c_str(), value.c_str(), 1);
            ::execv(m_executable.c_str(), argv.data());
            std::fprintf(stderr, "cannot run %s: %s\n", m_executable.c_str(), std::strerror(errno));
            ::_exit(127);
        }
        ::close(out[1]);
        ::close(err[1]);
        ::close(steps[1]);
        Worker w;
        w.rank = spec.rank;
        w.pid = pid;
        w.fds[0] = out[0];
        w.fds[1] = err[0];
        w.fds[2] = steps[0];
        w.running = true;
        for (int fd : w.fds)
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        m_workers.push_back(std::move(w));
        std::fprintf(stderr, "launch: rank %d started (pid %d)\n", spec.rank, int(pid));
    }
    std::fflush(stderr);
}

void WorkerGroup::forward(Worker& w, int stream, bool flush)
{
    FILE* out = stream == 0 ? stdout : stderr;
    // One line of the worker with its rank. A progress line redrawn in place keeps only its last
    // state; a blank line says nothing, and "[rank N]" alone is not printed.
    auto print = [&](std::string line) {
        if (const size_t cr = line.rfind('\r'); cr != std::string::npos)
            line.erase(0, cr + 1);
        if (line.find_first_not_of(" \t") != std::string::npos)
            std::fprintf(out, "[rank %d] %s\n", w.rank, line.c_str());
    };
    std::string& pending = w.pending[stream];
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        const std::string line = pending.substr(start, nl - start);
        if (stream == 2) {
            if (line.rfind("step ", 0) == 0)
                w.lastStep = std::atoll(line.c_str() + 5);
            continue;
        }
        print(line);
    }
    pending.erase(0, start);
    if (stream == 2)
        return;
    if (flush && !pending.empty()) {
        print(pending);
        pending.clear();
    }
    std::fflush(out);
}

void WorkerGroup::signalRunning(int sig)
{
    for (auto& w : m_workers)
        if (w.running)
            ::kill(w.pid, sig);
}

void WorkerGroup::reap()
{
    for (auto& w : m_workers) {
        if (!w.running)
            continue;
        int status = 0;
        if (::waitpid(w.pid, &status, WNOHANG) != w.pid)
            continue;
        w.running = false;
        w.status = status;
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        // A rank that ends with 130 stopped at the step the ranks agreed on: after Ctrl-C here, or a
        // stop requested at one rank (SIGINT sent to it). After Ctrl-C, a rank still starting or
        // already finishing ends by the forwarded signal itself. Neither is a fault.
        const bool agreedStop = WIFEXITED(status) && WEXITSTATUS(status) == 130;
        const bool endedByInterrupt =
            m_interrupted && WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM);
        if (agreedStop || endedByInterrupt) {
            if (m_exitCode == 0)
                m_exitCode = 130;
            std::fprintf(stderr, "launch: rank %d (pid %d) stopped on %s %s\n", w.rank, w.pid,
                         m_interrupted ? "the interrupt" : "a stop request",
                         w.lastStep >= 0 ? ("after step " + std::to_string(w.lastStep)).c_str() : "before its first step");
            std::fflush(stderr);
        } else if (failed && (m_exitCode == 0 || m_exitCode == 130) && !m_failed) {
            m_failed = true;
            m_exitCode = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
            std::fprintf(stderr, "launch: rank %d (pid %d) %s %s; ending the job (the other ranks get %d s to stop)\n",
                         w.rank, w.pid, describeStatus(status).c_str(),
                         w.lastStep >= 0 ? ("after step " + std::to_string(w.lastStep)).c_str() : "before its first step",
                         m_graceSeconds);
            std::fflush(stderr);
        }
    }
}

int WorkerGroup::supervise()
{
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    int interruptsSeen = 0;
    double graceEnd = -1, termAt = -1, killAt = -1;
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<std::pair<Worker*, int>> owners;
        for (auto& w : m_workers)
            for (int s = 0; s < 3; ++s)
                if (w.fds[s] >= 0) {
                    fds.push_back({w.fds[s], POLLIN, 0});
                    owners.emplace_back(&w, s);
                }
        bool anyRunning = false;
        for (const auto& w : m_workers)
            anyRunning = anyRunning || w.running;
        if (fds.empty() && !anyRunning)
            break;
        ::poll(fds.data(), fds.size(), 200);
        for (size_t i = 0; i < fds.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            auto [w, s] = owners[i];
            char buf[65536];
            const ssize_t n = ::read(w->fds[s], buf, sizeof buf);
            if (n > 0) {
                w->pending[s].append(buf, size_t(n));
                forward(*w, s, false);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                forward(*w, s, true);
                ::close(w->fds[s]);
                w->fds[s] = -1;
            }
        }
        reap();
        // Ctrl-C (or SIGTERM) on the launcher reaches every worker: they agree on a step to stop at.
        if (const int n = g_interrupts.load(); n != interruptsSeen) {
            interruptsSeen = n;
            m_interrupted = true;
            signalRunning(SIGINT);
        }
        const double t = now();
        if ((m_failed || m_exitCode != 0) && graceEnd < 0) {
            graceEnd = t + m_graceSeconds;
            termAt = graceEnd + 2;
            killAt = graceEnd + 5;
        }
        if (graceEnd >= 0 && t >= graceEnd) {
            // A rank still running when the others have failed and the grace period is over is the
            // one they waited for: it hung (or computes far slower) rather than failed.
            for (const auto& w : m_workers)
                if (w.running)
                    std::fprintf(stderr, "launch: rank %d (pid %d) had not stopped %d s after the failure, %s; stopping it\n",
                                 w.rank, w.pid, m_graceSeconds,
                                 w.lastStep >= 0 ? ("its last step was " + std::to_string(w.lastStep) + ": it hung").c_str()
                                                 : "before its first step (still starting, or hung)");
            std::fflush(stderr);
            // First SIGCONT: a rank stopped by SIGSTOP (or a debugger) runs again, finds its peers
            // gone and fails on its own, recording the failure (rank 0: in the store), as SIGTERM's
            // default action would not let it; then SIGTERM, then SIGKILL.
            signalRunning(SIGCONT);
            graceEnd = 1e300; // once
        }
        if (t >= termAt && termAt >= 0) {
            signalRunning(SIGTERM);
            termAt = -1;
        }
        if (killAt >= 0 && t >= killAt)
            signalRunning(SIGKILL);
    }
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    for (const auto& w : m_workers)
        if (w.status != 0 && WIFSIGNALED(w.status) && m_exitCode == 0)
            m_exitCode = 128 + WTERMSIG(w.status);
    return m_exitCode;
}

} // namespace rslora::cli
