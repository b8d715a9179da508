// data.chat_template against the model folder's tokenizer files (see ChatTemplateCheck.h).
#include "engine/ChatTemplateCheck.h"

#include "models/tokenizer/TokenizerConfig.h"

#include <exception>
#include <filesystem>

namespace rslora::engine {

std::string chatTemplateProblem(const TrainConfig& config)
{
    const std::string& name = config.chatTemplate;
    std::error_code ec;
    if (name.empty() || config.modelPath.empty() || !std::filesystem::is_directory(config.modelPath, ec))
        return {};
    models::TokenizerConfig tokenizer;
    try {
        tokenizer = models::TokenizerConfig::loadFromDirectory(config.modelPath);
    } catch (const std::exception&) {
        return {};
    }
    const auto& templates = tokenizer.chatTemplates;
    if (templates.count(name) != 0 || (name == "default" && templates.empty()))
        return {};
    std::string names;
    for (const auto& entry : templates)
        names += (names.empty() ? "\"" : ", \"") + entry.first + "\"";
    const std::string start = "data.chat_template: the tokenizer of model.path '" + config.modelPath + "' has no chat template named \"" +
                              name + "\"; ";
    if (templates.empty())
        return start + "it has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja); remove "
                       "data.chat_template to train with the plain prompt/response format";
    return start + "its chat templates are " + names + " (set data.chat_template to one of them" +
           (templates.count("default") != 0 ? std::string(", or remove it to use \"default\")") : std::string(")"));
}

} // namespace rslora::engine
