// What a training run refuses before it loads weights, checked before the run is recorded: the
// config, the model's config.json and chat template, and the whole data set read as the trainer
// reads it (every record tokenized with the model's tokenizer and template, cut to
// data.max_seq_len, split off for validation as the run splits it). A bad record deep in a file, a
// template that fails on one record, data with no sample left (all too long, all masked, none at
// all) are refused here, so that a run row and a run folder exist only for data the trainer takes.
// Reads silently (the run reports the data when it trains) and reads each data file once per
// object while it is unchanged (its time and size), so a sweep checks a file once for all its
// combinations and seeds.
#pragma once

#include "engine/TrainConfig.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rslora::engine {

class RunDataCheck {
public:
    // The facts validate() checks the data by (haveData, train, validation; no model facts).
    // Throws rslora::Error naming the file and the record for one training would refuse.
    ValidationFacts dataFacts(const TrainConfig& config);
    // Throws rslora::Error for everything runTraining refuses before it touches output.dir: the
    // config, the model folder, data.chat_template and the data. output.dir must be filled in
    // (any path where the run's own folder is chosen later: the check writes nothing there).
    void check(const TrainConfig& config);
    // The part of check() that reads no data: the config alone, the model folder's config.json and
    // data.chat_template. Returns the model's facts. runTraining starts with it too.
    static ValidationFacts checkConfigAndModel(const TrainConfig& config);

private:
    // Each sample's supervised tokens, in file order, read as the trainer reads the file.
    const std::vector<int64_t>& supervisedPerSample(const std::string& path, const TrainConfig& config);

    std::map<std::string, std::vector<int64_t>> m_files;
};

} // namespace rslora::engine
