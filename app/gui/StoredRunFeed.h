// Feeds a run's stored metrics into the charts: all at once for a past run, or incrementally (only
// steps after the last one read) for a run that another process, such as `rslora train`, is writing.
#pragma once

#include <QtGlobal>

#include <optional>

namespace rslora::storage {
class Store;
}

namespace rslora::ui {
class ChartsPanel;
}

namespace rslora::app {

class StoredRunFeed {
public:
    StoredRunFeed(storage::Store& store, qint64 runId) : m_store(store), m_runId(runId) {}
    // Adds every point stored after the last call; returns the number of steps added.
    int poll(ui::ChartsPanel& charts);
    qint64 lastStep() const { return m_lastStep; }
    qint64 runId() const { return m_runId; }
    // Shifts the steps (a later stage of a pipeline drawn after the earlier stages' steps).
    void setStepOffset(qint64 offset) { m_stepOffset = offset; }
    // Reads no step after `step` (a resumed run's history up to its checkpoint; what followed is
    // replaced by the continued run).
    void setMaxStep(qint64 step) { m_maxStep = step; }

private:
    storage::Store& m_store;
    qint64 m_runId;
    qint64 m_lastStep = -1;
    double m_t0 = -1;
    qint64 m_stepOffset = 0;
    std::optional<qint64> m_maxStep;
};

} // namespace rslora::app
