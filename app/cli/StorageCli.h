// Helpers shared by the store's subcommands (runs, adapters): --db/--json options, opening the
// store, and text/JSON formatting.
#pragma once

#include "storage/RecordJson.h"
#include "storage/Store.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

namespace rslora::cli::storecli {

struct Common {
    std::string db;
    bool json = false;
};

// Adds --db PATH and --json to a leaf command.
void addCommon(CLI::App* cmd, Common& c);
// --db, else $RSLORA_DB, else <data folder>/workbench.sqlite.
std::unique_ptr<storage::Store> openStore(const Common& c);
void printJson(const nlohmann::ordered_json& j);
// The --task and --name of a version a command is about to make, checked before the work (fusing,
// training a gate): names adapters add/rename refuse (control characters, blank, digits read as an id)
// and a name another version has (the store would refuse it only when the result is recorded).
void refuseUnusableNames(storage::Store& store, const std::string& task, const std::string& name);
// One line of text for tables: control characters shown as escapes.
std::string oneLine(const std::string& s);
std::string fmtValue(double v);
std::string fmtTime(std::optional<double> t);
// The columns a text takes in a terminal: characters, not UTF-8 bytes, two for wide (CJK) ones, none
// for combining marks; a byte that is no UTF-8 counts one.
size_t displayWidth(const std::string& s);
// `s` cut or padded with spaces to `width` columns; a character is never cut in two.
std::string pad(const std::string& s, size_t width);
// "KEY" or "KEY=VALUE".
std::optional<std::pair<std::string, std::string>> parseTag(const std::string& spec);
nlohmann::ordered_json latestJson(const std::vector<storage::LatestMetric>& latest);
nlohmann::ordered_json stringMapJson(const std::map<std::string, std::string>& m);

void registerRunCommands(CLI::App& app);
void registerAdapterCommands(CLI::App& app);

} // namespace rslora::cli::storecli
