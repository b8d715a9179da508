// Feeds a run's stored metrics into the charts: all at once for a past run, or incrementally (only
// steps after the last one read) for a run that another process, such as `rslora train`, is writing.
#pragma once

#include <QtGlobal>

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

private:
    storage::Store& m_store;
    qint64 m_runId;
    qint64 m_lastStep = -1;
    double m_t0 = -1;
    qint64 m_stepOffset = 0;
};

} // namespace rslora::app
