// SFT and preference sample construction (see SampleBuilder.h for the recipe).
#include "models/data/SampleBuilder.h"

#include "common/Error.h"
#include "models/chat/JinjaValue.h"
#include "models/data/PreferenceRecord.h"
#include "models/data/RecordMessages.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cstdio>

namespace rslora::models {

using ojson = nlohmann::ordered_json;
using namespace records;

const char* sampleFormatName(SampleFormat f) {
    switch (f) {
    case SampleFormat::Auto: return "auto";
    case SampleFormat::Alpaca: return "alpaca";
    case SampleFormat::Chat: return "chat";
    case SampleFormat::Text: return "text";
    case SampleFormat::PromptCompletion: return "prompt_completion";
    case SampleFormat::Preference: return "preference";
    }
    return "auto";
}

SampleFormat parseSampleFormat(const std::string& name) {
    for (auto f : {SampleFormat::Auto, SampleFormat::Alpaca, SampleFormat::Chat, SampleFormat::Text,
                   SampleFormat::PromptCompletion, SampleFormat::Preference})
        if (name == sampleFormatName(f))
            return f;
    if (name == "messages" || name == "sharegpt")
        return SampleFormat::Chat;
    if (name == "dpo")
        return SampleFormat::Preference;
    throw Error("unknown dataset format \"" + name + "\" (expected auto, alpaca, chat, text, prompt_completion or preference)");
}

std::string BuildStats::summary() const {
    char buf[1024]; // a file name is at most 255 bytes
    const double share = totalTokens ? 100.0 * static_cast<double>(trainedTokens) / static_cast<double>(totalTokens) : 0.0;
    // Which record was dropped is named (the first): a prompt longer than max_seq_len leaves a record
    // without a trained token, and the user has to find it.
    const std::string first = firstDropped.empty() ? std::string() : " (the first: " + firstDropped + ")";
    std::snprintf(buf, sizeof buf,
                  "%zu records -> %zu samples (format %s); %zu truncated (%zu tokens cut); %zu without trained tokens "
                  "dropped%s; %zu malformed lines skipped; %zu tokens, %.1f%% trained",
                  records, samples, sampleFormatName(format), truncatedSamples, truncatedTokens, droppedWithoutTargets,
                  first.c_str(), skipped, totalTokens, share);
    return buf;
}

namespace {

ChatTemplate chooseTemplate(const Tokenizer& tokenizer, const SampleBuilderOptions& o) {
    if (o.templateOverride) {
        ChatTemplate t(*o.templateOverride, tokenizer.bosToken(), tokenizer.eosToken(), "override");
        t.setSpecialToken("pad_token", tokenizer.padToken());
        return t;
    }
    if (auto t = ChatTemplate::fromTokenizer(tokenizer, o.templateName))
        return *t;
    const auto& named = tokenizer.config().chatTemplates;
    std::string names;
    for (const auto& entry : named)
        names += (names.empty() ? "\"" : ", \"") + entry.first + "\"";
    if (o.templateName != "default")
        throw Error("the tokenizer has no chat template named \"" + o.templateName + "\"" +
                    (names.empty() ? std::string(" (it has none)") : " (it has " + names + ")"));
    // Named templates without a "default" one: transformers refuses to guess, and so do we; falling
    // back to the plain instruction format would train on a format the model never saw.
    if (!named.empty()) {
        const std::string& source = tokenizer.config().sourcePath;
        throw Error((source.empty() ? std::string() : source + ": ") + "the tokenizer's chat templates are named " + names +
                    " and none is \"default\"; choose one by name (data.chat_template in a training config, "
                    "--chat-template on the command line)");
    }
    return ChatTemplate::plainInstruction(tokenizer.eosToken());
}

// Content given as a list of parts reaches the template as a list: a template that prints the
// content as it is ({{ message['content'] }}) writes the list's Python text into the text it renders.
void refuseListsWrittenAsText(const ojson& messages, const std::string& rendered, const std::string& templateName,
                              const std::string& where, const char* key) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto content = messages[i].find("content");
        if (content == messages[i].end() || !content->is_array() || content->empty())
            continue;
        const std::string listText = jinja::Value::fromJson(*content).str();
        if (rendered.find(listText) == std::string::npos)
            continue;
        std::vector<char32_t> shown = utf8::toCodePoints(listText);
        const bool cut = shown.size() > 60;
        shown.resize(std::min<std::size_t>(shown.size(), 60));
        throw Error(where + ": " + key + "[" + std::to_string(i) + "]: \"content\" is a list of parts, which the chat template \"" +
                        templateName + "\" writes into the text as it is: " + utf8::fromCodePoints(shown) + (cut ? "..." : ""),
                    "give the content as a string, or use a chat template that reads content parts");
    }
}

bool startsWith(const std::string& s, const std::string& prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

ojson slice(const ojson& messages, std::size_t n) {
    ojson out = ojson::array();
    for (std::size_t i = 0; i < n && i < messages.size(); ++i)
        out.push_back(messages[i]);
    return out;
}

} // namespace

SampleBuilder::SampleBuilder(Tokenizer tokenizer, SampleBuilderOptions options)
    : m_tokenizer(std::move(tokenizer)), m_options(std::move(options)), m_template(chooseTemplate(m_tokenizer, m_options)) {}

SampleFormat SampleBuilder::detectFormat(const ojson& r) { return records::detectFormat(r); }

SampleFormat SampleBuilder::resolveFormat(const ojson& record, const std::string& where) const {
    if (!record.is_object())
        throw Error(where + ": expected a JSON object, found " + std::string(record.type_name()));
    const SampleFormat detected = detectFormat(record);
    if (m_options.format == SampleFormat::Auto) {
        if (detected == SampleFormat::Auto) {
            std::string keys;
            for (auto it = record.begin(); it != record.end(); ++it)
                keys += (keys.empty() ? "" : ", ") + it.key();
            // Token ids are read only from a JSONL file whose first record has them (a JSON array of
            // such records reaches the record formats here).
            const std::string tokenIds = record.contains("input_ids")
                                             ? "; a record with \"input_ids\" is pre-tokenized data, read from a JSONL file: "
                                               "one record per line, each with its \"input_ids\" (and \"labels\" if some "
                                               "tokens are not trained)"
                                             : "";
            throw Error(where + ": cannot tell the record format from its keys (" + keys +
                        "); expected instruction/output (alpaca), messages (chat), text, prompt/completion or "
                        "prompt/chosen/rejected (preference)" + tokenIds);
        }
        return detected;
    }
    return m_options.format;
}

ojson SampleBuilder::toMessages(const ojson& r, SampleFormat format, const std::string& where) const {
    ojson messages = records::toMessages(r, format, where);
    if (!m_options.defaultSystem.empty() && (messages.empty() || messages[0]["role"] != "system"))
        messages.insert(messages.begin(), message("system", m_options.defaultSystem));
    return messages;
}

std::vector<SampleBuilder::Segment> SampleBuilder::chatSegments(const ojson& messages, const std::string& where) const {
    auto render = [&](std::size_t n, bool generationPrompt) {
        ChatRenderOptions o = m_options.render;
        o.addGenerationPrompt = generationPrompt;
        return m_template.render(slice(messages, n), o);
    };
    std::string full;
    std::vector<std::pair<std::size_t, std::size_t>> marked;
    try {
        ChatRenderOptions o = m_options.render;
        o.addGenerationPrompt = false;
        auto result = m_template.renderDetailed(messages, o);
        full = std::move(result.text);
        marked = std::move(result.generationSpans);
    } catch (const Error& e) {
        throw Error(where + ": the chat template failed: " + e.what());
    }
    refuseListsWrittenAsText(messages, full, m_template.name(), where, "messages");
    std::vector<std::size_t> assistants;
    bool anyExcluded = false;
    for (std::size_t i = 0; i < messages.size(); ++i)
        if (messages[i]["role"] == "assistant") {
            assistants.push_back(i);
            anyExcluded = anyExcluded || excludedFromTraining(messages[i]);
        }
    // Assistant turns with "weight": 0 stay untrained whatever else is (train on prompt included):
    // the record says so turn by turn.
    std::vector<std::size_t> excludedSegments;
    // The model's own template writes its specials: its text gets no BOS (apply_chat_template).
    const bool rendered = m_template.name() != "plain-instruction";
    auto finish = [&](std::vector<Segment>& out) {
        for (auto& seg : out)
            seg.rendered = rendered;
        if (m_options.trainOnPrompt)
            for (auto& seg : out)
                seg.trained = true;
        for (std::size_t k : excludedSegments)
            out[k].trained = false;
    };
    // Templates that mark assistant text with {% generation %} say exactly what to train on
    // (transformers' return_assistant_tokens_mask, TRL's assistant_only_loss).
    marked.erase(std::remove_if(marked.begin(), marked.end(), [](const auto& s) { return s.second <= s.first; }), marked.end());
    if (!marked.empty()) {
        // The k-th marked span is the k-th assistant turn; a weight can only be applied when they pair up.
        if (anyExcluded && marked.size() != assistants.size())
            throw Error(where + ": the chat template marks " + std::to_string(marked.size()) + " generation spans for " +
                        std::to_string(assistants.size()) + " assistant messages, so the turn with \"weight\": 0 cannot be told apart");
        std::vector<Segment> out;
        std::size_t cursor = 0;
        for (std::size_t k = 0; k < marked.size(); ++k) {
            const auto [begin, end] = marked[k];
            if (begin < cursor)
                continue;
            if (begin > cursor)
                out.push_back({full.substr(cursor, begin - cursor), false, "prompt"});
            const bool excluded = anyExcluded && excludedFromTraining(messages[assistants[k]]);
            if (excluded)
                excludedSegments.push_back(out.size());
            const bool trained = !excluded && (!m_options.maskHistory || k + 1 == marked.size());
            out.push_back({full.substr(begin, end - begin), trained, "assistant"});
            cursor = end;
        }
        if (cursor < full.size())
            out.push_back({full.substr(cursor), false, "template"});
        finish(out);
        return out;
    }
    if (assistants.empty())
        throw Error(where + ": the conversation has no assistant message to train on");

    const std::string eos = m_tokenizer.eosToken().value_or("");
    std::vector<Segment> out;
    std::size_t cursor = 0;
    for (std::size_t k = 0; k < assistants.size(); ++k) {
        const std::size_t i = assistants[k];
        std::size_t begin = std::string::npos, end = std::string::npos;
        try {
            const std::string prompt = render(i, true);
            const std::string withTurn = render(i + 1, false);
            if (prompt.size() >= cursor && startsWith(full, withTurn) && startsWith(withTurn, prompt) &&
                withTurn.size() > prompt.size()) {
                begin = prompt.size();
                end = withTurn.size();
            }
        } catch (const Error&) {
            // Some templates refuse partial conversations; fall back to finding the content.
        }
        if (begin == std::string::npos) {
            const std::string content = contentOf(messages[i]);
            const std::size_t pos = content.empty() ? std::string::npos : full.find(content, cursor);
            if (pos == std::string::npos)
                throw Error(where + ": cannot locate assistant message " + std::to_string(i) +
                            " in the rendered chat template output");
            begin = pos;
            end = pos + content.size();
            if (!eos.empty() && full.compare(end, eos.size(), eos) == 0) {
                end += eos.size();
                if (end < full.size() && full[end] == '\n')
                    ++end;
            }
        }
        if (begin > cursor)
            out.push_back({full.substr(cursor, begin - cursor), false, "prompt"});
        const bool excluded = excludedFromTraining(messages[i]);
        if (excluded)
            excludedSegments.push_back(out.size());
        const bool trained = !excluded && (!m_options.maskHistory || k + 1 == assistants.size());
        out.push_back({full.substr(begin, end - begin), trained, "assistant"});
        cursor = end;
    }
    if (cursor < full.size())
        out.push_back({full.substr(cursor), false, "template"});
    finish(out);
    return out;
}

std::vector<SampleBuilder::Segment> SampleBuilder::segments(const ojson& record, const std::string& where,
                                                            SampleFormat* formatOut) const {
    const SampleFormat format = resolveFormat(record, where);
    if (formatOut)
        *formatOut = format;
    if (format == SampleFormat::Preference)
        throw Error(where + ": this is a preference record (prompt/chosen/rejected); use it for DPO, not SFT");
    const std::string eos = m_tokenizer.eosToken().value_or("");
    if (format == SampleFormat::Text) {
        const std::string text = requireString(record, "text", where, "text");
        std::vector<Segment> segs{{text, true, "text"}};
        if (m_options.addEosToText && !eos.empty() && !(text.size() >= eos.size() && text.compare(text.size() - eos.size(), eos.size(), eos) == 0))
            segs.push_back({eos, true, "eos"});
        return segs;
    }
    if (format == SampleFormat::PromptCompletion) {
        const ojson* prompt = field(record, "prompt");
        const ojson* completion = field(record, "completion");
        if (prompt && completion && prompt->is_string() && completion->is_string()) {
            // Plain prompt/completion: concatenated without a template (TRL's non-conversational case).
            std::vector<Segment> segs{{prompt->get<std::string>(), m_options.trainOnPrompt, "prompt"},
                                      {completion->get<std::string>(), true, "completion"}};
            if (m_options.addEosToText && !eos.empty())
                segs.push_back({eos, true, "eos"});
            return segs;
        }
    }
    return chatSegments(toMessages(record, format, where), where);
}

TokenizedSample SampleBuilder::encodeSegments(const std::vector<Segment>& segs, std::vector<std::size_t>* tokenSegment) const {
    TokenizedSample s;
    for (std::size_t k = 0; k < segs.size(); ++k) {
        const auto ids = m_tokenizer.encode(segs[k].text, false);
        s.ids.insert(s.ids.end(), ids.begin(), ids.end());
        for (int64_t id : ids)
            s.labels.push_back(segs[k].trained ? id : kIgnoreIndex);
        if (tokenSegment)
            tokenSegment->insert(tokenSegment->end(), ids.size(), k);
    }
    const auto prefix = segs.empty() || segs.front().rendered ? std::vector<int64_t>() : m_tokenizer.prefixSpecialIds();
    if (!prefix.empty() && !(s.ids.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.ids.begin()))) {
        s.ids.insert(s.ids.begin(), prefix.begin(), prefix.end());
        s.labels.insert(s.labels.begin(), prefix.size(), kIgnoreIndex);
        if (tokenSegment)
            tokenSegment->insert(tokenSegment->begin(), prefix.size(), static_cast<std::size_t>(-1));
    }
    return s;
}

std::size_t SampleBuilder::truncate(TokenizedSample& s) const {
    if (m_options.maxLength == 0 || s.ids.size() <= m_options.maxLength)
        return 0;
    const std::size_t cut = s.ids.size() - m_options.maxLength;
    s.ids.resize(m_options.maxLength);
    s.labels.resize(m_options.maxLength);
    return cut;
}

TokenizedSample SampleBuilder::buildSft(const ojson& record, const std::string& where, std::size_t* truncated) const {
    TokenizedSample s = encodeSegments(segments(record, where), nullptr);
    const std::size_t cut = truncate(s);
    if (truncated)
        *truncated = cut;
    return s;
}

SampleBuilder::PreferenceParts SampleBuilder::preferenceParts(const ojson& r, const std::string& where) const {
    PreferenceRecord read = readPreferenceRecord(r, where, m_options.defaultSystem);
    PreferenceParts parts;
    parts.promptMessages = std::move(read.promptMessages);
    parts.chosen = std::move(read.chosen);
    parts.rejected = std::move(read.rejected);
    const ojson& promptMessages = parts.promptMessages;

    ChatRenderOptions o = m_options.render;
    o.addGenerationPrompt = true;
    try {
        parts.promptText = m_template.render(promptMessages, o);
    } catch (const Error& e) {
        throw Error(where + ": the chat template failed on the prompt: " + e.what());
    }
    refuseListsWrittenAsText(promptMessages, parts.promptText, m_template.name(), where, "prompt");
    return parts;
}

std::string SampleBuilder::responseContent(const ojson& response, const std::string& where, const char* key) const {
    if (response.is_string())
        return response.get<std::string>();
    if (!response.is_array())
        throw Error(where + ": \"" + key + "\" must be a string or a list of messages");
    std::string content;
    for (auto& m : normalizeMessages(response, where, key))
        content += contentOf(m);
    return content;
}

std::pair<std::string, std::string> SampleBuilder::chosenExample(const ojson& record, const std::string& where) const {
    PreferenceParts parts = preferenceParts(record, where);
    return {std::move(parts.promptText), responseContent(parts.chosen, where, "chosen")};
}

PreferenceSample SampleBuilder::buildPreference(const ojson& r, const std::string& where, std::size_t* truncated) const {
    const PreferenceParts parts = preferenceParts(r, where);
    const ojson& promptMessages = parts.promptMessages;
    const std::string& promptText = parts.promptText;
    const std::string eos = m_tokenizer.eosToken().value_or("");
    auto responseText = [&](const ojson& response, const char* key) {
        const std::string content = responseContent(response, where, key);
        ojson conversation = promptMessages;
        if (response.is_string())
            conversation.push_back(message("assistant", content));
        else
            for (auto& m : normalizeMessages(response, where, key))
                conversation.push_back(m);
        ChatRenderOptions full = m_options.render;
        full.addGenerationPrompt = false;
        std::string text;
        try {
            text = m_template.render(conversation, full);
        } catch (const Error&) {
            text.clear();
        }
        if (!text.empty() && startsWith(text, promptText) && text.size() > promptText.size())
            return text.substr(promptText.size());
        return content + eos; // template renders prompts inconsistently: response text plus end marker
    };
    PreferenceSample s;
    s.prompt = encodeRenderedChat(m_tokenizer, promptText);
    if (const auto bos = m_tokenizer.prefixSpecialIds(); m_template.name() == "plain-instruction" && // the workbench's format: plain text's BOS
        !(s.prompt.size() >= bos.size() && std::equal(bos.begin(), bos.end(), s.prompt.begin())))
        s.prompt.insert(s.prompt.begin(), bos.begin(), bos.end());
    s.chosen = m_tokenizer.encode(responseText(parts.chosen, "chosen"), false);
    s.rejected = m_tokenizer.encode(responseText(parts.rejected, "rejected"), false);

    std::size_t cut = 0;
    const std::size_t maxLen = m_options.maxLength;
    const std::size_t longest = std::max(s.chosen.size(), s.rejected.size());
    if (maxLen && s.prompt.size() + longest > maxLen) {
        // Keep the end of a long prompt (TRL's keep_end for prompts), at most half the budget,
        // then cut the responses to what is left.
        const std::size_t promptBudget = std::max<std::size_t>(maxLen / 2, maxLen > longest ? maxLen - longest : 0);
        if (s.prompt.size() > promptBudget) {
            cut += s.prompt.size() - promptBudget;
            s.prompt.erase(s.prompt.begin(), s.prompt.begin() + static_cast<std::ptrdiff_t>(s.prompt.size() - promptBudget));
        }
        const std::size_t responseBudget = maxLen - s.prompt.size();
        for (auto* v : {&s.chosen, &s.rejected})
            if (v->size() > responseBudget) {
                cut += v->size() - responseBudget;
                v->resize(responseBudget);
            }
    }
    if (truncated)
        *truncated = cut;
    return s;
}

SamplePreview SampleBuilder::preview(const ojson& record, const std::string& where) const {
    SamplePreview p;
    const auto segs = segments(record, where, &p.format);
    std::vector<std::size_t> tokenSegment;
    TokenizedSample s = encodeSegments(segs, &tokenSegment);
    p.truncatedTokens = truncate(s);
    std::vector<std::size_t> segStart;
    for (const auto& seg : segs) {
        segStart.push_back(p.text.size());
        p.spans.push_back({p.text.size(), p.text.size() + seg.text.size(), seg.trained, seg.role});
        p.text += seg.text;
    }
    // Token byte ranges: decode each segment's tokens incrementally; a token whose bytes complete a
    // character gets the range up to the end of that character.
    const std::string replacement = utf8::encode(utf8::kReplacementChar);
    std::size_t k = 0;
    while (k < s.ids.size()) {
        const std::size_t seg = tokenSegment[k];
        std::size_t e = k;
        while (e < s.ids.size() && tokenSegment[e] == seg)
            ++e;
        std::vector<int64_t> ids(s.ids.begin() + static_cast<std::ptrdiff_t>(k), s.ids.begin() + static_cast<std::ptrdiff_t>(e));
        const bool attributable = seg != static_cast<std::size_t>(-1) && m_tokenizer.decode(ids) == segs[seg].text;
        std::size_t done = 0;
        for (std::size_t t = k; t < e; ++t) {
            SamplePreview::Token tok;
            tok.id = s.ids[t];
            tok.label = s.labels[t];
            tok.piece = m_tokenizer.idToToken(tok.id).value_or("");
            const std::size_t base = seg == static_cast<std::size_t>(-1) ? 0 : segStart[seg];
            tok.begin = tok.end = base + done;
            if (attributable) {
                const std::string prefix = m_tokenizer.decode(std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(t - k + 1)));
                const bool partial = prefix.size() >= replacement.size() &&
                                     prefix.compare(prefix.size() - replacement.size(), replacement.size(), replacement) == 0 &&
                                     segs[seg].text.compare(0, prefix.size(), prefix) != 0;
                if (!partial && prefix.size() >= done) {
                    tok.end = base + prefix.size();
                    done = prefix.size();
                }
            }
            p.tokens.push_back(std::move(tok));
        }
        k = e;
    }
    return p;
}

} // namespace rslora::models
