// `rslora merge`: folds adapters (folders or stored versions, each with a weight) into the base
// model and writes a complete Hugging Face folder; records it in the store when versions were named.
// Ctrl-C stops it with nothing written (exit status 130).
#include "app/cli/Commands.h"
#include "app/cli/OutputPath.h"
#include "app/cli/StorageCli.h"

#include "app/shared/AdapterReference.h"
#include "app/shared/MergedModelRecord.h"
#include "common/Error.h"
#include "common/InterruptGuard.h"
#include "common/Paths.h"
#include "engine/fusion/ModelExport.h"
#include "engine/fusion/ShardPlanner.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sys/resource.h>
#include <unistd.h>

namespace rslora::cli {

namespace fs = std::filesystem;

namespace {

uint64_t peakRssBytes() {
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<uint64_t>(usage.ru_maxrss) * 1024; // kilobytes on Linux
}

} // namespace

void registerMergeCommand(CLI::App& app) {
    struct Opts {
        std::string model, dtype, maxShardSize = "2GB", out, db;
        std::vector<std::string> adapters;
        bool json = false, noStore = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("merge", "Merge adapters into the base model and write a complete Hugging Face model folder");
    cmd->add_option("--model", o->model, "Base model folder (config.json + safetensors); never modified")->required();
    cmd->add_option("--adapter", o->adapters,
                    "Adapter as DIR[:WEIGHT] or a stored version NAME@vN[:WEIGHT] (weight default 1, negative subtracts); repeatable")
        ->required();
    cmd->add_option("--dtype", o->dtype, "float32, bfloat16 or float16 (default: the base model's torch_dtype)");
    cmd->add_option("--max-shard-size", o->maxShardSize, "Largest safetensors file before sharding: 2GB, 500MB, 100KB or bytes")
        ->capture_default_str();
    cmd->add_option("--out", o->out, "New output folder (must not exist or be empty)")->required();
    cmd->add_option("--db", o->db, "Experiment database for stored versions and the record (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    cmd->add_flag("--no-store", o->noStore, "Do not open the store: adapters must be folders, nothing is recorded");
    cmd->add_flag("--json", o->json, "Print the report as JSON");
    cmd->callback([o] {
        engine::fusion::MergeRequest request;
        request.modelDir = o->model;
        request.outDir = outputPath(o->out, "--out");
        if (!o->dtype.empty())
            request.dtype = engine::fusion::parseMergeDtype(o->dtype);
        request.maxShardBytes = engine::fusion::parseShardSize(o->maxShardSize);

        // The store is opened when asked for or when it already exists: a merge of plain folders
        // does not create an empty database.
        std::unique_ptr<storage::Store> store;
        if (!o->noStore) {
            storecli::Common c;
            c.db = o->db;
            if (!o->db.empty() || fs::exists(defaultDatabasePath()))
                store = storecli::openStore(c);
        }
        if (store)
            request.adapterStoreRoot = store->adapterRoot();
        std::vector<app::MergedSource> sources;
        for (const std::string& arg : o->adapters) {
            const app::ResolvedAdapter r = app::resolveAdapterArgument(arg, store.get());
            engine::fusion::WeightedAdapter w;
            w.factors = engine::fusion::readAdapterFactors(r.path, engine::fusion::TrainedBiasUse::Read);
            w.factors.label = r.label;
            w.weight = r.weight;
            app::MergedSource s{std::nullopt, r.label, fs::absolute(r.path).string(), r.weight};
            if (r.record) {
                w.baseModelSha256 = r.record->baseModel.sha256;
                s.adapterId = r.record->id;
            }
            request.adapters.push_back(std::move(w));
            sources.push_back(s);
        }

        // A progress line on a terminal only, rewritten in place; logs and pipes stay clean.
        // Ctrl-C (or SIGTERM) stops at the next tensor: the merge throws MergeCancelled and its
        // staging folder (as large as the model) is removed on the way out.
        const bool showProgress = !o->json && ::isatty(STDERR_FILENO);
        std::optional<engine::fusion::MergeReport> merged;
        {
            InterruptGuard interrupt;
            try {
                merged = engine::fusion::exportMergedModel(request, [&](int64_t done, int64_t total) {
                    if (showProgress)
                        std::fprintf(stderr, "\rmerging: %lld/%lld tensors%s", static_cast<long long>(done),
                                     static_cast<long long>(total), done == total ? "\n" : "");
                    return !interrupt.interrupted();
                });
            } catch (const engine::fusion::MergeCancelled&) {
                if (!interrupt.interrupted())
                    throw;
                std::fprintf(stderr, "%smerge cancelled; nothing was written\n", showProgress ? "\n" : "");
                exitCode() = interrupt.exitCode();
                return;
            }
        }
        const engine::fusion::MergeReport& report = *merged;
        // The folder is complete and in place: a failure to record it must not read as a failed merge.
        std::vector<int64_t> artifacts;
        if (store) {
            try {
                artifacts = app::recordMergedModel(*store, report, request.modelDir, sources);
            } catch (const std::exception& e) {
                throw Error("the merged model was written to " + fs::absolute(report.outDir).string() +
                                "; recording it in the store failed: " + e.what(),
                            "the folder is complete and can be used as it is; only its record in the store is missing");
            }
        }

        const uint64_t peak = peakRssBytes();
        if (o->json) {
            nlohmann::ordered_json j;
            j["out"] = fs::absolute(report.outDir).string();
            j["dtype"] = report.dtype;
            j["tensors"] = report.tensors;
            j["merged_tensors"] = report.mergedTensors;
            j["tensor_bytes"] = report.tensorBytes;
            j["file_bytes"] = report.fileBytes;
            j["shards"] = report.shards;
            j["copied_files"] = report.copiedFiles;
            j["tied_embeddings"] = report.tiedEmbeddings;
            if (!report.baseQuantization.empty())
                j["dequantized_4bit_base"] = {{"type", report.baseQuantization}, {"projections", report.dequantized4bit}};
            j["seconds"] = report.seconds;
            j["peak_rss_bytes"] = peak;
            nlohmann::ordered_json adapters = nlohmann::ordered_json::array();
            for (const app::MergedSource& s : sources) {
                nlohmann::ordered_json a = {{"label", s.label}, {"path", s.path}, {"weight", s.weight}};
                if (s.adapterId)
                    a["adapter_id"] = *s.adapterId;
                adapters.push_back(a);
            }
            j["adapters"] = adapters;
            j["artifact_ids"] = artifacts;
            storecli::printJson(j);
            return;
        }
        std::cout << "merged       " << sources.size() << " adapter(s) into " << report.mergedTensors << " of "
                  << report.tensors << " tensors\n"
                  << "out          " << fs::absolute(report.outDir).string() << "\n"
                  << "dtype        " << report.dtype << (report.tiedEmbeddings ? " (embeddings stay tied)" : "") << "\n"
                  << (report.baseQuantization.empty()
                          ? std::string()
                          : "base         bitsandbytes " + report.baseQuantization + ": " + std::to_string(report.dequantized4bit) +
                                " projection(s) dequantized to " + report.dtype + " before merging (the output is dense)\n")
                  << "files        " << report.shards.size() << " safetensors file(s), " << report.fileBytes << " bytes";
        if (!report.copiedFiles.empty()) {
            std::cout << "; copied";
            for (const std::string& f : report.copiedFiles)
                std::cout << " " << f;
        }
        std::cout << "\n"
                  << "time         " << report.seconds << " s, peak RSS " << peak / (1024 * 1024) << " MiB\n";
        if (!artifacts.empty())
            std::cout << "recorded     as a merged-model artifact of " << artifacts.size() << " stored version(s)\n";
    });
}

} // namespace rslora::cli
