// The worker processes of `rslora launch`: started by fork/exec of this executable with each
// worker's environment, their output forwarded line by line with a "[rank N]" prefix, and the job
// ended as a whole when one of them fails (the failure named: rank, exit status or signal, the
// last step reported), the others stopped after a grace period in which they may exit on their own.
// A rank that hangs makes the others fail when their collective times out; it is the one still
// running after the grace period, and is named as hung with its last step.
#pragma once

#include <string>
#include <vector>

namespace rslora::cli {

// The file descriptor on which a worker reports "step N" lines, and the variable that names it.
inline constexpr int kStepReportFd = 3;
inline constexpr const char* kEnvStepReportFd = "RSLORA_LAUNCH_STEP_FD";

struct WorkerSpec {
    int rank = 0;
    std::vector<std::pair<std::string, std::string>> environment; // set on top of this process's
};

class WorkerGroup {
public:
    // `arguments`: what every worker runs, after the executable's name.
    WorkerGroup(std::string executable, std::vector<std::string> arguments, int graceSeconds);
    ~WorkerGroup();
    WorkerGroup(const WorkerGroup&) = delete;
    WorkerGroup& operator=(const WorkerGroup&) = delete;

    void start(const std::vector<WorkerSpec>& workers);
    // Forwards output until every worker has ended; returns the job's exit code (0 when every
    // worker succeeded, else the first failure's status, 128 + signal for a signal).
    int supervise();

private:
    struct Worker {
        int rank = 0;
        int pid = -1;
        int fds[3] = {-1, -1, -1}; // stdout, stderr, step reports (read ends)
        std::string pending[3];    // a partial line of each
        long long lastStep = -1;   // the newest step the worker reported
        bool running = false;
        int status = 0;
    };
    void forward(Worker& w, int stream, bool flush);
    void reap();
    void signalRunning(int sig);

    std::string m_executable;
    std::vector<std::string> m_arguments;
    int m_graceSeconds;
    std::vector<Worker> m_workers;
    int m_exitCode = 0;
    bool m_failed = false;      // a rank failed (not stopped by the interrupt)
    bool m_interrupted = false; // the launcher forwarded Ctrl-C or SIGTERM to the ranks
};

} // namespace rslora::cli
