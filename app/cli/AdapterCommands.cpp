// `rslora adapters ...`: adapter versions in the store: list and search, show, release, rollback,
// archive, soft delete and restore, rename, duplicate, rename or duplicate a task, and the lineage tree of a task.
#include "app/cli/StorageCli.h"
#include "app/cli/FiniteRange.h"

#include "storage/TaskDuplicate.h"
#include "storage/VersionFiles.h"

#include "common/Error.h"

#include <algorithm>
#include <iostream>
#include <vector>

namespace rslora::cli::storecli {

namespace st = rslora::storage;
using json = nlohmann::ordered_json;

namespace {

// The list as a table whose columns are as wide as their longest cell, so that no two run together.
void printAdapterTable(const std::vector<st::AdapterRecord>& list) {
    std::vector<std::vector<std::string>> rows = {{"ID", "TASK", "VER", "STATUS", "RANK", "METHOD", "NAME"}};
    for (const auto& a : list)
        rows.push_back({std::to_string(a.id), oneLine(a.task), "v" + std::to_string(a.version),
                        std::string(st::toString(a.status)) + (a.current ? "*" : "") + (a.deletedAt ? " (deleted)" : ""),
                        a.rank ? std::to_string(*a.rank) : "-", oneLine(a.method).empty() ? "-" : oneLine(a.method),
                        oneLine(a.name)});
    std::vector<size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows)
        for (size_t c = 0; c < row.size(); ++c)
            widths[c] = std::max(widths[c], displayWidth(row[c]));
    for (const auto& row : rows) {
        std::string line;
        for (size_t c = 0; c + 1 < row.size(); ++c)
            line += pad(row[c], widths[c] + 2);
        std::cout << line << row.back() << "\n";
    }
}

// Versions as a JSON array of their records.
void printRecordsJson(const std::vector<st::AdapterRecord>& versions) {
    json out = json::array();
    for (const auto& a : versions)
        out.push_back(st::toJson(a));
    printJson(out);
}

// A command taking one adapter reference; `action` does the work and returns the adapter to print.
void addAdapterAction(CLI::App* parent, const char* name, const char* help,
                      std::function<st::AdapterRecord(st::Store&, const st::AdapterRecord&)> action,
                      const char* verb, std::function<bool(const st::AdapterRecord&)> already = {},
                      const char* alreadyText = "") {
    struct Opts {
        Common c;
        std::string adapter;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = parent->add_subcommand(name, help);
    addCommon(cmd, o->c);
    cmd->add_option("adapter", o->adapter, "Adapter id, name, TASK@vN (or TASK:vN), TASK@current or uuid")->required();
    cmd->callback([o, action, verb, already, alreadyText] {
        auto store = openStore(o->c);
        st::AdapterRecord a = store->adapters().resolve(o->adapter);
        // Asked for what is already so (a second delete): nothing changes, and the message says so.
        const bool unchanged = already && already(a);
        st::AdapterRecord after = unchanged ? a : action(*store, a);
        if (o->c.json)
            printJson(st::toJson(after));
        else
            std::cout << (unchanged ? alreadyText : verb) << " " << oneLine(after.name) << " (" << oneLine(after.task) << " v" << after.version
                      << ", " << st::toString(after.status) << (after.current ? ", current" : "") << ")\n";
    });
}

} // namespace

void registerAdapterCommands(CLI::App& app) {
    auto* adapters = app.add_subcommand("adapters", "Adapter versions: list, show, release, rollback, archive, delete, rename, duplicate; rename-task, duplicate-task");
    adapters->require_subcommand(1);

    {
        struct Opts {
            Common c;
            std::string task, tag, method, metric, dataset;
            std::vector<std::string> statuses;
            std::optional<int64_t> rank;
            std::optional<double> minValue, maxValue;
            bool deleted = false, current = false, lowerIsBetter = false;
            int limit = 0;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand("list", "Adapter versions, filtered and optionally ranked by a metric");
        addCommon(cmd, o->c);
        cmd->add_option("--task", o->task, "Only this task");
        cmd->add_option("--status", o->statuses, "draft, released or archived (repeatable)");
        cmd->add_option("--tag", o->tag, "Only adapters with this tag (KEY or KEY=VALUE)");
        cmd->add_option("--method", o->method, "Only adapters whose method summary contains this text");
        cmd->add_option("--rank", o->rank, "Only this rank")->check(CLI::Range(1, 65536));
        cmd->add_option("--metric", o->metric, "Only adapters evaluated on this metric, best first");
        cmd->add_option("--dataset", o->dataset, "With --metric: the evaluation dataset");
        cmd->add_option("--min", o->minValue, "With --metric: at least this value")->check(finiteIn(-1e300, 1e300));
        cmd->add_option("--max", o->maxValue, "With --metric: at most this value")->check(finiteIn(-1e300, 1e300));
        cmd->add_flag("--lower-is-better", o->lowerIsBetter, "With --metric: rank ascending (e.g. perplexity)");
        cmd->add_flag("--deleted", o->deleted, "Include soft-deleted versions");
        cmd->add_flag("--current", o->current, "Only the current version of each task");
        cmd->add_option("--limit", o->limit, "At most this many (0: all)")->check(CLI::Range(0, 1 << 30));
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::AdapterFilter f;
            f.task = o->task;
            for (const auto& s : o->statuses)
                f.statuses.push_back(st::adapterStatusFromString(s));
            f.tag = parseTag(o->tag);
            f.method = o->method;
            f.rank = o->rank;
            f.metric = o->metric;
            f.dataset = o->dataset;
            f.minValue = o->minValue;
            f.maxValue = o->maxValue;
            f.orderByMetric = !o->metric.empty();
            f.higherIsBetter = !o->lowerIsBetter;
            f.includeDeleted = o->deleted;
            f.currentOnly = o->current;
            f.limit = o->limit;
            auto list = store->adapters().list(f);
            if (o->c.json) {
                json out = json::array();
                for (const auto& a : list) {
                    json j = st::toJson(a);
                    j["tags"] = stringMapJson(store->adapters().tags(a.id));
                    if (!o->metric.empty()) {
                        json evals = json::array();
                        for (const auto& e : store->evaluations().forAdapter(a.id))
                            if (e.metric == o->metric)
                                evals.push_back(st::toJson(e));
                        j["evaluations"] = evals;
                    }
                    out.push_back(j);
                }
                printJson(out);
                return;
            }
            if (list.empty()) {
                std::cout << "no adapters\n";
                return;
            }
            printAdapterTable(list);
            std::cout << "(* = current version of its task)\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string adapter;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand("show", "One adapter version with tags, lineage and evaluations");
        addCommon(cmd, o->c);
        cmd->add_option("adapter", o->adapter, "Adapter id, name, TASK@vN (or TASK:vN), TASK@current or uuid")->required();
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::AdapterRecord a = store->adapters().resolve(o->adapter);
            auto tags = store->adapters().tags(a.id);
            auto parents = store->lineage().parents(a.id);
            auto children = store->lineage().children(a.id);
            auto evals = store->evaluations().forAdapter(a.id);
            if (o->c.json) {
                json j = st::toJson(a);
                j["tags"] = stringMapJson(tags);
                j["parents"] = json::array();
                for (const auto& e : parents)
                    j["parents"].push_back(st::toJson(e));
                j["children"] = json::array();
                for (const auto& e : children)
                    j["children"].push_back(st::toJson(e));
                j["evaluations"] = json::array();
                for (const auto& e : evals)
                    j["evaluations"].push_back(st::toJson(e));
                printJson(j);
                return;
            }
            std::cout << "adapter " << a.id << "  " << oneLine(a.name) << "\n"
                      << "  task        " << oneLine(a.task) << " v" << a.version
                      << (a.variant.empty() ? "" : "  variant " + oneLine(a.variant)) << "\n"
                      << "  status      " << st::toString(a.status) << (a.current ? " (current)" : "")
                      << (a.deletedAt ? " (deleted " + fmtTime(a.deletedAt) + ")" : "") << "\n"
                      << "  created     " << fmtTime(a.createdAt) << "\n"
                      << "  method      " << oneLine(a.method) << "\n"
                      << "  rank/alpha  " << (a.rank ? std::to_string(*a.rank) : "-") << " / "
                      << (a.alpha ? fmtValue(*a.alpha) : "-") << "\n"
                      << "  stage       " << oneLine(a.stage) << "\n"
                      << "  source      run " << (a.sourceRunId ? std::to_string(*a.sourceRunId) : "-") << " step "
                      << (a.sourceStep ? std::to_string(*a.sourceStep) : "-") << "\n"
                      << "  folder      " << a.path << "\n"
                      << "  sha256      " << a.sha256 << "\n";
            for (const auto& [k, v] : tags)
                std::cout << "  tag         " << oneLine(k) << (v.empty() ? "" : " = " + oneLine(v)) << "\n";
            for (const auto& e : parents) {
                auto p = store->adapters().get(e.parentId);
                std::cout << "  " << st::toString(e.kind) << " " << (p ? oneLine(p->name) : "?")
                          << (e.weight ? " weight " + fmtValue(*e.weight) : "")
                          << (e.method.empty() ? "" : " (" + e.method + ")") << "\n";
            }
            for (const auto& e : evals)
                std::cout << "  eval        " << oneLine(e.dataset) << " " << oneLine(e.metric) << " = "
                          << fmtValue(e.value) << "\n";
        });
    }

    addAdapterAction(adapters, "release",
                     "Release a version and make it the current one of its task (refused when its files changed "
                     "since it was recorded)",
                     [](st::Store& s, const st::AdapterRecord& a) {
                         s.adapters().release(a.id);
                         return s.adapters().require(a.id);
                     },
                     "released");
    addAdapterAction(adapters, "archive", "Archive a version (the newest other released one becomes current)",
                     [](st::Store& s, const st::AdapterRecord& a) {
                         s.adapters().archive(a.id);
                         return s.adapters().require(a.id);
                     },
                     "archived");
    addAdapterAction(adapters, "unarchive", "Bring an archived version back (released, not current)",
                     [](st::Store& s, const st::AdapterRecord& a) {
                         s.adapters().unarchive(a.id);
                         return s.adapters().require(a.id);
                     },
                     "unarchived");
    addAdapterAction(adapters, "delete",
                     "Soft-delete a version (hidden; its files and number are kept; `adapters restore` brings it back). "
                     "Refused while a queued, running or paused run stacks on it",
                     [](st::Store& s, const st::AdapterRecord& a) {
                         s.adapters().softDelete(a.id);
                         return s.adapters().require(a.id);
                     },
                     "deleted", [](const st::AdapterRecord& a) { return a.deletedAt.has_value(); },
                     "already deleted, nothing changed:");
    addAdapterAction(adapters, "restore", "Undo a soft delete",
                     [](st::Store& s, const st::AdapterRecord& a) {
                         s.adapters().restore(a.id);
                         return s.adapters().require(a.id);
                     },
                     "restored", [](const st::AdapterRecord& a) { return !a.deletedAt.has_value(); },
                     "not deleted, nothing to restore:");
    {
        struct Opts {
            Common c;
            std::string task, to;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand(
            "rollback", "Make an older released version of a task current again (its files are verified first; "
                        "a never-released draft is refused: release it with `adapters release`)");
        addCommon(cmd, o->c);
        cmd->add_option("task", o->task, "The task")->required();
        cmd->add_option("--to", o->to, "The released version to make current (default: the previous released one)");
        cmd->callback([o] {
            auto store = openStore(o->c);
            std::optional<int64_t> target;
            if (!o->to.empty())
                target = store->adapters().resolve(o->to).id;
            st::AdapterRecord a = store->adapters().rollback(o->task, target);
            if (o->c.json)
                printJson(st::toJson(a));
            else
                std::cout << "task " << oneLine(o->task) << " now serves " << oneLine(a.name) << " (v" << a.version
                          << ")\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string adapter, name;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand("rename", "Give a version another name");
        addCommon(cmd, o->c);
        cmd->add_option("adapter", o->adapter, "Adapter id, name, TASK@vN (or TASK:vN), TASK@current or uuid")->required();
        cmd->add_option("name", o->name, "The new name")->required();
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::AdapterRecord a = store->adapters().resolve(o->adapter);
            store->adapters().rename(a.id, o->name);
            a = store->adapters().require(a.id);
            if (o->c.json)
                printJson(st::toJson(a));
            else
                std::cout << "renamed adapter " << a.id << " to " << oneLine(a.name) << "\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string adapter, task;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand(
            "duplicate", "Copy a version's files into a new draft version (of its task, or of --task), linked to it by a "
                         "converted-from edge; its files are verified first");
        addCommon(cmd, o->c);
        cmd->add_option("adapter", o->adapter, "Adapter id, name, TASK@vN (or TASK:vN), TASK@current or uuid")->required();
        cmd->add_option("--task", o->task, "The task of the copy (default: the version's own)");
        cmd->callback([o] {
            auto store = openStore(o->c);
            const st::AdapterRecord a = store->adapters().resolve(o->adapter);
            if (!o->task.empty())
                st::AdapterRepository::checkName("task name", o->task);
            const st::RegisteredVersion copy = st::duplicateAdapterVersion(*store, a.id, o->task);
            if (o->c.json) {
                printJson(st::toJson(copy.record));
                return;
            }
            std::cout << "duplicated " << oneLine(a.name) << " (" << oneLine(a.task) << " v" << a.version << ") as "
                      << oneLine(copy.record.name) << " (" << oneLine(copy.record.task) << " v" << copy.record.version
                      << ", draft, id " << copy.record.id << ")\n";
            if (!copy.requestedTask.empty())
                std::cout << "its base model differs from the versions of " << oneLine(copy.requestedTask)
                          << ", so it went to task " << oneLine(copy.record.task) << "\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string task, name;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand(
            "rename-task", "Give a task another name (all its versions move; names, numbers and folders stay)");
        addCommon(cmd, o->c);
        cmd->add_option("task", o->task, "The task")->required();
        cmd->add_option("name", o->name, "The new task name (not one that exists)")->required();
        cmd->callback([o] {
            auto store = openStore(o->c);
            store->adapters().renameTask(o->task, o->name);
            st::AdapterFilter f;
            f.task = o->name;
            const auto versions = store->adapters().list(f);
            if (o->c.json) {
                printRecordsJson(versions);
                return;
            }
            std::cout << "renamed task " << oneLine(o->task) << " to " << oneLine(o->name) << " (" << versions.size()
                      << " version" << (versions.size() == 1 ? "" : "s") << ")\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string task, name;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand(
            "duplicate-task", "Copy a whole task under a new name: each live version with a copy of its files, its number, "
                              "status, tags and lineage (all or nothing; the files are verified first)");
        addCommon(cmd, o->c);
        cmd->add_option("task", o->task, "The task")->required();
        cmd->add_option("name", o->name, "The task name of the copy (not one that exists)")->required();
        cmd->callback([o] {
            auto store = openStore(o->c);
            const std::vector<st::AdapterRecord> copies = st::duplicateTask(*store, o->task, o->name);
            if (o->c.json) {
                printRecordsJson(copies);
                return;
            }
            std::cout << "duplicated task " << oneLine(o->task) << " as " << oneLine(o->name) << " (" << copies.size()
                      << " version" << (copies.size() == 1 ? "" : "s") << ")\n";
            for (const auto& a : copies)
                std::cout << "  v" << a.version << " " << oneLine(a.name) << " (" << st::toString(a.status)
                          << (a.current ? ", current" : "") << ", id " << a.id << ")\n";
        });
    }
    {
        struct Opts {
            Common c;
            std::string task;
            bool deleted = false;
        };
        auto o = std::make_shared<Opts>();
        auto* cmd = adapters->add_subcommand("tree", "The lineage of a task's versions");
        addCommon(cmd, o->c);
        cmd->add_option("task", o->task, "The task")->required();
        cmd->add_flag("--deleted", o->deleted, "Include soft-deleted versions");
        cmd->callback([o] {
            auto store = openStore(o->c);
            st::AdapterGraph g = store->lineage().graph(o->task, o->deleted);
            if (o->c.json) {
                printJson(st::toJson(g));
                return;
            }
            if (g.nodes.empty())
                throw rslora::Error("task \"" + o->task + "\" has no adapter versions");
            std::function<void(int64_t, int, std::vector<int64_t>&)> print = [&](int64_t id, int depth,
                                                                                 std::vector<int64_t>& path) {
                const st::AdapterRecord* a = g.find(id);
                std::cout << std::string(static_cast<size_t>(depth) * 2, ' ') << (depth ? "└ " : "")
                          << (a ? oneLine(a->name) + " (" + oneLine(a->task) + " v" + std::to_string(a->version) +
                                      (a->current ? ", current" : "") + ")"
                                : "#" + std::to_string(id))
                          << "\n";
                path.push_back(id);
                for (int64_t c : g.childrenOf(id))
                    if (std::find(path.begin(), path.end(), c) == path.end())
                        print(c, depth + 1, path);
                path.pop_back();
            };
            std::vector<int64_t> path;
            for (int64_t root : g.roots())
                print(root, 0, path);
        });
    }
}

} // namespace rslora::cli::storecli
