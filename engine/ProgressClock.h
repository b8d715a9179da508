// The time a run spends training, for its throughput, ETA and duration: paused time is left out,
// and after a resume the rate comes from the steps of this session only (not from step 0), while
// the training time of earlier sessions (from the checkpoint) still counts in the run's total.
// Times are passed in (seconds on any steady clock), so the arithmetic is testable without waiting.
#pragma once

#include <cstdint>

namespace rslora::engine {

class ProgressClock {
public:
    // Training starts or resumes at `step`; `earlierSeconds` were trained in earlier sessions.
    void start(double now, int64_t step, double earlierSeconds = 0.0);
    // A pause begins / ends; calls while already paused / not paused are ignored.
    void pause(double now);
    void resume(double now);
    bool paused() const { return m_pausedAt >= 0; }

    struct Reading {
        double tokensPerSecond = 0.0; // over the window since the previous reading, pauses excluded
        double runSeconds = 0.0;      // training time of the run: earlier sessions plus this one
        double etaSeconds = 0.0;      // remaining steps at this session's rate
    };
    // A logged step: `windowTokens` were processed since the previous reading; opens a new window.
    Reading read(double now, int64_t step, int64_t totalSteps, int64_t windowTokens);

    // Seconds trained in this session up to `now`, pauses excluded.
    double sessionSeconds(double now) const;

private:
    double m_start = 0.0;
    double m_pausedTotal = 0.0;
    double m_pausedAt = -1.0;
    double m_windowStart = 0.0; // sessionSeconds() when the window opened
    double m_earlier = 0.0;
    int64_t m_startStep = 0;
};

} // namespace rslora::engine
