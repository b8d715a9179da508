// Counting CPU allocator (see CpuAllocationMeter.h).
#include "engine/CpuAllocationMeter.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>

namespace rslora::engine {

namespace {

// One counting allocator for the process, never destroyed: a tensor allocated through it may be
// freed after the meter is gone, and its deleter still needs the counters.
class CountingAllocator final : public c10::Allocator {
public:
    c10::DataPtr allocate(size_t n) const override
    {
        auto* held = new Held{m_inner->allocate(n), int64_t(n), this};
        const int64_t now = m_current.fetch_add(int64_t(n)) + int64_t(n);
        int64_t peak = m_peak.load();
        while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
        }
        void* data = held->inner.get();
        const c10::Device device = held->inner.device();
        return {data, held, &release, device};
    }

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
        const CountingAllocator* owner;
    };
    static void release(void* ctx)
    {
        auto* held = static_cast<Held*>(ctx);
        held->owner->m_current.fetch_sub(held->bytes);
        delete held; // frees the inner allocation through its own deleter
    }

    c10::Allocator* m_inner = nullptr;
    bool m_installed = false;
    mutable std::atomic<int64_t> m_current{0};
    mutable std::atomic<int64_t> m_peak{0};
};

CountingAllocator& counting()
{
    static auto* allocator = new CountingAllocator();
    return *allocator;
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
