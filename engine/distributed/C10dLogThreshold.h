// LibTorch's c10d writes its own log lines to stderr (glog's or c10's format): the TCP store's
// retries while rank 0 is not listening yet, warnings about address families, and at the end of a
// job the store connections closed by the rank that left first. Each such event that matters reaches
// the user as our own error (the rendezvous or collective that failed, named); the lines around it are
// noise. While a group is set up every c10d failure becomes our error, so c10d logs nothing; after
// it c10d logs errors only (what a collective's watchdog reports before it ends the process stays
// visible). TORCH_CPP_LOG_LEVEL, when set, is LibTorch's to honour and is left alone.
#pragma once

namespace rslora::engine::distributed {

class C10dLogThreshold {
public:
    C10dLogThreshold();  // nothing logged from here on (unless TORCH_CPP_LOG_LEVEL is set)
    ~C10dLogThreshold(); // errors logged from here on
    C10dLogThreshold(const C10dLogThreshold&) = delete;
    C10dLogThreshold& operator=(const C10dLogThreshold&) = delete;

private:
    bool m_active = false;
};

} // namespace rslora::engine::distributed
