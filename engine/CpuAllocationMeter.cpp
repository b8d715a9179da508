// Counting CPU allocator (see CpuAllocationMeter.h).
#include "engine/CpuAllocationMeter.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace rslora::engine {

namespace {

// One counting allocator for the process, never destroyed: a tensor allocated through it may be
// freed after the meter is gone, and its deleter still needs the counters.
class CountingAllocator final : public c10::Allocator {
public:
    c10::DataPtr allocate(size_t n) const override
    {
        c10::DataPtr inner = m_inner->allocate(n);
        void* data = inner.get();
        if (data == nullptr) // empty tensors: nothing to count, and no key for the table
            return inner;
        const c10::Device device = inner.device();
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_held.emplace(data, Held{std::move(inner), int64_t(n)});
        }
        const int64_t now = m_current.fetch_add(int64_t(n)) + int64_t(n);
        int64_t peak = m_peak.load();
        while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
        }
        // The context is the data pointer itself, as raw_allocate() (used by some kernels) requires.
        return {data, data, &release, device};
    }
    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    void install()
    {
        if (m_installed)
            return;
        m_inner = c10::GetCPUAllocator();
        // The highest priority, so that nothing installed later replaces it while the meter lives.
        c10::SetCPUAllocator(this, 255);
        m_installed = true;
    }
    void uninstall()
    {
        if (!m_installed)
            return;
        c10::SetCPUAllocator(m_inner, 255);
        m_installed = false;
    }

    int64_t current() const { return m_current.load(); }
    int64_t peak() const { return m_peak.load(); }
    void resetPeak() { m_peak.store(m_current.load()); }

private:
    struct Held {
        c10::DataPtr inner;
        int64_t bytes;
    };
    static void release(void* data);

    c10::Allocator* m_inner = nullptr;
    bool m_installed = false;
    mutable std::atomic<int64_t> m_current{0};
    mutable std::atomic<int64_t> m_peak{0};
    mutable std::mutex m_mutex;
    mutable std::unordered_map<void*, Held> m_held;
};

CountingAllocator& counting()
{
    static auto* allocator = new CountingAllocator();
    return *allocator;
}

void CountingAllocator::release(void* data)
{
    CountingAllocator& self = counting();
    Held held{};
    {
        std::lock_guard<std::mutex> lock(self.m_mutex);
        auto it = self.m_held.find(data);
        held = std::move(it->second);
        self.m_held.erase(it);
    }
    self.m_current.fetch_sub(held.bytes);
    // `held` frees the allocation through the wrapped allocator's own deleter here.
}

} // namespace

CpuAllocationMeter::CpuAllocationMeter()
{
    counting().install();
    counting().resetPeak();
}

CpuAllocationMeter::~CpuAllocationMeter() { counting().uninstall(); }

int64_t CpuAllocationMeter::currentBytes() const { return counting().current(); }
int64_t CpuAllocationMeter::peakBytes() const { return counting().peak(); }
void CpuAllocationMeter::resetPeak() { counting().resetPeak(); }

} // namespace rslora::engine
