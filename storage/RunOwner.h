// Who holds a run that is queued, running or paused, judged from this process. A run whose owner
// is gone is marked interrupted when a store opens; a run whose owner lives belongs to that process
// alone: no other process trains it (`train --run-id`, `--resume`), queues it again or deletes it.
#pragma once

#include "storage/Records.h"

#include <string>

namespace rslora::storage {

struct RunOwner {
    // Silence after which a run of another host (whose pid cannot be checked) counts as ended.
    static constexpr double kDefaultStaleHeartbeatSeconds = 300;

    enum class State {
        None,  // not queued, running or paused; or queued by no process (left by a workbench that closed)
        Alive, // its process lives (another host's: a recent heartbeat, or a queued run, which sends none)
        Gone,  // its process ended or was replaced under its pid; another host's fell silent
    };
    State state = State::None;
    bool thisProcess = false;  // the owner is the calling process
    std::string process;       // "process 123 on host" (or "host": another host's run without a pid)
    std::string gone;          // why it counts as ended: "process 123 on host is gone", "no heartbeat for 400 s from host"

    static RunOwner of(const RunRecord& run, double staleHeartbeatSeconds = kDefaultStaleHeartbeatSeconds);
    bool alive() const { return state == State::Alive; }
    // "run #7 is running in process 123 on host" (queued, paused alike).
    std::string describe(const RunRecord& run) const;
};

} // namespace rslora::storage
