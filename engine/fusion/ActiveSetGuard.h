// Restores every adapted module's active adapters when a scope ends (also by an exception), so
// that searches and gates that switch adapter weights leave the set as they found it.
#pragma once

#include "engine/AdapterSet.h"

#include <vector>

namespace rslora::engine::fusion {

class ActiveSetGuard {
public:
    explicit ActiveSetGuard(AdapterSet& set) : m_set(set)
    {
        for (const auto& m : set.modules())
            m_saved.push_back(m.module->activeAdapters());
    }
    ~ActiveSetGuard()
    {
        size_t i = 0;
        for (const auto& m : m_set.modules())
            if (i < m_saved.size())
                m.module->setActiveAdapters(m_saved[i++]);
    }
    ActiveSetGuard(const ActiveSetGuard&) = delete;
    ActiveSetGuard& operator=(const ActiveSetGuard&) = delete;

private:
    AdapterSet& m_set;
    std::vector<std::vector<ActiveAdapter>> m_saved;
};

} // namespace rslora::engine::fusion
