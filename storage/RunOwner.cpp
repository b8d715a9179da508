// Who holds a run (see RunOwner.h).
#include "storage/RunOwner.h"

#include "storage/Naming.h"
#include "storage/ProcessProbe.h"

#include <unistd.h>

namespace rslora::storage {

RunOwner RunOwner::of(const RunRecord& run, double staleHeartbeatSeconds) {
    RunOwner o;
    if (run.status != RunStatus::Running && run.status != RunStatus::Paused && run.status != RunStatus::Queued)
        return o;
    if (run.pid)
        o.process = "process " + std::to_string(*run.pid) + (run.host.empty() ? std::string() : " on " + run.host);
    else
        o.process = run.host.empty() ? std::string("an unknown process") : "a process on " + run.host;
    if (run.pid && run.host == hostName()) {
        o.thisProcess = *run.pid == static_cast<int64_t>(::getpid());
        if (o.thisProcess) {
            o.state = State::Alive;
            return o;
        }
        // A live pid that started after the run's last heartbeat is a new process that reused it.
        const auto started = processStartTime(*run.pid);
        const bool reused = started && run.heartbeat && *started > *run.heartbeat + 2.0;
        if (processAlive(*run.pid) && !reused) {
            o.state = State::Alive;
        } else {
            o.state = State::Gone;
            o.gone = o.process + (reused ? " was replaced" : " is gone");
        }
        return o;
    }
    if (run.status == RunStatus::Queued) {
        // A queued run sends no heartbeats while it waits: one of another host's process belongs to
        // it as long as it is queued; one of no process (its workbench closed) to whoever takes it.
        o.state = run.pid ? State::Alive : State::None;
        return o;
    }
    const double since = run.heartbeat ? *run.heartbeat : run.startTime ? *run.startTime : run.createdAt;
    const double silent = nowSeconds() - since;
    if (silent > staleHeartbeatSeconds) {
        o.state = State::Gone;
        o.gone = "no heartbeat for " + std::to_string(static_cast<int64_t>(silent)) + " s" +
                 (run.host.empty() ? std::string() : " from " + run.host);
    } else {
        o.state = State::Alive;
    }
    return o;
}

std::string RunOwner::describe(const RunRecord& run) const {
    return "run #" + std::to_string(run.id) + (run.name.empty() ? std::string() : " (\"" + run.name + "\")") + " is " +
           toString(run.status) + (run.status == RunStatus::Queued ? " by " : " in ") + process +
           (thisProcess ? " (this one)" : "");
}

} // namespace rslora::storage
