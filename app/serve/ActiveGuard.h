// Counts generations running at once (a request with several prompts runs one per prompt); over the
// limit the request is refused with 429, and a request that alone asks for more with 400. Holds its
// places until it is destroyed.
#pragma once

#include <atomic>

namespace rslora::serve {

class ActiveGuard {
public:
    // Takes `generations` places of `limit` in `count`; throws ApiError 400 or 429 when it cannot.
    ActiveGuard(std::atomic<int>& count, int limit, int generations);
    ~ActiveGuard() { m_count -= m_generations; }
    ActiveGuard(const ActiveGuard&) = delete;
    ActiveGuard& operator=(const ActiveGuard&) = delete;

private:
    std::atomic<int>& m_count;
    int m_generations;
};

} // namespace rslora::serve
