#include "storage/BundleJson.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "storage/RecordJson.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace rslora::storage {
namespace {

using json = nlohmann::ordered_json;

json opt(const std::optional<double>& v) { return v ? jsonNumber(*v) : json(nullptr); }

json strings(const std::map<std::string, std::string>& m) {
    json j = json::object();
    for (const auto& [k, v] : m)
        j[k] = v;
    return j;
}

// Field access that names the file and the field in its errors.
class Reader {
public:
    Reader(const json& j, std::string where, std::filesystem::path file)
        : m_j(j), m_where(std::move(where)), m_file(std::move(file)) {}

    [[noreturn]] void fail(const std::string& field, const std::string& expected) const {
        throw rslora::Error(m_file.string() + ": " + m_where + field + ": expected " + expected);
    }
    const json* find(const std::string& f) const {
        auto it = m_j.find(f);
        return (it == m_j.end() || it->is_null()) ? nullptr : &*it;
    }
    std::string str(const std::string& f, bool required = false) const {
        const json* v = find(f);
        if (!v) {
            if (required)
                fail(f, "a string (required)");
            return {};
        }
        if (!v->is_string())
            fail(f, "a string, found " + std::string(v->type_name()));
        return v->get<std::string>();
    }
    std::optional<double> num(const std::string& f) const {
        const json* v = find(f);
        if (!v)
            return std::nullopt;
        if (!v->is_number())
            fail(f, "a number, found " + std::string(v->type_name()));
        return v->get<double>();
    }
    std::optional<int64_t> integer(const std::string& f) const {
        const json* v = find(f);
        if (!v)
            return std::nullopt;
        if (!v->is_number_integer())
            fail(f, "an integer, found " + v->dump());
        return v->get<int64_t>();
    }
    std::map<std::string, std::string> map(const std::string& f) const {
        std::map<std::string, std::string> out;
        const json* v = find(f);
        if (!v)
            return out;
        if (!v->is_object())
            fail(f, "an object of strings");
        for (auto it = v->begin(); it != v->end(); ++it) {
            if (!it->is_string())
                fail(f + "." + it.key(), "a string");
            out[it.key()] = it->get<std::string>();
        }
        return out;
    }
    ContentRef ref(const std::string& f) const {
        const json* v = find(f);
        if (!v)
            return {};
        if (!v->is_object())
            fail(f, "an object {\"ref\", \"sha256\"}");
        Reader r(*v, m_where + f + ".", m_file);
        return {r.str("ref"), r.str("sha256")};
    }
    const json& raw() const { return m_j; }
    const std::string& where() const { return m_where; }
    const std::filesystem::path& file() const { return m_file; }

private:
    const json& m_j;
    std::string m_where;
    std::filesystem::path m_file;
};

json adapterJson(const BundleAdapter& a) {
    const AdapterRecord& r = a.record;
    json parents = json::array();
    for (const BundleParent& p : a.parents)
        parents.push_back({{"uuid", p.uuid}, {"kind", toString(p.kind)}, {"weight", opt(p.weight)},
                           {"method", p.method}, {"details", p.detailsJson}});
    json evals = json::array();
    for (const BundleEvaluation& e : a.evaluations)
        evals.push_back({{"dataset", e.dataset}, {"dataset_sha256", e.datasetSha256}, {"metric", e.metric},
                         {"value", jsonNumber(e.value)}});
    json j = {{"dir", a.dir}};
    const json record = toJson(r);
    for (const auto& [key, value] : record.items())
        if (key != "id" && key != "path" && key != "source_run_id" && key != "current" && key != "deleted_at")
            j[key] = value;
    j["tags"] = strings(a.tags);
    j["parents"] = parents;
    j["evaluations"] = evals;
    return j;
}

BundleAdapter adapterFromJson(const Reader& r) {
    BundleAdapter a;
    AdapterRecord& x = a.record;
    a.dir = r.str("dir", true);
    x.uuid = r.str("uuid");
    x.task = r.str("task", true);
    x.variant = r.str("variant");
    x.name = r.str("name");
    x.version = r.integer("version").value_or(0);
    x.createdAt = r.num("created_at").value_or(0);
    x.sha256 = r.str("sha256");
    x.method = r.str("method");
    x.rank = r.integer("rank");
    x.alpha = r.num("alpha");
    if (const json* t = r.find("targets")) {
        if (!t->is_array())
            r.fail("targets", "an array of strings");
        for (const auto& s : *t) {
            if (!s.is_string())
                r.fail("targets", "an array of strings");
            x.targets.push_back(s.get<std::string>());
        }
    }
    x.trainableParams = r.integer("trainable_params");
    x.stage = r.str("stage");
    x.sourceStep = r.integer("source_step");
    x.baseModel = r.ref("base_model");
    std::string status = r.str("status");
    try {
        x.status = status.empty() ? AdapterStatus::Draft : adapterStatusFromString(status);
    } catch (const rslora::Error&) {
        r.fail("status", "draft, released or archived");
    }
    x.notes = r.str("notes");
    a.tags = r.map("tags");
    if (const json* ps = r.find("parents")) {
        if (!ps->is_array())
            r.fail("parents", "an array");
        for (size_t i = 0; i < ps->size(); ++i) {
            Reader p((*ps)[i], r.where() + "parents[" + std::to_string(i) + "].", r.file());
            BundleParent bp;
            bp.uuid = p.str("uuid", true);
            try {
                bp.kind = lineageKindFromString(p.str("kind", true));
            } catch (const rslora::Error&) {
                p.fail("kind", "trained-from, merged-from or converted-from");
            }
            bp.weight = p.num("weight");
            bp.method = p.str("method");
            bp.detailsJson = p.str("details");
            a.parents.push_back(bp);
        }
    }
    if (const json* es = r.find("evaluations")) {
        if (!es->is_array())
            r.fail("evaluations", "an array");
        for (size_t i = 0; i < es->size(); ++i) {
            Reader e((*es)[i], r.where() + "evaluations[" + std::to_string(i) + "].", r.file());
            a.evaluations.push_back({e.str("dataset", true), e.str("dataset_sha256"), e.str("metric", true),
                                     e.num("value").value_or(std::nan(""))});
        }
    }
    return a;
}

json artifactJson(const BundleArtifact& a) {
    const ArtifactRecord& r = a.record;
    return {{"kind", r.kind},
            {"path", r.path},
            {"sha256", r.sha256},
            {"size_bytes", r.sizeBytes ? json(*r.sizeBytes) : json(nullptr)},
            {"step", r.step ? json(*r.step) : json(nullptr)},
            {"created_at", jsonNumber(r.createdAt)},
            {"details", r.detailsJson},
            {"adapter_uuid", a.adapterUuid}};
}

BundleArtifact artifactFromJson(const Reader& r) {
    BundleArtifact a;
    ArtifactRecord& x = a.record;
    x.kind = r.str("kind", true);
    if (x.kind != "checkpoint" && x.kind != "export" && x.kind != "merged" && x.kind != "log" && x.kind != "other")
        r.fail("kind", "checkpoint, export, merged, log or other, found \"" + x.kind + "\"");
    x.path = r.str("path", true);
    x.sha256 = r.str("sha256");
    x.sizeBytes = r.integer("size_bytes");
    x.step = r.integer("step");
    x.createdAt = r.num("created_at").value_or(0);
    x.detailsJson = r.str("details");
    a.adapterUuid = r.str("adapter_uuid");
    return a;
}

} // namespace

std::string bundleToJson(const BundleContents& c) {
    const RunRecord& r = c.run;
    json config;
    try {
        config = json::parse(r.configJson.empty() ? std::string("{}") : r.configJson);
    } catch (const json::exception& e) {
        throw rslora::Error(std::string("run config is not valid JSON: ") + jsonErrorText(e));
    }
    json adapters = json::array();
    for (const BundleAdapter& a : c.adapters)
        adapters.push_back(adapterJson(a));
    json artifacts = json::array();
    for (const BundleArtifact& a : c.artifacts)
        artifacts.push_back(artifactJson(a));
    // The store's JSON of a run, less what only means something inside one store.
    json run = toJson(r);
    for (const char* local : {"id", "project_id", "pid", "heartbeat"})
        run.erase(local);
    run["project"] = c.project;
    json doc = {{"format", kBundleFormat}, {"version", kBundleVersion}, {"run", run},    {"config", config},
                {"params", strings(c.params)}, {"tags", strings(c.tags)},  {"adapters", adapters},
                {"artifacts", artifacts}};
    try {
        return doc.dump(2) + "\n";
    } catch (const json::type_error& e) {
        // Text typed in another encoding; JSON must be UTF-8, and replacing bytes would lose them.
        throw rslora::Error("cannot write run \"" + r.uuid + "\" as a bundle: a text field (run name, notes, "
                                "tag, adapter name) is not valid UTF-8 (" + jsonErrorText(e) + ")",
                            "rename the run or adapter in the workbench or with rslora adapters rename, then retry");
    }
}

BundleContents bundleFromJson(const std::string& text, const std::filesystem::path& source) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        throw rslora::Error(source.string() + " is not valid JSON: " + jsonErrorText(e));
    }
    if (!doc.is_object())
        throw rslora::Error(source.string() + ": expected a JSON object");
    Reader top(doc, "", source);
    if (top.str("format") != kBundleFormat)
        throw rslora::Error(source.string() + ": not a run bundle (\"format\" is \"" + top.str("format") +
                            "\", expected \"" + kBundleFormat + "\")");
    int64_t version = top.integer("version").value_or(0);
    if (version < 1 || version > kBundleVersion)
        throw rslora::Error(source.string() + ": bundle version " + std::to_string(version) +
                                " is not supported (this program reads version " + std::to_string(kBundleVersion) + ")",
                            version > kBundleVersion ? "import it with a newer rslora-workbench" : "");
    const json* run = top.find("run");
    if (!run || !run->is_object())
        top.fail("run", "an object");
    Reader r(*run, "run.", source);
    BundleContents c;
    RunRecord& x = c.run;
    x.uuid = r.str("uuid");
    x.name = r.str("name");
    c.project = r.str("project");
    try {
        std::string status = r.str("status");
        x.status = status.empty() ? RunStatus::Finished : runStatusFromString(status);
    } catch (const rslora::Error&) {
        r.fail("status", "one of queued, running, paused, finished, failed, interrupted, stopped");
    }
    x.createdAt = r.num("created_at").value_or(0);
    x.startTime = r.num("start_time");
    x.endTime = r.num("end_time");
    x.seed = r.integer("seed");
    x.baseModel = r.ref("base_model");
    x.dataset = r.ref("dataset");
    x.device = r.str("device");
    x.host = r.str("host");
    x.notes = r.str("notes");
    x.errorMessage = r.str("error_message");
    x.lastStep = r.integer("last_step");
    if (const json* config = top.find("config")) {
        if (!config->is_object())
            top.fail("config", "an object");
        x.configJson = config->dump();
    }
    c.params = top.map("params");
    c.tags = top.map("tags");
    if (const json* as = top.find("adapters")) {
        if (!as->is_array())
            top.fail("adapters", "an array");
        for (size_t i = 0; i < as->size(); ++i) {
            if (!(*as)[i].is_object())
                top.fail("adapters[" + std::to_string(i) + "]", "an object");
            c.adapters.push_back(adapterFromJson(Reader((*as)[i], "adapters[" + std::to_string(i) + "].", source)));
        }
    }
    if (const json* as = top.find("artifacts")) { // absent in bundles of older versions
        if (!as->is_array())
            top.fail("artifacts", "an array");
        for (size_t i = 0; i < as->size(); ++i) {
            if (!(*as)[i].is_object())
                top.fail("artifacts[" + std::to_string(i) + "]", "an object");
            c.artifacts.push_back(artifactFromJson(Reader((*as)[i], "artifacts[" + std::to_string(i) + "].", source)));
        }
    }
    return c;
}

} // namespace rslora::storage
