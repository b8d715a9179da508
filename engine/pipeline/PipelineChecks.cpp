// PipelineConfig::problems and validateOrThrow: the check before anything trains, which reads each
// stage's model config.json and looks for its data files (see PipelineConfig.h).
#include "engine/pipeline/PipelineConfig.h"

#include "common/Error.h"
#include "engine/ChatTemplateCheck.h"
#include "engine/RunDataCheck.h"
#include "engine/TrainingRun.h"
#include "models/data/JsonlReader.h"
#include "models/data/PreferenceRecord.h"
#include "models/data/RecordMessages.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

namespace rslora::engine::pipeline {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kObjectives{"sft", "dpo"};

// The first problem of a data file reading stops at.
struct DataProblem {
    std::string text;
};

// Every record of a stage's data, read before any stage trains, so that a bad record in the data of
// a later stage stops the pipeline now, not after the stages before it trained: a record that is not
// JSON, one of the wrong kind for the stage's objective (preference pairs for dpo, instruction,
// chat, prompt/completion or text records for sft), of another format than the file's first record,
// or whose fields have the wrong type. "" when the file passes; a stage whose files pass is then
// read as its run will read it (RunDataCheck: tokenized, templated, cut to data.max_seq_len).
std::string dataProblem(const std::string& file, TrainObjective objective)
{
    using models::SampleFormat;
    namespace records = models::records;
    std::size_t count = 0;
    SampleFormat first = SampleFormat::Auto;
    bool pretokenized = false;
    try {
        models::JsonlReader::read(
            file, models::MalformedLinePolicy::Fail,
            [&](const models::JsonRecord& r) {
                const SampleFormat format = records::detectFormat(r.value);
                if (++count == 1)
                    pretokenized = objective == TrainObjective::Sft && r.value.contains("input_ids");
                if (objective == TrainObjective::Dpo) {
                    if (format != SampleFormat::Preference)
                        throw DataProblem{r.where + " is not a preference record (prompt, chosen, rejected), which a dpo stage trains on"};
                    const auto* prompt = records::field(r.value, "prompt");
                    if (prompt && !prompt->is_string() && !prompt->is_array())
                        throw DataProblem{r.where + ": \"prompt\" must be a string or a list of messages"};
                    for (const char* key : {"chosen", "rejected"}) {
                        const auto* response = records::field(r.value, key);
                        if (!response || (!response->is_string() && !response->is_array()))
                            throw DataProblem{r.where + ": \"" + key + "\" must be a string or a list of messages"};
                        if (response->is_array())
                            records::normalizeMessages(*response, r.where, key);
                    }
                    if (prompt && prompt->is_array())
                        records::normalizeMessages(*prompt, r.where, "prompt");
                    if (!prompt && !(r.value["chosen"].is_array() && r.value["rejected"].is_array()))
                        throw DataProblem{r.where + ": preference records need \"prompt\", \"chosen\" and \"rejected\" (or "
                                                    "conversations in \"chosen\" and \"rejected\" that share the prompt)"};
                    if (*records::field(r.value, "chosen") == *records::field(r.value, "rejected"))
                        throw DataProblem{r.where + ": \"chosen\" and \"rejected\" are the same, so the pair teaches no "
                                                    "preference (its margin is 0 whatever is trained); fix or remove it"};
                    records::readPreferenceRecord(r.value, r.where, ""); // as training reads it: a blank response too
                    return;
                }
                if (pretokenized) {
                    if (!r.value.contains("input_ids") || !r.value["input_ids"].is_array())
                        throw DataProblem{r.where + ": expected an \"input_ids\" list like the file's first record (pre-tokenized data)"};
                    return;
                }
                if (format == SampleFormat::Preference)
                    throw DataProblem{r.where + " is a preference record (prompt, chosen, rejected), which an sft stage does not "
                                                "train on (objective: dpo trains on preference pairs)"};
                if (format == SampleFormat::Auto)
                    throw DataProblem{r.where + ": cannot tell the record format from its keys; an sft stage trains on "
                                                "instruction/output (alpaca), messages or conversations (chat), prompt/completion or text records"};
                if (count == 1)
                    first = format;
                else if (format != first)
                    throw DataProblem{r.where + ": record of format " + models::sampleFormatName(format) + " in a " +
                                      models::sampleFormatName(first) + " dataset"};
                if (format == SampleFormat::Text)
                    records::requireString(r.value, "text", r.where, "text");
                else
                    records::toMessages(r.value, format, r.where);
            },
            [](std::size_t, const std::string&) {});
    } catch (const DataProblem& p) {
        return p.text;
    } catch (const Error& e) {
        return e.what();
    }
    return count == 0 ? "holds no records" : std::string();
}

} // namespace

std::vector<std::string> PipelineConfig::problems(const std::function<std::string(const std::string&)>& checkFrom) const
{
    std::vector<std::string> out = m_readProblems;
    std::set<std::string> names;
    std::string firstModel; // every trained stage adapts the same base model
    RunDataCheck data;      // each data file read once, whichever stages train on it
    static const std::regex nameRe("^[A-Za-z0-9_-]{1,40}$");
    static const std::regex reserved("^stage[0-9]+$");
    for (size_t i = 0; i < stages.size(); ++i) {
        const StageSpec& s = stages[i];
        if (!s.readable)
            continue; // "must be a mapping" was said when it was read
        const std::string ptr = "/stages/" + std::to_string(i);
        const size_t before = out.size();
        // A stage whose name is empty (a cleared name in the workbench's table) goes by its number:
        // "stage ''" named nothing.
        const std::string label = s.name.empty() ? "stage " + std::to_string(i + 1) : "stage '" + s.name + "'";
        auto add = [&](const std::string& key, const std::string& msg) {
            const std::string at = where(key.empty() ? ptr : ptr + "/" + key);
            out.push_back(label + (at.empty() ? "" : " (" + at + ")") + ": " + msg);
        };
        const bool nameOk = std::regex_match(s.name, nameRe);
        if (s.name.empty())
            add("name", "the name is empty: give it 1 to 40 letters, digits, '-' or '_'");
        else if (!nameOk)
            add("name", "name '" + s.name + "' must be 1 to 40 letters, digits, '-' or '_'");
        else if (std::regex_match(s.name, reserved) && !(s.name == "stage" + std::to_string(i + 1)))
            add("name", "name '" + s.name + "' is reserved for the stacked stages; choose another");
        if (!s.name.empty() && !names.insert(s.name).second)
            add("name", "name '" + s.name + "' is used by an earlier stage; stage names must differ");
        if (std::find(kObjectives.begin(), kObjectives.end(), s.objective) == kObjectives.end())
            add("objective", "objective '" + s.objective + "' is unknown (expected 'sft' or 'dpo')");
        if (s.curriculum.enabled()) {
            if (!(s.curriculum.floor >= 0.0 && s.curriculum.floor <= 1.0))
                add("curriculum", "curriculum.floor must be in [0, 1], found " + std::to_string(s.curriculum.floor));
            if (i == 0)
                add("curriculum", "curriculum fusion decays the earlier stages' weights, but this is the first stage");
            else if (s.mergeIntoBase)
                add("curriculum", "curriculum fusion needs the earlier stages stacked; with merge_into_base they are merged into the base");
        }
        if (s.mergeIntoBase && i == 0)
            add("merge_into_base", "merge_into_base: there is no earlier stage to merge into the base");
        if (!s.trained()) {
            if (!parseVersionReference(s.from))
                add("from", "from '" + s.from + "' must name a stored version as task@vN (e.g. chat_sft@v3)");
            else if (checkFrom) {
                // The resolver's own message may name the reference already ("from: x@v1: no adapter
                // matches ..."); it is not named twice.
                const std::string why = checkFrom(s.from);
                if (!why.empty())
                    add("from", (why.rfind("from: " + s.from + ":", 0) == 0 ? why : "from '" + s.from + "': " + why)
                                    + ownStageHint(i, parseVersionReference(s.from)->task));
            }
            if (!s.data.empty())
                add("data", "takes its adapter from '" + s.from + "' and trains nothing; remove 'data'");
            if (!s.overrides.empty())
                add("overrides", "takes its adapter from '" + s.from + "' and trains nothing; remove 'overrides'");
            if (s.curriculum.enabled())
                add("curriculum", "takes its adapter from '" + s.from + "' and trains nothing; remove 'curriculum'");
            continue;
        }
        TrainConfig cfg;
        try {
            cfg = stageConfig(i);
        } catch (const Error& e) {
            add("", e.what());
            continue;
        }
        if (firstModel.empty())
            firstModel = cfg.modelPath;
        else if (cfg.modelPath != firstModel)
            add("", "model.path '" + cfg.modelPath + "' differs from the earlier stages' '" + firstModel
                        + "'; the stages of a pipeline adapt one base model");
        if (cfg.mode != TrainMode::Lora)
            add("", "training.mode must be 'lora' in a pipeline: every stage trains an adapter");
        if (outputDir.empty())
            cfg.outputDir = "(the pipeline's own folder)";
        const ValidationFacts facts = modelFacts(cfg.modelPath);
        // The runner stacks the stages below onto every later stage that does not merge them into
        // the base, filling its adapter.stack_on only then: a 'stack' reference is checked here.
        // The stage's adapter is named after the stage: a name refused above is not refused again
        // as the adapter's.
        for (const auto& e : validate(cfg, facts))
            if ((i == 0 || e.rfind(kStackReferenceProblem, 0) != 0) && (nameOk || e.rfind("adapter.name ", 0) != 0))
                add("", e);
        if (const std::string problem = chatTemplateProblem(cfg); !problem.empty())
            add("", problem);
        if (cfg.objective == TrainObjective::Dpo && cfg.dpo.reference == DpoReference::Stack && i > 0 && s.mergeIntoBase)
            add("dpo", "reference is 'stack' but the stages below are merged into the base (merge_into_base): "
                       "use reference 'base', which is then the merged model");
        if (!cfg.trainData.empty() && !fs::exists(cfg.trainData))
            add("", "data.train '" + cfg.trainData + "' does not exist" + [&] {
                const std::string at = stageLocator(i)("data", "train");
                return at.empty() ? std::string() : " (" + at + ")";
            }());
        if (!cfg.validationData.empty() && !fs::exists(cfg.validationData))
            add("", "data.validation '" + cfg.validationData + "' does not exist");
        // The records a stage trains on are checked now, not after the stages before it trained.
        for (const auto& [key, file] : {std::pair<const char*, const std::string&>{"train", cfg.trainData},
                                        std::pair<const char*, const std::string&>{"validation", cfg.validationData}})
            if (!file.empty() && fs::is_regular_file(file))
                if (const std::string problem = dataProblem(file, cfg.objective); !problem.empty())
                    add("", std::string("data.") + key + " '" + file + "': " + problem);
        if (!cfg.modelPath.empty() && !facts.haveModel)
            add("", "model.path '" + cfg.modelPath + "' is not a Hugging Face model folder (config.json is missing)");
        // A stage with nothing else wrong: its whole data set as its run will read it, so that a record
        // its chat template fails on, or data left with no usable sample (all masked, all cut away),
        // stops the pipeline before any stage is recorded or trained.
        if (out.size() == before && facts.haveModel) {
            try {
                ValidationFacts withData = facts;
                const ValidationFacts read = data.dataFacts(cfg);
                withData.haveData = read.haveData;
                withData.haveValidation = read.haveValidation;
                withData.train = read.train;
                withData.validation = read.validation;
                for (const auto& e : validate(cfg, withData))
                    if (i == 0 || e.rfind(kStackReferenceProblem, 0) != 0)
                        add("", e);
            } catch (const Error& e) {
                add("", e.what());
            }
        }
    }
    return out;
}

std::string PipelineConfig::ownStageHint(size_t i, const std::string& task) const
{
    // The versions of stage X of this pipeline go to task <pipeline>_<X> (README, Pipelines).
    for (size_t k = 0; k < stages.size(); ++k) {
        if (k == i || !stages[k].readable || name + "_" + stages[k].name != task)
            continue;
        const std::string whose = "; '" + task + "' is the task this pipeline's stage '" + stages[k].name + "' stores its versions in";
        if (k > i)
            return whose + ", and that stage trains after this one: a from: takes a version stored before the pipeline starts";
        return whose + "; that stage trains before this one and is below it already, so this stage needs no from: (a from: "
                       "takes a version stored before the pipeline starts)";
    }
    return {};
}

void PipelineConfig::validateOrThrow(const std::function<std::string(const std::string&)>& checkFrom) const
{
    const auto errors = problems(checkFrom);
    if (errors.empty())
        return;
    const std::string head = (file.empty() ? "pipeline '" + name + "'" : file) + ": ";
    if (errors.size() == 1)
        throw Error(head + errors.front());
    std::string msg = head + std::to_string(errors.size()) + " problems, nothing was trained:";
    for (const auto& e : errors)
        msg += "\n  - " + e;
    throw Error(msg);
}

} // namespace rslora::engine::pipeline
