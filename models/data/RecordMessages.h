// SFT and preference records as chat messages: format detection from a record's keys, and alpaca /
// chat ("messages" or ShareGPT "conversations") / prompt-completion records turned into
// {"role", "content"} lists, with specific errors naming the record. Used by SampleBuilder.
#pragma once

#include "models/data/SftSample.h"

#include <nlohmann/json.hpp>

#include <string>

namespace rslora::models::records {

using ojson = nlohmann::ordered_json;

// Auto when the keys fit no format.
SampleFormat detectFormat(const ojson& record);
// The record's conversation (system, user and assistant turns) in `format`; throws rslora::Error
// "<where>: ..." when the record does not fit it.
ojson toMessages(const ojson& record, SampleFormat format, const std::string& where);

const ojson* field(const ojson& o, const char* key);
std::string requireString(const ojson& o, const char* key, const std::string& where, const char* format);
std::string optionalString(const ojson& o, const char* key, const std::string& where);
ojson message(const std::string& role, const std::string& content);
// Validates a messages array; ShareGPT {"from", "value"} entries are converted to {"role", "content"}.
ojson normalizeMessages(const ojson& list, const std::string& where, const char* key);
// True for a message with "weight": 0 (OpenAI's fine-tuning format: an assistant turn kept in the
// conversation but left out of the loss). normalizeMessages refuses weights other than 0 and 1.
bool excludedFromTraining(const ojson& m);
// A message's string content ("" when it has none).
std::string contentOf(const ojson& m);

} // namespace rslora::models::records
