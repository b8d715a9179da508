// Evaluation: validation loss and perplexity, exact match of greedy generations against
// references, multiple-choice accuracy by answer log-likelihood (MMLU-style JSONL or CSV), and the
// diagnostics the source articles ask for (lora_A std against σ/√r, adapted-layer output std,
// trainable ratio).
#pragma once

#include "engine/AdapterSet.h"
#include "engine/AnswerMatch.h"
#include "engine/TrainData.h"
#include "engine/TrainObserver.h"
#include "engine/objectives/DpoLoss.h"
#include "models/CausalLM.h"
#include "models/tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace rslora::models {
class SampleBuilder;
}

namespace rslora::engine {

// One scored item, in file order: what was expected, what the model gave.
struct ItemResult {
    int64_t index = 0;
    bool correct = false;
    std::string expected; // the reference (exact match) or the answer letter (multiple choice)
    std::string got;
};

struct AccuracyResult {
    int64_t correct = 0;
    int64_t total = 0;
    double accuracy() const { return total > 0 ? double(correct) / double(total) : 0.0; }
    std::vector<std::string> samples; // a few "expected | got" lines for the report
    std::vector<ItemResult> items;    // every item (stored with the evaluation)
};

struct ModuleDiagnostics {
    std::string module;
    double stdA = 0.0;
    double expectedStdA = 0.0;   // σ/√r for `rescaled`, 1/r for `gaussian`, 1/√(3·in) for `lora`
    double outputStdBase = 0.0;  // std of the layer's output with adapters off
    double outputStdAdapted = 0.0;
};

// Mean loss over supervised tokens, in chunks from hidden states; no gradient.
EvalStats evaluateLoss(models::CausalLM& model, const std::vector<TrainExample>& examples, int batchSize, int maxSeqLen,
                       int64_t chunkTokens = 1024);

struct ExactMatchItem {
    std::string prompt;    // text given to the model as is
    std::string reference; // expected continuation
};
// Reads {"prompt","answer"} / {"input","output"} / {"question","answer"} JSONL records.
// Exact-match items from JSONL. {prompt, answer} and {question, answer} records are used as written.
// SFT records (alpaca, prompt/completion, chat) are rendered the way training renders them when a
// builder is given: the prompt is the record up to the first trained response (chat template
// included), the reference that response's text. Without a builder their fields are used raw.
// Preference pairs ({prompt, chosen, rejected}, with a builder) are checked against their chosen response.
std::vector<ExactMatchItem> loadExactMatchItems(const std::string& path, const models::SampleBuilder* builder = nullptr);
// Greedy generation; correct when the generated text equals the reference as `match` normalises
// them (default: the first line, trimmed).
// `keepSamples` "expected | got" lines are kept for the report (the first ones in file order).
AccuracyResult exactMatch(models::CausalLM& model, const models::Tokenizer& tokenizer,
                          const std::vector<ExactMatchItem>& items, int maxNewTokens, int batchSize, int keepSamples = 5,
                          const MatchOptions& match = {});

struct ChoiceItem {
    std::string question;
    std::vector<std::string> choices;
    int answer = 0;
};
// JSONL {"question", "choices": [...], "answer": 2 | "C"}; MMLU CSV rows question,A,B,C,D,answer
// (no header); CMMLU CSV with a header naming the columns (",Question,A,B,C,D,Answer": the columns
// are found by name, so a leading index column is skipped).
std::vector<ChoiceItem> loadChoiceItems(const std::string& path);

struct ChoiceOptions {
    int kShot = 0;                  // solved examples before each question
    std::vector<ChoiceItem> shots;  // where they come from (MMLU's dev split); empty: the first kShot items,
                                    // which are then not scored
    std::string subject;            // "… (with answers) about <subject>."
    int batchSize = 8;              // sequences per forward pass
};
// MMLU's prompt: "The following are multiple choice questions (with answers)[ about S].\n\n", then
// each shot as "Q\nA. a\nB. b\n…\nAnswer: B\n\n", then the question the same way up to "Answer:".
std::string multipleChoicePrompt(const ChoiceItem& item, const std::vector<ChoiceItem>& shots,
                                 const std::string& subject = {});
// Σ log p(continuation tokens | prompt) per (prompt, continuation) pair, `batchSize` sequences per
// forward pass (right-padded: a causal model's earlier positions do not see the padding).
std::vector<double> continuationLogLikelihoods(
    models::CausalLM& model, const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& pairs,
    int batchSize);
// Scores " A", " B", ... after the prompt by log-likelihood; the highest wins (the first on a tie).
AccuracyResult multipleChoice(models::CausalLM& model, const models::Tokenizer& tokenizer,
                              const std::vector<ChoiceItem>& items, const ChoiceOptions& options = {});

// Per adapted module: std of A and its expected value, output std with adapters off and on over `batch`.
std::vector<ModuleDiagnostics> adapterDiagnostics(AdapterSet& set, const std::string& adapterName,
                                                  const torch::Tensor& batchIds);

struct EvalRequest {
    std::string modelPath;
    std::vector<std::string> adapterPaths;
    std::string lossData, exactMatchData, multipleChoiceData;
    // Preference pairs scored as DPO scores them: the policy (adapterPaths) against the reference
    // (the base plus referenceAdapterPaths).
    std::string preferenceData;
    std::vector<std::string> referenceAdapterPaths;
    objectives::DpoOptions dpo;
    int maxNewTokens = 32;
    int maxSeqLen = 512;
    int batchSize = 8;
    int limit = 0;
    int samples = 5; // "expected | got" lines shown for exact match
    MatchOptions match;
    ChoiceOptions choice;
    std::string choiceShotsData;      // MMLU dev-split file for the k-shot examples
    std::string chatTemplate; // template name for SFT records; empty: the tokenizer's own
    bool diagnostics = false;
    // Which of adapterPaths the diagnostics describe (a run stacked on earlier stages: the last).
    size_t diagnosedAdapter = 0;
    std::string device = "cpu";
};

struct EvalReport {
    std::optional<EvalStats> loss;
    std::optional<AccuracyResult> exactMatch, multipleChoice;
    std::optional<objectives::DpoMetrics> preference;
    std::string preferenceData;        // the data summary (pairs, truncated tokens)
    objectives::DpoOptions dpo;
    std::optional<ParameterCounts> parameters;
    std::vector<ModuleDiagnostics> diagnostics;
    nlohmann::json toJson() const;
    std::string toText() const;
};

EvalReport runEvaluation(const EvalRequest& request);

} // namespace rslora::engine
