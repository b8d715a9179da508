// c10d's log threshold around a group's set-up (see C10dLogThreshold.h).
#include "engine/distributed/C10dLogThreshold.h"

#include <c10/util/Logging.h>

#include <cstdlib>

namespace rslora::engine::distributed {

namespace {

// c10's levels (FLAGS_caffe2_log_level, which c10d's own macros read in glog and non-glog builds).
constexpr int kLogError = 2;
constexpr int kLogFatal = 3;

bool userChoseLevel()
{
    const char* level = std::getenv("TORCH_CPP_LOG_LEVEL");
    return level && *level;
}

} // namespace

C10dLogThreshold::C10dLogThreshold() : m_active(!userChoseLevel())
{
    if (m_active)
        FLAGS_caffe2_log_level = kLogFatal;
    else
        c10::initLogging(); // reads TORCH_CPP_LOG_LEVEL (Python's torch does this on import; a C++ program must)
}

C10dLogThreshold::~C10dLogThreshold()
{
    if (m_active)
        FLAGS_caffe2_log_level = kLogError;
}

} // namespace rslora::engine::distributed
