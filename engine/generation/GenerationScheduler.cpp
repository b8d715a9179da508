// The scheduling thread (see GenerationScheduler.h).
#include "engine/generation/GenerationScheduler.h"

#include "common/Error.h"
#include "engine/generation/GenerationBatch.h"
#include "engine/generation/GenerationSession.h"

#include <vector>

namespace rslora::engine {

GenerationScheduler::GenerationScheduler(GenerationSession& session, size_t maxBatch)
    : m_session(session), m_maxBatch(maxBatch == 0 ? 1 : maxBatch), m_thread([this] { loop(); })
{
}

GenerationScheduler::~GenerationScheduler() { stop(true); }

std::future<GenerationOutput> GenerationScheduler::submit(GenerationRequest request)
{
    m_session.validate(request);
    if (!request.cancel)
        request.cancel = std::make_shared<std::atomic<bool>>(false);
    auto p = std::make_unique<Pending>();
    p->request = std::move(request);
    auto future = p->promise.get_future();
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stopping)
            throw Error("the generation scheduler is stopping and takes no more requests");
        m_queue.push_back(std::move(p));
    }
    m_wake.notify_all();
    return future;
}

void GenerationScheduler::stop(bool cancelRunning)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
        m_cancel = m_cancel || cancelRunning;
    }
    m_wake.notify_all();
    if (m_thread.joinable() && m_thread.get_id() != std::this_thread::get_id())
        m_thread.join();
}

size_t GenerationScheduler::load() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_queue.size() + m_running;
}

void GenerationScheduler::loop()
{
    auto batch = std::make_unique<GenerationBatch>(m_session);
    std::map<int64_t, std::unique_ptr<Pending>> running;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [&] { return m_stopping || !m_queue.empty() || !batch->empty(); });
            if (m_cancel) {
                for (auto& [id, p] : running)
                    p->request.cancel->store(true);
                for (auto& p : m_queue) {
                    GenerationOutput out;
                    out.reason = models::FinishReason::Cancelled;
                    out.promptTokens = static_cast<int64_t>(p->request.promptIds.size());
                    p->promise.set_value(std::move(out));
                }
                m_queue.clear();
            }
            if (m_stopping && m_queue.empty() && batch->empty())
                break;
            while (!m_queue.empty() && batch->size() < m_maxBatch) {
                auto p = std::move(m_queue.front());
                m_queue.pop_front();
                try {
                    const int64_t id = batch->add(p->request);
                    running.emplace(id, std::move(p));
                } catch (...) {
                    // E.g. its adapter was unloaded after it was queued.
                    p->promise.set_exception(std::current_exception());
                }
            }
            m_running = running.size();
        }
        if (batch->empty())
            continue;
        m_session.yieldToWaiters();
        try {
            for (auto& ended : batch->step()) {
                auto it = running.find(ended.id);
                if (ended.error)
                    it->second->promise.set_exception(ended.error);
                else
                    it->second->promise.set_value(std::move(ended.output));
                running.erase(it);
            }
        } catch (...) {
            // A failed forward leaves the batch unusable: its requests get the error, a new batch
            // starts. (A row's own failure does not get here: it ends that row alone, in step().)
            for (auto& [id, p] : running)
                p->promise.set_exception(std::current_exception());
            running.clear();
            batch = std::make_unique<GenerationBatch>(m_session);
        }
        std::lock_guard<std::mutex> lock(m_mutex);
        m_running = running.size();
    }
}

} // namespace rslora::engine
