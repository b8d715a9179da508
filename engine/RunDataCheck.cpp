// The check of a run's inputs before it is recorded (see RunDataCheck.h).
#include "engine/RunDataCheck.h"

#include "common/Error.h"
#include "engine/ChatTemplateCheck.h"
#include "engine/DataReading.h"
#include "engine/TrainingRun.h"

#include <filesystem>

namespace rslora::engine {

const std::vector<int64_t>& RunDataCheck::supervisedPerSample(const std::string& path, const TrainConfig& config)
{
    // What decides how a file reads: the objective, the tokenizer and template, the length limit, and
    // the file as it is now (a file changed since it was read is read again).
    std::error_code ec;
    const auto modified = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
    const auto size = std::filesystem::file_size(path, ec);
    const std::string key = std::string(trainObjectiveName(config.objective)) + '\n' + config.modelPath + '\n' +
                            config.chatTemplate + '\n' + std::to_string(config.maxSeqLen) + '\n' + path + '\n' +
                            std::to_string(modified) + '\n' + std::to_string(size);
    if (auto it = m_files.find(key); it != m_files.end())
        return it->second;
    std::vector<int64_t> supervised;
    if (config.objective == TrainObjective::Dpo) {
        for (const auto& pair : readPreferencePairs(path, config, DataReport::Silent))
            supervised.push_back(preferenceFacts(path, {pair}, config.maxSeqLen).supervisedTokens);
    } else {
        for (const auto& e : readExamples(path, config, DataReport::Silent))
            supervised.push_back(supervisedTokens(e, config.maxSeqLen));
    }
    return m_files.emplace(key, std::move(supervised)).first->second;
}

ValidationFacts RunDataCheck::dataFacts(const TrainConfig& config)
{
    ValidationFacts f;
    f.haveData = true;
    f.haveValidation = !config.validationData.empty();
    f.train.path = config.trainData;
    f.validation.path = config.validationData;
    const std::vector<int64_t>& train = supervisedPerSample(config.trainData, config);
    // The split runTraining makes (splitValidation) when no validation file is given.
    const std::vector<bool> held =
        f.haveValidation ? std::vector<bool>{} : validationMask(train.size(), config.validationSplit, config.seed);
    for (size_t i = 0; i < train.size(); ++i) {
        DatasetFacts& to = !held.empty() && held[i] ? f.validation : f.train;
        ++to.samples;
        to.supervisedTokens += train[i];
    }
    if (f.haveValidation)
        for (int64_t n : supervisedPerSample(config.validationData, config)) {
            ++f.validation.samples;
            f.validation.supervisedTokens += n;
        }
    return f;
}

ValidationFacts RunDataCheck::checkConfigAndModel(const TrainConfig& config)
{
    validateOrThrow(config);
    ValidationFacts facts = modelFacts(config.modelPath);
    if (!facts.haveModel)
        throw Error("model.path '" + config.modelPath + "' is not a Hugging Face model folder (config.json is missing)");
    // A template name the tokenizer lacks, before the output folder is touched.
    if (const std::string problem = chatTemplateProblem(config); !problem.empty())
        throw Error(problem);
    return facts;
}

void RunDataCheck::check(const TrainConfig& config)
{
    // In runTraining's order: the config alone, the model folder, the template, then the data.
    ValidationFacts facts = checkConfigAndModel(config);
    const ValidationFacts data = dataFacts(config);
    facts.haveData = data.haveData;
    facts.haveValidation = data.haveValidation;
    facts.train = data.train;
    facts.validation = data.validation;
    validateOrThrow(config, facts);
}

} // namespace rslora::engine
