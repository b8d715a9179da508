// The warnings of one process of a data-parallel job (`rslora train` under `rslora launch` or
// torchrun's variables). The ranks read the same config, model and data, so most warnings are the
// same on every rank: rank 0 prints its own as they come, unlabelled as in a run of one process;
// the other ranks hold theirs back and, once the ranks have ended the run together, print those
// rank 0 did not print, each once (by the lowest rank holding it) and labelled with the rank: by the
// launcher's "[rank N]", or "rank N of W: " for a rank started by hand. A rank whose run failed
// cannot compare with the others and prints all it held. Errors are printed at once on every rank.
#pragma once

#include "engine/distributed/DistributedContext.h"

#include <mutex>
#include <string>
#include <vector>

namespace rslora::engine::distributed {
class ProcessGroup;
}

namespace rslora::cli {

class RankWarnings {
public:
    // Takes over the log output of this process until destroyed, which prints what share() did not
    // (printHeld). `label`: the text put before each held warning printed ("" when a launcher labels
    // the rank's lines itself).
    RankWarnings(const engine::distributed::DistributedContext& context, std::string label);
    ~RankWarnings();
    RankWarnings(const RankWarnings&) = delete;
    RankWarnings& operator=(const RankWarnings&) = delete;

    // A collective: every rank calls it at the same point. Prints this rank's warnings that rank 0
    // did not print.
    void share(engine::distributed::ProcessGroup& group);
    // Prints every warning held (the run failed on this rank, so the others cannot be asked).
    void printHeld();

    // The lines rank `rank` prints given every rank's warnings (index: rank): for a rank above 0,
    // its warnings that rank 0 did not have and no lower rank prints, each once, with the other
    // ranks that had the same named after it. Nothing for rank 0, which printed its own.
    static std::vector<std::string> toPrint(const std::vector<std::vector<std::string>>& byRank, int rank);

private:
    void print(const std::vector<std::string>& lines);

    int m_rank = 0;
    std::string m_label;
    std::mutex m_mutex;
    std::vector<std::string> m_held; // this rank's warnings, in order (rank 0: printed already)
};

} // namespace rslora::cli
