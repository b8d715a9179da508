// The one narrow entry of a training run: TrainConfig in, TrainResult out. Checks the config
// against the model's config.json and the data before any heavy work (every problem named at
// once), loads the model and data, trains, writes checkpoints and the adapter.
#pragma once

#include "engine/MetricsSink.h"
#include "engine/RunIdentity.h"
#include "engine/StackWeights.h"
#include "engine/TrainConfig.h"
#include "engine/TrainData.h"
#include "engine/TrainObserver.h"
#include "engine/Trainer.h"
#include "models/data/SftSample.h"

#include <string>
#include <vector>

namespace rslora::engine {

namespace distributed {
class ProcessGroup;
}

// Model facts from config.json alone (no weights loaded).
ValidationFacts modelFacts(const std::string& modelPath);

// Reads a dataset: pre-tokenized JSONL ({"input_ids", "labels"}) as is, any other JSONL (alpaca,
// chat messages, text, prompt/completion) through the model's tokenizer and chat template.
std::vector<TrainExample> loadExamples(const std::string& path, const TrainConfig& config);

// Reads preference pairs (training.objective dpo): JSONL records {prompt, chosen, rejected} with
// strings or messages, rendered with the model's chat template and masked as SFT masks them; a bad
// line is refused with its line number and the reason.
std::vector<models::PreferenceSample> loadPreferencePairs(const std::string& path, const TrainConfig& config);
DatasetFacts preferenceFacts(const std::string& path, const std::vector<models::PreferenceSample>& pairs, int maxSeqLen);

// Validates (throws rslora::Error listing every problem), loads, trains. `resumeFrom`: a
// checkpoint folder, or "latest" for this run's newest under output.dir/checkpoints. The output
// folder is locked for the run; a fresh run refuses a folder holding another run's checkpoints, and a
// resume refuses a checkpoint written with a config that trains something else. `stack`: the weights
// of the stages in adapter.stack_on per step (a pipeline's curriculum). `group`: the data-parallel
// group this process trains in (null: alone); rank 0 chooses the output folder and the checkpoint
// to resume and alone writes, every rank checks that all train the same config, model and data.
TrainResult runTraining(const TrainConfig& config, TrainObserver* observer = nullptr, MetricsSink* sink = nullptr,
                        const std::string& resumeFrom = {}, const RunIdentity& run = {}, const StackWeights& stack = {},
                        distributed::ProcessGroup* group = nullptr);

} // namespace rslora::engine
