// Suggestions for arguments CLI11 could not place (see UnknownArguments.h).
#include "app/cli/UnknownArguments.h"

#include "engine/ModuleSelection.h"

#include <cctype>
#include <filesystem>
#include <vector>

namespace rslora::cli {

namespace {

// The command the user reached: the last subcommand parsed below `app`, and its path.
const CLI::App* deepestParsed(const CLI::App& app, std::string& path)
{
    const CLI::App* at = &app;
    for (;;) {
        const auto subs = at->get_subcommands();
        if (subs.empty())
            return at;
        at = subs.back();
        path += " " + at->get_name();
    }
}

std::vector<std::string> optionNames(const CLI::App& app)
{
    std::vector<std::string> names;
    for (const CLI::Option* o : app.get_options())
        for (const auto& n : o->get_lnames())
            names.push_back("--" + n);
    return names;
}

std::vector<std::string> subcommandNames(const CLI::App& app)
{
    std::vector<std::string> names;
    for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
        names.push_back(s->get_name());
    return names;
}

} // namespace

std::string commandPath(const CLI::App& root)
{
    // The executable's own name, not the path it was started by.
    std::string path = root.get_name().empty() ? "rslora" : std::filesystem::path(root.get_name()).filename().string();
    deepestParsed(root, path);
    return path;
}

std::string unknownArgumentsMessage(const CLI::App& root)
{
    const std::string path = commandPath(root);
    std::string unused;
    const CLI::App* app = deepestParsed(root, unused);
    std::string out;
    bool valueOfUnknown = false;
    for (const std::string& arg : app->remaining()) {
        // The word after a misspelt option ("--txt Hello") is that option's value, not a second mistake.
        const bool value = valueOfUnknown && arg.rfind("-", 0) != 0;
        valueOfUnknown = false;
        if (value)
            continue;
        std::string line = path + ": ";
        if (arg == "--") {
            line += "nothing follows '--' (the arguments it introduces are missing)";
        } else if (arg.rfind("--", 0) == 0) {
            const std::string name = arg.substr(0, arg.find('='));
            line += "unknown option " + name;
            valueOfUnknown = arg.find('=') == std::string::npos;
            if (const std::string guess = engine::closestName(name, optionNames(*app)); !guess.empty())
                line += " (did you mean " + guess + "?)";
        } else if (arg.size() > 1 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
            line += "unknown option " + arg;
        } else if (const std::string guess = engine::closestName(arg, subcommandNames(*app)); !guess.empty()) {
            line += "unknown command '" + arg + "' (did you mean '" + guess + "'?)";
        } else {
            line += "unexpected argument '" + arg + "'";
        }
        out += (out.empty() ? "" : "\n") + line;
    }
    return out;
}

} // namespace rslora::cli
