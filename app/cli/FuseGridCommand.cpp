// `rslora fuse --grid`: a grid over the fusion weights of 2 or 3 adapters scored on validation data
// (loss, exact match or multiple-choice accuracy), printed as a table with the best point, and
// stored as evaluations of the stored versions involved. The options join the `fuse` command.
#include "app/cli/Commands.h"
#include "app/cli/StorageCli.h"

#include "app/shared/AdapterReference.h"
#include "app/shared/FusionRecorder.h"
#include "app/shared/GridEvaluationStore.h"
#include "common/Error.h"
#include "engine/fusion/GridSearch.h"

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace rslora::cli {

namespace fusion = engine::fusion;

namespace {

struct GridOptions {
    bool grid = false;
    std::string model, data, metric = "loss", chatTemplate, device = "cpu";
    std::vector<std::string> weights;
    int batchSize = 8, maxSeqLen = 512, maxNewTokens = 32, limit = 0;
};

bool given(CLI::App* cmd, const char* name)
{
    const CLI::Option* opt = cmd->get_option_no_throw(name);
    return opt && opt->count() > 0;
}

void runFuseGrid(CLI::App* cmd, const GridOptions& o)
{
    for (const char* name : {"--method", "--out", "--rank", "--energy", "--density", "--drop"})
        if (given(cmd, name))
            throw Error(std::string("--grid scores weights and writes no adapter: drop ") + name,
                        "run `rslora fuse --method ... --out ...` with the best weights afterwards");
    for (const auto& [name, value] : {std::pair{"--model", &o.model}, std::pair{"--data", &o.data}})
        if (value->empty())
            throw Error(std::string("fuse --grid needs ") + name);
    if (o.weights.empty())
        throw Error("fuse --grid needs --weights: START:STOP:STEP (e.g. -1:2:0.25), a list (0,0.5,1) or one value; "
                    "once for every adapter or once per adapter");
    const CLI::Option* adapterOpt = cmd->get_option_no_throw("--adapter");
    const std::vector<std::string> args = adapterOpt ? adapterOpt->as<std::vector<std::string>>() : std::vector<std::string>{};
    const bool json = given(cmd, "--json");

    fusion::GridRequest req;
    req.metric = fusion::parseGridMetric(o.metric);
    if (args.size() < fusion::kMinGridAdapters || args.size() > fusion::kMaxGridAdapters)
        throw Error("fuse --grid takes 2 or 3 --adapter, found " + std::to_string(args.size()));
    if (o.weights.size() != 1 && o.weights.size() != args.size())
        throw Error("--weights is given " + std::to_string(o.weights.size()) + " times for " + std::to_string(args.size())
                    + " adapters: give it once (the same values for all) or once per adapter");
    for (size_t i = 0; i < args.size(); ++i)
        req.values.push_back(fusion::parseWeightValues(o.weights[o.weights.size() == 1 ? 0 : i],
                                                       "--weights for adapter " + std::to_string(i + 1)));

    std::unique_ptr<storage::Store> store;
    if (!given(cmd, "--no-store")) {
        storecli::Common c;
        if (const CLI::Option* db = cmd->get_option_no_throw("--db"); db && db->count() > 0)
            c.db = db->as<std::string>();
        store = storecli::openStore(c);
    }
    std::vector<app::ResolvedAdapter> sources;
    for (const auto& a : args) {
        auto r = app::resolveAdapterArgument(a, store.get());
        if (r.label != a)
            throw Error("--adapter " + a + ": --grid searches the weights, so an adapter takes none (give --weights)");
        req.adapters.push_back({r.path.string(), r.label});
        sources.push_back(std::move(r));
    }
    // Stored versions must share a base and be scored on the model they were trained on: the grid
    // is stored as their evaluations.
    req.baseFingerprints = app::baseFingerprints(sources);
    req.modelPath = o.model;
    req.dataPath = o.data;
    req.device = o.device;
    req.data.batchSize = o.batchSize;
    req.data.maxSeqLen = o.maxSeqLen;
    req.data.maxNewTokens = o.maxNewTokens;
    req.data.limit = o.limit;
    req.data.chatTemplate = o.chatTemplate;

    const bool tty = isatty(fileno(stderr));
    const fusion::GridResult result = fusion::runGridSearch(req, [&](int done, int total) {
        if (!json || tty)
            std::fprintf(stderr, tty ? "\r\033[Kpoint %d/%d" : "point %d/%d\n", done, total);
        std::fflush(stderr);
        return true;
    });
    if (tty)
        std::fprintf(stderr, "\r\033[K");
    const int stored = store ? app::storeGridEvaluations(*store, result, sources) : 0;

    if (json) {
        auto j = result.toJson();
        j["stored_evaluations"] = stored;
        storecli::printJson(j);
        return;
    }
    std::cout << result.toText();
    if (stored > 0)
        std::cout << "stored       the grid as an evaluation of " << stored << " stored version(s) on " << result.dataset << "\n";
}

} // namespace

std::function<bool()> addFuseGridOptions(CLI::App* fuse)
{
    auto o = std::make_shared<GridOptions>();
    fuse->add_flag("--grid", o->grid, "Search the fusion weights of 2 or 3 adapters on validation data (writes no adapter)");
    fuse->add_option("--model", o->model, "The base model folder: with --grid, the model scored; without, read only for "
                                          "adapters that trained biases (bias lora_only), default the one recorded with stored versions");
    fuse->add_option("--data", o->data, "--grid: validation JSONL (loss: SFT or tokenized records; exact_match: prompt/answer; "
                                        "multiple_choice: question/choices/answer or MMLU CSV)");
    fuse->add_option("--metric", o->metric, "--grid: loss|exact_match|multiple_choice (default loss)");
    fuse->add_option("--weights", o->weights, "--grid: START:STOP:STEP, V1,V2,... or V; once for all adapters or once per adapter "
                                              "(write --weights=-1:1:0.5 when it starts with a minus)");
    fuse->add_option("--batch-size", o->batchSize, "--grid: evaluation batch size (default 8)")->check(CLI::Range(1, 65536));
    fuse->add_option("--max-seq-len", o->maxSeqLen, "--grid: truncation length (default 512)")->check(CLI::Range(2, 1 << 20));
    fuse->add_option("--max-new-tokens", o->maxNewTokens, "--grid exact_match: generated tokens (default 32)")->check(CLI::Range(1, 1 << 20));
    fuse->add_option("--limit", o->limit, "--grid: first N records only (default all)")->check(CLI::Range(0, 1 << 30));
    fuse->add_option("--chat-template", o->chatTemplate, "--grid: template name for SFT records (default: the tokenizer's)");
    fuse->add_option("--device", o->device, "--grid: cpu or cuda[:N] (default cpu)");
    // Without --grid the command fuses: what it requires is checked when it runs.
    for (const char* name : {"--method", "--out"})
        if (CLI::Option* opt = fuse->get_option_no_throw(name))
            opt->required(false);
    return [o, fuse]() {
        if (!o->grid) {
            for (const char* name : {"--data", "--metric", "--weights"})
                if (given(fuse, name))
                    throw Error(std::string(name) + " belongs to fuse --grid (searching weights); add --grid or drop it");
            for (const char* name : {"--method", "--out"})
                if (fuse->get_option_no_throw(name) && !given(fuse, name))
                    throw CLI::RequiredError(name);
            return false;
        }
        runFuseGrid(fuse, *o);
        return true;
    };
}

} // namespace rslora::cli
