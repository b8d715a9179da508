// A thread that serves generation requests from many callers through one GenerationBatch:
// requests that arrive while others run join the batch at the next decoding step (continuous
// batching), whatever adapters they use. The session's lock is taken per step, so adapters can be
// loaded and unloaded between steps.
#pragma once

#include "engine/generation/GenerationTypes.h"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace rslora::engine {

class GenerationSession;

class GenerationScheduler {
public:
    // `maxBatch`: rows decoded together at most; later requests wait for a free row.
    explicit GenerationScheduler(GenerationSession& session, size_t maxBatch = 16);
    ~GenerationScheduler();  // stop(true)
    GenerationScheduler(const GenerationScheduler&) = delete;
    GenerationScheduler& operator=(const GenerationScheduler&) = delete;

    // Validates `request` (throws rslora::Error, naming the problem) and queues it. The future
    // gets the output, or the error of a step that failed. Callbacks run on the scheduler's thread.
    std::future<GenerationOutput> submit(GenerationRequest request);
    // Takes no more requests; `cancelRunning`: queued and running requests end as cancelled at their
    // next token, otherwise they run to their end. Returns when the thread has finished.
    void stop(bool cancelRunning);
    // Requests queued or running.
    size_t load() const;

private:
    struct Pending {
        GenerationRequest request;
        std::promise<GenerationOutput> promise;
    };
    void loop();

    GenerationSession& m_session;
    size_t m_maxBatch;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::unique_ptr<Pending>> m_queue;
    size_t m_running = 0;
    bool m_stopping = false;
    bool m_cancel = false;
    std::thread m_thread;
};

} // namespace rslora::engine
