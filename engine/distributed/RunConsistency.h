// The start-up check of a data-parallel job: every rank must train the same config on the same
// model and data. Each rank's fingerprints are gathered and compared with rank 0's; a mismatch is
// refused on every rank with what differs (the config keys by name, or "model"/"data" with the
// files read), before any training work.
#pragma once

#include "engine/TrainConfig.h"

#include <string>
#include <vector>

namespace rslora::engine::distributed {

class ProcessGroup;

// Fingerprints of what one rank is about to train.
struct RunFingerprint {
    std::string configJson; // the trained config (output folder, device and threads left out)
    std::string model;      // SHA-256 over the model folder's config, tokenizer and weight headers
    std::string data;       // SHA-256 over the training and validation files
    std::string dataFiles;  // for messages
};

RunFingerprint fingerprintRun(const TrainConfig& config);
// Throws rslora::Error on every rank when any rank's fingerprint differs from rank 0's.
void checkSameRun(ProcessGroup& group, const TrainConfig& config);

} // namespace rslora::engine::distributed
