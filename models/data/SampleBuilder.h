// Builds training samples from SFT and preference records (alpaca, chat "messages", plain "text",
// prompt/completion, prompt/chosen/rejected), with the chat template of the model, prompt masking
// (labels -100 on everything but assistant turns), truncation and per-line error reporting.
//
// How a conversation becomes ids and labels (the LLaMA-Factory / TRL recipe):
//  1. The record becomes messages (alpaca: user = instruction + "\n" + input, assistant = output,
//     optional system and history pairs).
//  2. The conversation is rendered with the chat template. If the template marks assistant text with
//     {% generation %}, those spans are the responses. Otherwise each assistant turn's text is located by
//     rendering the conversation up to it with add_generation_prompt=True (the prompt) and with the
//     turn itself: the difference is the response, end-of-turn marker included (TRL's prefix rule);
//     if the template does not render prefixes consistently, the turn's content is found in the
//     full text and extended over the end-of-sequence token that follows it.
//  3. The rendered text is cut at those boundaries and every piece is encoded separately without
//     added special tokens (so BPE never merges across a prompt/response boundary), BOS is added
//     only if the text does not already begin with it, and labels are -100 outside responses.
//  4. The sequence is truncated to maxLength (keeping the start); cut tokens are counted.
#pragma once

#include "models/chat/ChatTemplate.h"
#include "models/data/JsonlReader.h"
#include "models/data/SftSample.h"
#include "models/tokenizer/Tokenizer.h"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rslora::models {

struct SampleBuilderOptions {
    SampleFormat format = SampleFormat::Auto;
    std::size_t maxLength = 2048; // 0: no limit
    bool trainOnPrompt = false;   // keep labels on prompt tokens too
    bool maskHistory = false;     // train only the last assistant turn
    bool addEosToText = true;     // plain text / completions: append EOS when missing
    bool dropSamplesWithoutTargets = true;
    MalformedLinePolicy malformed = MalformedLinePolicy::Fail;
    std::string templateName = "default";
    std::optional<std::string> templateOverride; // Jinja source used instead of the tokenizer's
    std::string defaultSystem;                    // system prompt when a record has none (empty: none)
    ChatRenderOptions render;                     // extra template variables (enable_thinking, ...)
    unsigned threads = 0;                         // loadSft/loadPreferences workers; 0: all cores, at most 8
    // loadSft/loadPreferences read the file's first maxRecords records only (a malformed line is one;
    // blank lines are not): a preview of a large file. 0: every record.
    std::size_t maxRecords = 0;
};

struct BuildStats {
    SampleFormat format = SampleFormat::Auto;
    std::size_t records = 0;
    std::size_t samples = 0;
    std::size_t skipped = 0;           // malformed lines skipped (policy Skip)
    std::size_t truncatedSamples = 0;
    std::size_t truncatedTokens = 0;
    std::size_t droppedWithoutTargets = 0;
    std::string firstDropped;          // where the first of those stood ("data.jsonl line 7")
    std::size_t totalTokens = 0;
    std::size_t trainedTokens = 0;
    std::vector<std::string> problems; // first messages of skipped lines
    bool moreRecords = false;          // the file holds records beyond the maxRecords read

    std::string summary() const;
};

struct SftDataset {
    std::vector<TokenizedSample> samples;
    std::vector<std::size_t> lines; // each sample's record: its 1-based line (JSONL) or element (JSON array)
    BuildStats stats;
};

struct PreferenceDataset {
    std::vector<PreferenceSample> samples;
    std::vector<std::size_t> lines; // as SftDataset::lines
    BuildStats stats;
};

class SampleBuilder {
public:
    // Uses the tokenizer's chat template (or options.templateOverride); models without one get
    // ChatTemplate::plainInstruction.
    explicit SampleBuilder(Tokenizer tokenizer, SampleBuilderOptions options = {});

    // Format of one record from its keys; Auto when none matches.
    static SampleFormat detectFormat(const nlohmann::ordered_json& record);

    // One record. `where` names it in errors ("data.jsonl line 3"). Throws rslora::Error for a record
    // that does not fit its format. truncated (optional) receives the number of tokens cut.
    TokenizedSample buildSft(const nlohmann::ordered_json& record, const std::string& where = "record",
                             std::size_t* truncated = nullptr) const;
    PreferenceSample buildPreference(const nlohmann::ordered_json& record, const std::string& where = "record",
                                     std::size_t* truncated = nullptr) const;
    SamplePreview preview(const nlohmann::ordered_json& record, const std::string& where = "record") const;
    // A preference record's prompt as the model is asked it (chat template and generation prompt) and
    // the text of its chosen response: what a greedy answer in the chosen style should read.
    std::pair<std::string, std::string> chosenExample(const nlohmann::ordered_json& record, const std::string& where = "record") const;

    SftDataset loadSft(const std::filesystem::path& file) const;
    PreferenceDataset loadPreferences(const std::filesystem::path& file) const;

    const ChatTemplate& chatTemplate() const { return m_template; }
    const Tokenizer& tokenizer() const { return m_tokenizer; }
    const SampleBuilderOptions& options() const { return m_options; }

    struct Segment {
        std::string text;
        bool trained = false;
        std::string role;
        // Written by the model's chat template (or templateOverride): encoded without a BOS, as
        // apply_chat_template encodes it; plain text and the plain-instruction fallback get one.
        bool rendered = false;
    };
    // The rendered conversation cut into prompt and response pieces (step 2 above).
    std::vector<Segment> segments(const nlohmann::ordered_json& record, const std::string& where,
                                  SampleFormat* format = nullptr) const;

private:
    struct PreferenceParts {
        nlohmann::ordered_json promptMessages; // system (if any) and the prompt's messages
        std::string promptText;                // rendered with the generation prompt
        nlohmann::ordered_json chosen, rejected; // a string, or the response messages
    };
    PreferenceParts preferenceParts(const nlohmann::ordered_json& record, const std::string& where) const;
    std::string responseContent(const nlohmann::ordered_json& response, const std::string& where, const char* key) const;

    // Reads `file`, checks each record's format in line order, builds the records on worker threads
    // and reports results and errors in line order. `build` returns false to drop a record.
    template <typename Sample>
    void loadRecords(const std::filesystem::path& file, bool preference, std::vector<Sample>& samples,
                     std::vector<std::size_t>& lines, BuildStats& stats,
                     const std::function<bool(const JsonRecord&, Sample&, BuildStats&)>& build) const;
    nlohmann::ordered_json toMessages(const nlohmann::ordered_json& record, SampleFormat format,
                                      const std::string& where) const;
    std::vector<Segment> chatSegments(const nlohmann::ordered_json& messages, const std::string& where) const;
    TokenizedSample encodeSegments(const std::vector<Segment>& segments, std::vector<std::size_t>* tokenSegment) const;
    std::size_t truncate(TokenizedSample& s) const;
    SampleFormat resolveFormat(const nlohmann::ordered_json& record, const std::string& where) const;

    Tokenizer m_tokenizer;
    SampleBuilderOptions m_options;
    ChatTemplate m_template;
};

} // namespace rslora::models
