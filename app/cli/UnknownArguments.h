// What `rslora` says about arguments it does not know: the command they were given to, and for each
// the closest option or subcommand of that command, instead of CLI11's bare list.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace rslora::cli {

// "rslora serve: unknown option --portt (did you mean --port?)", one line per argument not
// understood, for the deepest command parsed; empty when there is nothing to say.
std::string unknownArgumentsMessage(const CLI::App& root);

// The command the user reached, as typed minus the executable's folder: "rslora runs show".
std::string commandPath(const CLI::App& root);

} // namespace rslora::cli
