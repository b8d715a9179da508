// `rslora fuse`: several adapters (folders or stored versions, each with a weight) fused into one PEFT
// folder by exact, svd, ties, dare_linear, dare_ties or magnitude_prune, with rslora_fusion.json beside
// it; the result is registered in the store as a new version with merged-from lineage edges. Ctrl-C
// while fusing stops with nothing written (exit status 130).
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/OutputPath.h"
#include "app/cli/StorageCli.h"

#include "app/shared/FusionRecorder.h"
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"
#include "engine/fusion/ModelExport.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

namespace rslora::cli {

namespace fs = std::filesystem;
namespace fusion = engine::fusion;
using json = nlohmann::ordered_json;

namespace {

struct FuseOptions {
    storecli::Common c;
    std::vector<std::string> adapters;
    std::string method;
    std::optional<int64_t> rank;
    std::optional<double> energy, density, drop;
    uint64_t seed = 0;
    std::string out, task = "fused", name, notes;
    std::string model; // the base model folder (--model, shared with --grid)
    bool noStore = false;
};

// The plan from the options; refuses options that the method would ignore.
fusion::FusionPlan planFrom(const FuseOptions& o)
{
    fusion::FusionPlan plan;
    plan.method = fusion::parseFusionMethod(o.method);
    const std::string m = fusion::fusionMethodName(plan.method);
    if (plan.method == fusion::FusionMethod::Exact && (o.rank || o.energy))
        throw Error("--method exact keeps every direction (rank Σ rᵢ): --rank / --energy apply to svd, ties, dare_linear, "
                    "dare_ties and magnitude_prune");
    if (o.density && !fusion::usesDensity(plan.method))
        throw Error("--density applies to ties and magnitude_prune, not to " + m);
    if (o.drop && !fusion::usesDrop(plan.method))
        throw Error("--drop applies to dare_linear and dare_ties, not to " + m);
    plan.rank = o.rank;
    plan.energy = o.energy;
    plan.density = o.density.value_or(fusion::kDefaultDensity);
    plan.drop = o.drop.value_or(fusion::kDefaultDrop);
    plan.seed = o.seed;
    return plan;
}

std::string fmt(double v, int digits = 6)
{
    std::ostringstream s;
    s << std::setprecision(digits) << v;
    return s.str();
}

json reportJson(const fusion::FusionReport& r)
{
    json modules = json::array();
    for (const auto& m : r.modules)
        modules.push_back({{"module", m.module}, {"rank", m.rank}, {"exact_rank", m.exactRank}, {"relative_error", m.relativeError},
                           {"zero", m.zero}, {"cancelled", m.cancelled}});
    return {{"rank", r.rank}, {"exact_rank", r.exactRank}, {"relative_error", r.relativeError}, {"trained_biases", r.trainedBiases},
            {"zero_modules", r.zeroModules}, {"cancelled_modules", r.cancelledModules}, {"modules", modules}};
}

// Modules where the adapters cancel or the method left nothing: said, as they are not an error.
void printZeroModules(const fusion::FusionReport& r, const std::string& method)
{
    auto say = [&](const char* head, auto pick, const std::string& what) {
        const auto n = std::count_if(r.modules.begin(), r.modules.end(), pick);
        if (n == 0)
            return;
        const auto first = std::find_if(r.modules.begin(), r.modules.end(), pick);
        std::cout << head << n << " of " << r.modules.size() << " modules: " << what << " (first " << first->module << ")\n";
    };
    say("cancelled    ", [](const fusion::ModuleReport& m) { return m.cancelled && m.zero; },
        "the weighted adapters sum to zero there; written as zeros, they change nothing");
    say("cancelled    ", [](const fusion::ModuleReport& m) { return m.cancelled && !m.zero; },
        "the weighted adapters sum to zero there, yet " + method + " elected a non-zero result from them");
    say("zero         ", [](const fusion::ModuleReport& m) { return m.zero && !m.cancelled; },
        method + " left nothing there; written as zeros, they change nothing");
}

// exact keeps Σ rᵢ directions even where a module has fewer (min(out, in)): said, with the lossless way out.
void printRankBeyondShape(const fusion::FusionResult& result)
{
    int64_t count = 0;
    const fusion::ModuleFactors* first = nullptr;
    for (const auto& m : result.adapter.modules)
        if (m.rank() > std::min(m.outFeatures(), m.inFeatures())) {
            ++count;
            first = first ? first : &m;
        }
    if (count == 0)
        return;
    std::cout << "note         " << count << " of " << result.adapter.modules.size() << " modules have a rank above min(out, in) (first "
              << first->module << ": rank " << first->rank() << ", " << first->outFeatures() << "×" << first->inFeatures()
              << "), larger than their dense ΔW; --method svd --energy 1 gives the same ΔW at rank ≤ min(out, in)\n";
}

// One fusion with the weights given on the command line.
void fuseOnce(const FuseOptions& o)
{
    fusion::FusionPlan plan = planFrom(o);
    const fs::path out = fs::absolute(o.out);
    if (fs::exists(out))
        throw Error("--out " + o.out + " already exists: name a new folder (nothing is overwritten)");
    std::unique_ptr<storage::Store> store;
    if (!o.noStore) {
        store = storecli::openStore(o.c);
        storecli::refuseUnusableNames(*store, o.task, o.name);
    }
    std::vector<app::ResolvedAdapter> sources;
    for (const auto& arg : o.adapters)
        sources.push_back(app::resolveAdapterArgument(arg, store.get()));
    std::vector<std::pair<std::string, fs::path>> folders;
    for (const auto& s : sources)
        folders.emplace_back(s.label, s.path);
    fusion::refuseOutputInsideAdapters(out, "--out " + o.out, folders, store ? store->adapterRoot() : fs::path());
    // (After the check above, whose reason says more where both apply: a folder under the store's.)
    outputPath(o.out, "--out");
    plan.weights = app::fusionWeights(sources);
    plan.baseFingerprints = app::baseFingerprints(sources);
    plan.baseModelDir = o.model.empty() ? app::recordedBaseModel(sources) : fs::path(o.model);
    const std::vector<fusion::AdapterFactors> adapters = app::readFusionSources(sources);

    // Ctrl-C (or SIGTERM) while fusing stops after the current module, before anything is written.
    InterruptGuard interrupt;
    std::optional<fusion::FusionResult> fused;
    try {
        fused = fusion::fuse(plan, adapters, [&interrupt](int, int) { return !interrupt.interrupted(); });
    } catch (const fusion::FusionCancelled&) {
        if (!interrupt.interrupted())
            throw;
    }
    if (interrupt.interrupted()) {
        std::fprintf(stderr, "fuse cancelled; nothing was written\n");
        exitCode() = interrupt.exitCode();
        return;
    }
    const fusion::FusionResult& result = *fused;

    // The folder is written under a hidden name and renamed to --out only when complete; NoReplace:
    // a folder another process finished at --out meanwhile is never replaced. With a store, the
    // version is recorded from the hidden folder before the rename: a process killed before the
    // version is committed leaves no visible folder (the same command can be run again), and a
    // visible --out always has its version.
    std::optional<storage::AdapterRecord> version;
    AtomicDirectory folder(out, AtomicDirectory::OnExisting::NoReplace);
    fusion::writeFusedAdapter(result, plan, app::fusionSourceRecords(sources), folder.stagingPath());
    if (!store) {
        folder.commit();
    } else {
        app::FusionRegistration reg;
        reg.task = o.task;
        reg.name = o.name;
        reg.notes = o.notes;
        version = app::registerFusedAdapter(*store, folder.stagingPath(), plan, result, sources, reg);
        const std::string stored = "the fused adapter is stored as " + version->name + " (v" + std::to_string(version->version) + ")";
        if (fs::exists(out))
            throw Error("--out " + o.out + " appeared while fusing; " + stored);
        try {
            folder.commit();
        } catch (const Error& e) {
            throw Error(std::string(e.what()) + "; " + stored);
        }
    }

    if (o.c.json) {
        json weights = json::array(), labels = json::array();
        for (const auto& s : sources) {
            weights.push_back(s.weight);
            labels.push_back(s.label);
        }
        json j = {{"out", out.string()}, {"method", fusion::fusionMethodName(plan.method)}, {"adapters", labels}, {"weights", weights}};
        j.update(reportJson(result.report));
        j["version"] = version ? storage::toJson(*version) : json(nullptr);
        storecli::printJson(j);
        return;
    }
    std::cout << "method       " << fusion::fusionMethodName(plan.method) << "\n";
    for (const auto& s : sources)
        std::cout << "adapter      " << storecli::oneLine(s.label) << "  weight " << fmt(s.weight) << "\n";
    const auto worst = std::max_element(result.report.modules.begin(), result.report.modules.end(),
                                        [](const auto& a, const auto& b) { return a.relativeError < b.relativeError; });
    std::cout << "modules      " << result.report.modules.size() << ", rank " << result.report.rank << " (exact rank "
              << result.report.exactRank << ")\n"
              << "error        " << fmt(result.report.relativeError, 4) << " relative Frobenius, overall";
    if (worst != result.report.modules.end() && worst->relativeError > 0)
        std::cout << "; largest " << fmt(worst->relativeError, 4) << " in " << worst->module;
    std::cout << "\n";
    printZeroModules(result.report, fusion::fusionMethodName(plan.method));
    printRankBeyondShape(result);
    if (result.report.trainedBiases > 0)
        std::cout << "biases       " << result.report.trainedBiases << " trained (bias lora_only), fused against "
                  << plan.baseModelDir.string() << "\n";
    std::cout << "written      " << out.string() << " (+ " << fusion::kFusionRecordFile << ")\n";
    if (version)
        std::cout << "stored       " << storecli::oneLine(version->name) << " (" << storecli::oneLine(version->task) << " v"
                  << version->version << "), merged from "
                  << std::count_if(sources.begin(), sources.end(), [](const auto& s) { return s.record.has_value(); })
                  << " stored version(s)\n";
}

} // namespace

void registerFuseCommand(CLI::App& app)
{
    auto o = std::make_shared<FuseOptions>();
    auto* cmd = app.add_subcommand("fuse", "Fuse adapters into one PEFT adapter (exact, svd, ties, dare_linear, dare_ties, magnitude_prune)");
    storecli::addCommon(cmd, o->c);
    cmd->add_option("--adapter", o->adapters, "DIR[:WEIGHT] or a stored version such as task@v3[:WEIGHT] (weight default 1; repeat)")
        ->required();
    cmd->add_option("--method", o->method, "exact|svd|ties|dare_linear|dare_ties|magnitude_prune")->required();
    auto* rank = cmd->add_option("--rank", o->rank, "Target rank of the re-compression (default: the largest source rank)")->check(CLI::Range(1, 65536));
    cmd->add_option("--energy", o->energy, "Per module, the smallest rank keeping this fraction of ‖ΔW‖² (0, 1]")->excludes(rank)->check(finiteIn(0, 1, End::Open));
    cmd->add_option("--density", o->density, "ties, magnitude_prune: share of each delta's entries kept, (0, 1] (default 0.2)")->check(finiteIn(0, 1, End::Open));
    cmd->add_option("--drop", o->drop, "dare_linear, dare_ties: drop probability, [0, 1) (default 0.8)")->check(finiteIn(0, 1, End::Closed, End::Open));
    cmd->add_option("--seed", o->seed, "dare_*: seed of the drop masks (default 0)")->check(notNegative());
    cmd->add_option("--out", o->out, "The new adapter folder (must not exist)")->required();
    cmd->add_option("--task", o->task, "Task the stored version joins (default: fused)");
    cmd->add_option("--name", o->name, "Name of the stored version (default: <task>_<method>_v<N>_<date>)");
    cmd->add_option("--notes", o->notes, "Notes kept with the stored version");
    cmd->add_flag("--no-store", o->noStore, "Write the folder only: no store (adapters must then be folders)");
    auto grid = addFuseGridOptions(cmd);
    cmd->callback([o, grid, cmd] {
        if (grid())
            return;
        // --model belongs to --grid too; without --grid, the base model that trained biases are fused against.
        if (CLI::Option* model = cmd->get_option_no_throw("--model"); model && model->count() > 0)
            o->model = model->as<std::string>();
        fuseOnce(*o);
    });
}

} // namespace rslora::cli
