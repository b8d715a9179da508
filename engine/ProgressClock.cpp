// Training-time bookkeeping: pause-free session time, window throughput and ETA.
#include "engine/ProgressClock.h"

#include <algorithm>

namespace rslora::engine {

void ProgressClock::start(double now, int64_t step, double earlierSeconds) {
    m_start = now;
    m_pausedTotal = 0.0;
    m_pausedAt = -1.0;
    m_windowStart = 0.0;
    m_earlier = std::max(0.0, earlierSeconds);
    m_startStep = step;
}

void ProgressClock::pause(double now) {
    if (m_pausedAt < 0)
        m_pausedAt = now;
}

void ProgressClock::resume(double now) {
    if (m_pausedAt < 0)
        return;
    m_pausedTotal += std::max(0.0, now - m_pausedAt);
    m_pausedAt = -1.0;
}

double ProgressClock::sessionSeconds(double now) const {
    const double pausedNow = m_pausedAt >= 0 ? std::max(0.0, now - m_pausedAt) : 0.0;
    return std::max(0.0, now - m_start - m_pausedTotal - pausedNow);
}

ProgressClock::Reading ProgressClock::read(double now, int64_t step, int64_t totalSteps, int64_t windowTokens) {
    Reading r;
    const double session = sessionSeconds(now);
    const double window = session - m_windowStart;
    r.tokensPerSecond = window > 0 ? double(windowTokens) / window : 0.0;
    r.runSeconds = m_earlier + session;
    const int64_t done = step - m_startStep;
    r.etaSeconds = done > 0 ? session / double(done) * double(std::max<int64_t>(0, totalSteps - step)) : 0.0;
    m_windowStart = session;
    return r;
}

} // namespace rslora::engine
