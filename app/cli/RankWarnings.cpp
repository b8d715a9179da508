// Warnings of the ranks of a data-parallel job (see RankWarnings.h).
#include "app/cli/RankWarnings.h"

#include "common/Log.h"
#include "engine/distributed/ProcessGroup.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace rslora::cli {

RankWarnings::RankWarnings(const engine::distributed::DistributedContext& context, std::string label)
    : m_rank(context.rank), m_label(std::move(label))
{
    setLogCallback([this](LogLevel level, const std::string& message) {
        if (level < LogLevel::Warning)
            return;
        if (level == LogLevel::Warning) {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_held.push_back(message);
            if (m_rank > 0)
                return;
        }
        std::fprintf(stderr, "%s: %s\n", logLevelName(level), message.c_str());
    });
}

RankWarnings::~RankWarnings()
{
    // Left before the ranks compared their warnings (a failure): all held are printed.
    setLogCallback({});
    printHeld();
}

std::vector<std::string> RankWarnings::toPrint(const std::vector<std::vector<std::string>>& byRank, int rank)
{
    std::vector<std::string> out;
    if (rank <= 0 || size_t(rank) >= byRank.size())
        return out;
    auto holds = [&](size_t r, const std::string& w) { return std::find(byRank[r].begin(), byRank[r].end(), w) != byRank[r].end(); };
    std::vector<std::string> seen;
    for (const std::string& w : byRank[size_t(rank)]) {
        if (std::find(seen.begin(), seen.end(), w) != seen.end())
            continue;
        seen.push_back(w);
        bool lower = false;
        for (size_t r = 0; r < size_t(rank) && !lower; ++r)
            lower = holds(r, w);
        if (lower)
            continue;
        std::string others;
        for (size_t r = size_t(rank) + 1; r < byRank.size(); ++r)
            if (holds(r, w))
                others += (others.empty() ? "" : ", ") + std::to_string(r);
        out.push_back(others.empty() ? w : w + " (the same on rank " + others + ")");
    }
    return out;
}

void RankWarnings::print(const std::vector<std::string>& lines)
{
    for (const std::string& line : lines)
        std::fprintf(stderr, "%swarning: %s\n", m_label.c_str(), line.c_str());
    std::fflush(stderr);
}

void RankWarnings::share(engine::distributed::ProcessGroup& group)
{
    std::vector<std::string> mine;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        mine = m_held;
    }
    std::vector<std::vector<std::string>> byRank;
    for (const std::string& bytes : group.allGather(nlohmann::json(mine).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                                        "sharing the ranks' warnings"))
        byRank.push_back(nlohmann::json::parse(bytes).get<std::vector<std::string>>());
    print(toPrint(byRank, m_rank));
    std::lock_guard<std::mutex> lock(m_mutex);
    m_held.clear();
}

void RankWarnings::printHeld()
{
    if (m_rank == 0)
        return;
    std::vector<std::string> held;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        held.swap(m_held);
    }
    std::vector<std::string> once;
    for (const std::string& w : held)
        if (std::find(once.begin(), once.end(), w) == once.end())
            once.push_back(w);
    print(once);
}

} // namespace rslora::cli
