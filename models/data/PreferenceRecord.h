// A preference record ({prompt, chosen, rejected}: strings, messages, conversations that repeat the
// prompt, or the implicit-prompt form) read as the prompt's messages and the two responses, with every
// check that needs no tokenizer: what training, rslora eval --preference, the workbench's preview and
// the checks of sweeps and pipelines before anything trains all refuse alike, naming the record.
//
// A "chosen" or "rejected" with no text (an empty string, only whitespace, or assistant messages
// without content) is refused here: the chat template would still render such a reply as the
// end-of-turn marker, so the pair would train the model to end its turn at once (or, rejected, never
// to), a gap in the data rather than a preference.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace rslora::models::records {

struct PreferenceRecord {
    nlohmann::ordered_json promptMessages;    // system (the record's, else `defaultSystem`) and the prompt's messages
    nlohmann::ordered_json chosen, rejected;  // a string, or the response's messages (the first an assistant's)
};

// Throws rslora::Error "<where>: ..." for a record that is not a usable pair. `defaultSystem` (may be
// empty) is the system prompt of records without one.
PreferenceRecord readPreferenceRecord(const nlohmann::ordered_json& record, const std::string& where,
                                      const std::string& defaultSystem);

// True when `response` (a string, or the response's messages as normalizeMessages returns them)
// holds no text: every content blank, no tool call, no non-text content part.
bool isBlankResponse(const nlohmann::ordered_json& response);

// Throws rslora::Error "<where>: "chosen" is empty: ..." (or "rejected", or both, or "holds only
// whitespace") with a hint, when a response is blank. Responses of another type pass.
void refuseBlankResponses(const nlohmann::ordered_json& chosen, const nlohmann::ordered_json& rejected, const std::string& where);

} // namespace rslora::models::records
