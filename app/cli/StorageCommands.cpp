// `rslora runs ...` and `rslora adapters ...`: the experiment store from the command line, with
// --json output for scripts and --db to pick the database (default $RSLORA_DB or the data folder).
// This file: the shared helpers and the runs commands; AdapterCommands.cpp has the adapters ones.
#include "app/cli/Commands.h"
#include "app/cli/OutputPath.h"
#include "app/cli/StorageCli.h"

#include "common/Error.h"
#include "common/Paths.h"
#include "engine/ModuleSelection.h"
#include "storage/Naming.h"
#include "storage/RunBundle.h"
#include "storage/Transaction.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utf8proc.h>
#include <iostream>

namespace rslora::cli {

void registerStorageCommands(CLI::App& app) {
    storecli::registerRunCommands(app);
    storecli::registerAdapterCommands(app);
}

namespace storecli {

namespace st = rslora::storage;
using json = nlohmann::ordered_json;


void addCommon(CLI::App* cmd, Common& c) {
    cmd->add_option("--db", c.db, "Experiment database (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    cmd->add_flag("--json", c.json, "Machine-readable output");
}

std::unique_ptr<storage::Store> openStore(const Common& c) {
    return std::make_unique<storage::Store>(c.db.empty() ? defaultDatabasePath() : std::filesystem::path(c.db));
}

// Text read from the store is not always valid UTF-8 (a name typed in another encoding): such bytes
// print as U+FFFD instead of the JSON library aborting the whole command.
void printJson(const json& j) { std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n"; }

void refuseUnusableNames(storage::Store& store, const std::string& task, const std::string& name) {
    storage::AdapterRepository::checkName("task name", task);
    if (name.empty())
        return;
    storage::AdapterRepository::checkName("adapter name", name);
    if (const auto held = store.adapters().findByName(name))
        throw Error("--name " + oneLine(name) + ": adapter " + std::to_string(held->id) + " (" + oneLine(held->task) + " v"
                    + std::to_string(held->version) + ") has that name; choose another (nothing was done)");
}

std::string oneLine(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else
            out += c;
    }
    return out;
}

std::string fmtValue(double v) {
    if (std::isnan(v))
        return "nan";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string fmtTime(std::optional<double> t) {
    if (!t)
        return "-";
    std::string iso = storage::isoTime(*t);
    return iso.size() >= 16 ? iso.substr(0, 10) + " " + iso.substr(11, 5) : iso;
}

namespace {

// The length in bytes of the character at s[i] (1 for a byte that starts none) and its columns.
std::pair<size_t, size_t> characterAt(const std::string& s, size_t i) {
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0)
        return {1, 1};
    return {static_cast<size_t>(n), static_cast<size_t>(std::max(0, utf8proc_charwidth(cp)))};
}

} // namespace

size_t displayWidth(const std::string& s) {
    size_t width = 0;
    for (size_t i = 0; i < s.size();) {
        const auto [bytes, columns] = characterAt(s, i);
        width += columns;
        i += bytes;
    }
    return width;
}

std::string pad(const std::string& s, size_t width) {
    // Whole characters while they fit (a name cut at a byte limit could end in half a character).
    size_t used = 0, end = 0;
    while (end < s.size()) {
        const auto [bytes, columns] = characterAt(s, end);
        if (used + columns > width)
            break;
        used += columns;
        end += bytes;
    }
    return s.substr(0, end) + std::string(width - used, ' ');
}

std::optional<std::pair<std::string, std::string>> parseTag(const std::string& spec) {
    if (spec.empty())
        return std::nullopt;
    auto eq = spec.find('=');
    if (eq == std::string::npos)
        return std::make_pair(spec, std::string());
    return std::make_pair(spec.substr(0, eq), spec.substr(eq + 1));
}

json latestJson(const std::vector<storage::LatestMetric>& latest) {
    json j = json::object();
    for (const auto& m : latest)
        j[m.key] = storage::toJson(m);
    return j;
}

// The latest metrics a one-line table shows first: the losses, then the run's other scalars, and
// last the per-module series ("grad_a/model.layers.0.self_attn.q_proj", dozens of them), which in
// key order would crowd out the loss.
std::vector<storage::LatestMetric> headlineFirst(std::vector<storage::LatestMetric> latest) {
    auto rank = [](const std::string& key) {
        if (key == "train/loss" || key == "loss")
            return 0;
        if (key == "eval/loss")
            return 1;
        const auto slash = key.find('/');
        const bool perModule = slash != std::string::npos && key.find('.', slash) != std::string::npos;
        return perModule ? 3 : 2;
    };
    std::stable_sort(latest.begin(), latest.end(), [&](const storage::LatestMetric& a, const storage::LatestMetric& b) {
        return rank(a.key) < rank(b.key);
    });
    return latest;
}

size_t keyWidth(const std::vector<std::string>& keys) {
    size_t width = 0;
    for (const auto& k : keys)
        width = std::max(width, displayWidth(oneLine(k)));
    return width;
}

json stringMapJson(const std::map<std::string, std::string>& m) {
    json j = json::object();
    for (const auto& [k, v] : m)
        j[k] = v;
    return j;
}

void registerRunCommands(CLI::App& app) {
    auto* runs = app.add_subcommand("runs", "Runs in the experiment store: list, show, diff, export, import, delete");
    runs->require_subcommand(1);

    {
        struct Opts {
            Common c;
            std::vector<std::string> statuses, metrics;
            std::string tag, name, project;
            int limit = 50;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("list", "Runs, newest first, with their latest metrics");
        addCommon(cmd, o->c);
        cmd->add_option("--status", o->statuses, "Only runs with this status (repeatable)");
        cmd->add_option("--tag", o->tag, "Only runs with this tag (KEY or KEY=VALUE)");
        cmd->add_option("--name", o->name, "Only runs whose name contains this text");
        cmd->add_option("--project", o->project, "Only runs of this project");
        cmd->add_option("--metric", o->metrics, "Latest metrics to show (repeatable; default: all)");
        cmd->add_option("--limit", o->limit, "At most this many runs (0: all)")->check(CLI::Range(0, 1 << 30));
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::RunFilter f;
            for (const auto& s : o->statuses)
                f.statuses.push_back(st::runStatusFromString(s));
            f.tag = parseTag(o->tag);
            f.nameContains = o->name;
            f.limit = o->limit;
            if (!o->project.empty()) {
                f.projectId = -1;
                for (const auto& p : store->runs().projects())
                    if (p.name == o->project)
                        f.projectId = p.id;
            }
            auto rows = store->queries().runsWithLatest(f, o->metrics);
            if (o->c.json) {
                json out = json::array();
                for (const auto& r : rows) {
                    json j = st::toJson(r.run);
                    j["tags"] = stringMapJson(r.tags);
                    j["latest"] = latestJson(r.latest);
                    out.push_back(j);
                }
                printJson(out);
                return;
            }
            if (rows.empty()) {
                std::cout << "no runs in " << store->path().string() << "\n";
                return;
            }
            std::cout << pad("ID", 6) << pad("STATUS", 12) << pad("NAME", 28) << pad("CREATED", 18) << pad("STEP", 8)
                      << "LATEST\n";
            for (const auto& r : rows) {
                // The metrics asked for (--metric), else the losses first.
                const auto shown = o->metrics.empty() ? headlineFirst(r.latest) : r.latest;
                std::string latest;
                for (size_t i = 0; i < shown.size() && i < 4; ++i)
                    latest += (i ? "  " : "") + oneLine(shown[i].key) + "=" + fmtValue(shown[i].value);
                std::cout << pad(std::to_string(r.run.id), 6) << pad(st::toString(r.run.status), 12)
                          << pad(oneLine(r.run.name), 27) << " " << pad(fmtTime(r.run.createdAt), 18)
                          << pad(r.run.lastStep ? std::to_string(*r.run.lastStep) : "-", 8) << latest << "\n";
            }
        });
    }
    {
        struct Opts {
            Common c;
            std::string run;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("show", "One run: fields, params, tags, latest metrics, adapters, artifacts");
        addCommon(cmd, o->c);
        cmd->add_option("run", o->run, "Run id, uuid (or prefix) or name")->required();
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::RunRecord r = store->runs().resolve(o->run);
            st::AdapterFilter af;
            af.sourceRunId = r.id;
            auto adapters = store->adapters().list(af);
            auto artifacts = store->artifacts().forRun(r.id);
            auto latest = store->metrics().latest(r.id);
            auto params = store->runs().params(r.id);
            auto tags = store->runs().tags(r.id);
            auto project = store->runs().project(r.projectId);
            if (o->c.json) {
                json j = st::toJson(r);
                j["project"] = project ? project->name : "";
                j["config"] = json::parse(r.configJson, nullptr, false);
                j["params"] = stringMapJson(params);
                j["tags"] = stringMapJson(tags);
                j["latest"] = latestJson(latest);
                j["adapters"] = json::array();
                for (const auto& a : adapters)
                    j["adapters"].push_back(st::toJson(a));
                j["artifacts"] = json::array();
                for (const auto& a : artifacts)
                    j["artifacts"].push_back(st::toJson(a));
                printJson(j);
                return;
            }
            std::cout << "run " << r.id << "  " << oneLine(r.name) << "\n"
                      << "  uuid        " << r.uuid << "\n"
                      << "  project     " << (project ? project->name : "?") << "\n"
                      << "  status      " << st::toString(r.status)
                      << (r.errorMessage.empty() ? "" : "  (" + oneLine(r.errorMessage) + ")") << "\n"
                      << "  created     " << fmtTime(r.createdAt) << "   started " << fmtTime(r.startTime)
                      << "   ended " << fmtTime(r.endTime) << "\n"
                      << "  last step   " << (r.lastStep ? std::to_string(*r.lastStep) : "-") << "\n"
                      << "  seed        " << (r.seed ? std::to_string(*r.seed) : "-") << "\n"
                      << "  base model  " << oneLine(r.baseModel.ref) << "  " << r.baseModel.sha256 << "\n"
                      << "  dataset     " << oneLine(r.dataset.ref) << "  " << r.dataset.sha256 << "\n"
                      << "  device      " << r.device << " on " << r.host << "\n";
            if (!r.notes.empty())
                std::cout << "  notes       " << oneLine(r.notes) << "\n";
            // Keys in full: cut to a fixed width, the per-module metrics of one kind read as one key.
            std::vector<std::string> keys;
            for (const auto& [k, v] : params)
                keys.push_back(k);
            const size_t paramWidth = keyWidth(keys);
            std::cout << "params (" << params.size() << ")\n";
            for (const auto& [k, v] : params)
                std::cout << "  " << pad(oneLine(k), paramWidth) << " " << oneLine(v) << "\n";
            if (!tags.empty()) {
                std::cout << "tags\n";
                for (const auto& [k, v] : tags)
                    std::cout << "  " << oneLine(k) << (v.empty() ? "" : " = " + oneLine(v)) << "\n";
            }
            keys.clear();
            for (const auto& m : latest)
                keys.push_back(m.key);
            const size_t metricWidth = keyWidth(keys);
            std::cout << "latest metrics\n";
            for (const auto& m : latest)
                std::cout << "  " << pad(oneLine(m.key), metricWidth) << " " << pad(fmtValue(m.value), 12) << " step "
                          << m.step << "  min " << fmtValue(m.minValue) << "  max " << fmtValue(m.maxValue) << "  ("
                          << m.count << " points)\n";
            if (!adapters.empty()) {
                std::cout << "adapters\n";
                for (const auto& a : adapters)
                    std::cout << "  #" << a.id << " " << oneLine(a.name) << " (" << st::toString(a.status)
                              << (a.current ? ", current" : "") << ")\n";
            }
            for (const auto& a : artifacts)
                std::cout << "artifact " << a.kind << " " << a.path << "\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string run, key;
            size_t maxPoints = 0;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("metrics", "One metric series of a run (CSV, or JSON with --json)");
        addCommon(cmd, o->c);
        cmd->add_option("run", o->run, "Run id, uuid (or prefix) or name")->required();
        cmd->add_option("key", o->key, "Metric key, e.g. train/loss")->required();
        cmd->add_option("--max-points", o->maxPoints, "Downsample to at most this many points (min/max per bucket)")
            ->check(CLI::Range(size_t(0), size_t(1) << 40));
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::RunRecord r = store->runs().resolve(o->run);
            // A misspelt key is named, not answered with an empty series.
            const std::vector<std::string> keys = store->metrics().keys(r.id);
            if (std::find(keys.begin(), keys.end(), o->key) == keys.end()) {
                const std::string guess = engine::closestName(o->key, keys);
                throw Error("run #" + std::to_string(r.id) + " has no metric '" + oneLine(o->key) + "'" +
                                (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                            keys.empty() ? "it recorded no metrics" : "`rslora runs show " + std::to_string(r.id) + "` lists its metrics");
            }
            st::SeriesQuery q;
            q.maxPoints = o->maxPoints;
            st::MetricSeries s = store->metrics().series(r.id, o->key, q);
            if (o->c.json) {
                printJson(st::toJson(s));
                return;
            }
            std::string out = "step,wall_time,value\n";
            for (size_t i = 0; i < s.size(); ++i) {
                char line[96];
                std::snprintf(line, sizeof line, "%lld,%.17g,%.17g\n", static_cast<long long>(s.steps[i]),
                              s.wallTimes[i], s.values[i]);
                out += line;
            }
            std::cout << out;
        });
    }
    {
        struct Opts {
            Common c;
            std::vector<std::string> runs;
            bool all = false;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("diff", "The params that differ between runs");
        addCommon(cmd, o->c);
        cmd->add_option("runs", o->runs, "Two or more runs (id, uuid or name)")->required()->expected(2, -1);
        cmd->add_flag("--all", o->all, "Show equal params too");
        cmd->callback([o] {
            auto store = openStore(o->c);
            std::vector<st::RunRecord> rs;
            std::vector<int64_t> ids;
            for (const auto& ref : o->runs) {
                rs.push_back(store->runs().resolve(ref));
                ids.push_back(rs.back().id);
            }
            auto rows = store->queries().paramsDiff(ids, o->all);
            if (o->c.json) {
                json j = {{"runs", json::array()}, {"params", json::array()}};
                for (const auto& r : rs)
                    j["runs"].push_back({{"id", r.id}, {"uuid", r.uuid}, {"name", r.name}});
                for (const auto& row : rows) {
                    json values = json::array();
                    for (const auto& v : row.values)
                        values.push_back(v ? json(*v) : json(nullptr));
                    j["params"].push_back({{"key", row.key}, {"values", values}});
                }
                printJson(j);
                return;
            }
            if (rows.empty()) {
                std::cout << "no differences in params\n";
                return;
            }
            // Columns as wide as their longest cell: a value cut to a fixed width could hide the very
            // difference the table is for (two output folders differing only past the cut).
            std::vector<std::vector<std::string>> table{{"PARAM"}};
            for (const auto& r : rs)
                table[0].push_back("#" + std::to_string(r.id) + " " + oneLine(r.name));
            for (const auto& row : rows) {
                table.push_back({oneLine(row.key)});
                for (const auto& v : row.values)
                    table.back().push_back(v ? oneLine(*v) : "(unset)");
            }
            const auto width = [](const std::string& text) { return displayWidth(text); };
            std::vector<size_t> widths(table[0].size(), 0);
            for (const auto& line : table)
                for (size_t i = 0; i < line.size() && i < widths.size(); ++i)
                    widths[i] = std::max(widths[i], width(line[i]));
            for (const auto& line : table) {
                std::string text;
                for (size_t i = 0; i < line.size(); ++i)
                    text += (i ? "  " : "") + line[i] + std::string(widths[i] - width(line[i]), ' ');
                while (!text.empty() && text.back() == ' ')
                    text.pop_back();
                std::cout << text << "\n";
            }
        });
    }
    {
        struct Opts {
            Common c;
            std::string run, dir;
            bool metricsJson = false, noAdapters = false;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("export", "Write a run as a bundle folder (run.json, metrics.csv, adapters/)");
        addCommon(cmd, o->c);
        cmd->add_option("run", o->run, "Run id, uuid (or prefix) or name")->required();
        cmd->add_option("dir", o->dir, "New folder to write")->required();
        cmd->add_flag("--metrics-json", o->metricsJson, "Also write metrics.json");
        cmd->add_flag("--no-adapters", o->noAdapters, "Leave the run's adapter versions out");
        cmd->callback([o] {
            const std::filesystem::path dir = outputPath(o->dir, "runs export DIR");
            auto store = openStore(o->c);
            st::RunRecord r = store->runs().resolve(o->run);
            st::ExportOptions eo;
            eo.metricsJson = o->metricsJson;
            eo.includeAdapters = !o->noAdapters;
            st::ExportResult res = st::exportRun(*store, r.id, dir, eo);
            for (const auto& w : res.warnings)
                std::cerr << "warning: " << w << "\n";
            if (o->c.json)
                printJson({{"run_id", r.id}, {"dir", dir.string()}, {"metrics", res.metrics}, {"adapters", res.adapters},
                           {"warnings", res.warnings}});
            else
                std::cout << "exported run " << r.id << " to " << dir.string() << ": " << res.metrics << " metric points, "
                          << res.adapters << (res.adapters == 1 ? " adapter\n" : " adapters\n");
        });
    }
    {
        struct Opts {
            Common c;
            std::string dir, project;
            bool asNew = false, noCopy = false;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand("import", "Import a run bundle folder (e.g. from rslora train --no-store)");
        addCommon(cmd, o->c);
        cmd->add_option("dir", o->dir, "Bundle folder (with run.json)")->required();
        cmd->add_flag("--as-new", o->asNew, "Import a copy when the run is already in the store");
        cmd->add_option("--project", o->project, "Put the run in this project");
        cmd->add_flag("--no-copy-adapters", o->noCopy, "Refer to the adapter folders in the bundle instead of copying");
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::ImportOptions io;
            io.asNew = o->asNew;
            io.project = o->project;
            io.copyAdapters = !o->noCopy;
            st::ImportResult res = st::importBundle(*store, o->dir, io);
            for (const auto& w : res.warnings)
                std::cerr << "warning: " << w << "\n";
            if (o->c.json) {
                printJson({{"run_id", res.runId}, {"metrics", res.metrics}, {"adapter_ids", res.adapterIds},
                           {"relinked_adapter_ids", res.relinkedAdapterIds}, {"artifacts", res.artifacts},
                           {"warnings", res.warnings}});
                return;
            }
            std::cout << "imported run " << res.runId << ": " << res.metrics << " metric points, "
                      << res.adapterIds.size() << (res.adapterIds.size() == 1 ? " adapter" : " adapters");
            if (!res.relinkedAdapterIds.empty())
                std::cout << " (" << res.relinkedAdapterIds.size() << " of them already in the store)";
            std::cout << ", " << res.artifacts << (res.artifacts == 1 ? " artifact\n" : " artifacts\n");
            for (int64_t id : res.relinkedAdapterIds) {
                st::AdapterRecord a = store->adapters().require(id);
                std::cout << "  re-linked " << oneLine(a.task) << ":v" << a.version << " (" << oneLine(a.name) << ", "
                          << st::toString(a.status) << ") to run " << res.runId
                          << ": the store kept it when the run was deleted; its files were not copied again\n";
            }
        });
    }
    {
        struct Opts {
            Common c;
            std::vector<std::string> runs;
            bool yes = false, withAdapters = false;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = runs->add_subcommand(
            "delete", "Delete runs with their params, tags, metrics and artifact records. Their adapter versions are "
                      "kept (without a source run) unless --with-adapters. There is no undo (the workbench's Undo "
                      "only waits a few seconds before deleting): `runs export` a run first to keep a copy that "
                      "`runs import` brings back, re-linking the kept adapter versions");
        addCommon(cmd, o->c);
        cmd->add_option("runs", o->runs, "Runs to delete (id, uuid or name)")->required();
        cmd->add_flag("--yes,-y", o->yes, "Confirm the deletion");
        cmd->add_flag("--with-adapters", o->withAdapters,
                      "Also delete the runs' adapter versions (soft delete: `adapters restore` brings one back)");
        cmd->callback([o] {
            auto store = openStore(o->c);
            std::vector<st::RunRecord> rs;
            for (const auto& ref : o->runs)
                rs.push_back(store->runs().resolve(ref));
            if (!o->yes)
                throw rslora::Error("refusing to delete " + std::to_string(rs.size()) + " run(s) without --yes");
            json ids = json::array(), kept = json::array(), deleted = json::array();
            std::vector<std::string> lines;
            st::Transaction tx(store->database());
            for (const auto& r : rs) {
                st::AdapterFilter f;
                f.sourceRunId = r.id;
                f.includeDeleted = true;
                std::string versions;
                size_t live = 0;
                for (const auto& a : store->adapters().list(f)) {
                    if (a.deletedAt)
                        continue;
                    ++live;
                    versions += (versions.empty() ? "" : ", ") + oneLine(a.task) + ":v" + std::to_string(a.version);
                    if (o->withAdapters) {
                        store->adapters().softDelete(a.id);
                        deleted.push_back(a.id);
                    } else {
                        kept.push_back(a.id);
                    }
                }
                store->runs().remove(r.id);
                ids.push_back(r.id);
                std::string line = "deleted run " + std::to_string(r.id) + " (" + oneLine(r.name) + ")";
                if (live == 0)
                    line += "; it had no adapter versions";
                else if (o->withAdapters)
                    line += " and its adapter versions " + versions + " (`rslora adapters restore` brings one back)";
                else
                    line += "; kept its adapter versions " + versions +
                            " without a source run (`rslora runs import` of the run's bundle links them again; "
                            "--with-adapters deletes them)";
                lines.push_back(line);
            }
            tx.commit();
            if (o->c.json) {
                printJson({{"deleted", ids}, {"adapters_kept", kept}, {"adapters_deleted", deleted}});
                return;
            }
            for (const auto& line : lines)
                std::cout << line << "\n";
        });
    }
}

} // namespace storecli
} // namespace rslora::cli
