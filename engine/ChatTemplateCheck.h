// data.chat_template against the model folder's tokenizer files (tokenizer_config.json,
// chat_template.jinja, ...): checked before a run, a sweep or a pipeline starts, without loading the
// tokenizer or the weights.
#pragma once

#include "engine/TrainConfig.h"

#include <string>

namespace rslora::engine {

// "" when data.chat_template is empty, names one of the tokenizer's templates, or is "default" for a
// tokenizer without any (the plain prompt/response format), and when the folder's tokenizer files
// cannot be read (loading them reports that). Otherwise the problem, starting with the key and
// naming the templates the tokenizer has.
std::string chatTemplateProblem(const TrainConfig& config);

} // namespace rslora::engine
