// Merged-model export: checks everything it can before writing, then streams the base tensor by
// tensor (bytes copied straight from the mapping where nothing changes, row blocks converted where
// only the dtype changes, float32 merge where an adapter applies) into a staging folder that is
// renamed into place only when complete.
#include "engine/fusion/ModelExport.h"

#include "common/AtomicFile.h"
#include "common/FolderCopy.h"
#include "common/JsonErrorText.h"
#include "common/Paths.h"
#include "common/Log.h"
#include "engine/ModuleSelection.h"
#include "engine/fusion/ShardPlanner.h"
#include "models/ModelConfig.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"
#include "models/ReadableDtype.h"
#include "models/SafeTensorsStreamWriter.h"
#include "models/TensorIO.h"
#include "models/WeightFiles.h"
#include "models/LlamaFamilyModel.h"
#include "models/quant/BnbCheckpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace rslora::engine::fusion {

namespace fs = std::filesystem;

namespace {

struct DtypeRow {
    MergeDtype dtype;
    const char* name;
    models::Dtype fileDtype;
    torch::ScalarType torchType;
};
const DtypeRow kDtypes[] = {
    {MergeDtype::Float32, "float32", models::Dtype::F32, torch::kFloat32},
    {MergeDtype::BFloat16, "bfloat16", models::Dtype::BF16, torch::kBFloat16},
    {MergeDtype::Float16, "float16", models::Dtype::F16, torch::kFloat16},
};

const DtypeRow& row(MergeDtype dtype) {
    for (const DtypeRow& r : kDtypes)
        if (r.dtype == dtype)
            return r;
    return kDtypes[0];
}

// Files of the base that hold weights (never copied: the merged weights replace them) or that this
// export writes itself.
bool skippedBaseFile(const std::string& name) {
    static const std::set<std::string> kExtensions = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf",
                                                      ".h5", ".msgpack", ".onnx", ".pkl", ".partial"};
    if (name.empty() || name[0] == '.' || name == "config.json" || name == "README.md" || name == kMergeRecordFile)
        return true;
    if (name.size() > 11 && name.compare(name.size() - 11, 11, ".index.json") == 0)
        return true; // model.safetensors.index.json, pytorch_model.bin.index.json
    return kExtensions.count(fs::path(name).extension().string()) != 0;
}

// One merge term of a tensor: the adapter module and its weight λ.
struct Term {
    const WeightedAdapter* adapter;
    const ModuleFactors* module;
};

// A trained bias (bias "lora_only") of one adapter: the base bias b becomes b + λ (trained − b).
struct BiasTerm {
    const WeightedAdapter* adapter;
    const torch::Tensor* trained;
};

struct PlannedTensor {
    std::string name;
    const models::SafeTensorsFile* file = nullptr;
    const models::TensorInfo* info = nullptr;
    models::Dtype outDtype = models::Dtype::F32;
    uint64_t outBytes = 0;
    std::vector<Term> terms;
    std::vector<BiasTerm> biasTerms;
    // A bitsandbytes 4-bit weight: read with its state tensors from these files and dequantized
    // to this dense shape before the terms are added.
    const models::WeightFiles* bnbFiles = nullptr;
    std::vector<int64_t> denseShape;
};

std::vector<uint64_t> outShapeOf(const PlannedTensor& t) {
    if (!t.bnbFiles)
        return t.info->shape;
    return std::vector<uint64_t>(t.denseShape.begin(), t.denseShape.end());
}

uint64_t numelOf(const std::vector<uint64_t>& shape) {
    uint64_t n = 1;
    for (uint64_t d : shape)
        n *= d;
    return n;
}

std::string numberText(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

std::string shapeText(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

void checkOutput(const MergeRequest& req) {
    if (req.outDir.empty())
        throw Error("no output folder given (--out)");
    std::error_code ec;
    if (fs::exists(req.outDir, ec)) {
        if (!fs::is_directory(req.outDir, ec))
            throw Error("output " + req.outDir.string() + " exists and is not a folder; choose a new folder");
        if (!fs::is_empty(req.outDir, ec))
            throw Error("output folder " + req.outDir.string() +
                        " exists and is not empty; choose a new folder (nothing was written)");
    }
    if (pathLiesInside(req.outDir, req.modelDir))
        throw Error("output folder " + req.outDir.string() + " lies inside the base model folder " +
                    req.modelDir.string() + "; the base is never modified: choose a folder outside it");
    std::vector<std::pair<std::string, fs::path>> sources;
    for (const WeightedAdapter& a : req.adapters)
        sources.emplace_back("'" + (a.factors.label.empty() ? a.factors.dir.string() : a.factors.label) + "'", a.factors.dir);
    refuseOutputInsideAdapters(req.outDir, "output folder " + req.outDir.string(), sources, req.adapterStoreRoot);
}

models::Dtype baseDtype(const nlohmann::ordered_json& config, const models::WeightFiles& weights) {
    for (const char* key : {"torch_dtype", "dtype"}) {
        auto it = config.find(key);
        if (it != config.end() && it->is_string()) {
            for (const DtypeRow& r : kDtypes)
                if (*it == r.name)
                    return r.fileDtype;
        }
    }
    // No usable torch_dtype: the dtype most of the floating-point weight bytes have.
    std::map<models::Dtype, uint64_t> bytes;
    for (const std::string& n : weights.names())
        if (models::isReadableFloat(weights.info(n).dtype))
            bytes[weights.info(n).dtype] += weights.info(n).byteSize();
    models::Dtype best = models::Dtype::F32;
    uint64_t most = 0;
    for (const auto& [d, b] : bytes)
        if (b > most && d != models::Dtype::F64) {
            best = d;
            most = b;
        }
    return best;
}

// Appends the bytes of one planned tensor to the shard, then gives its pages of the base back.
void writeTensor(const PlannedTensor& t, models::SafeTensorsStreamWriter& out) {
    const models::TensorInfo& info = *t.info;
    const models::MappedFile& mapping = *t.file->mapping();
    const uint64_t fileOffset = t.file->header().dataStart() + info.begin;
    const torch::ScalarType outType = models::torchScalarType(t.outDtype, t.name);
    torch::Tensor w;
    // The loader's check on every base tensor read (models::checkFiniteValues), with its message:
    // NaN or inf in the base is the base's fault, not the adapters'. 4-bit codes: their float state.
    if (t.bnbFiles) {
        std::set<std::string> read;
        const auto quantized = models::quant::readBnbWeight(*t.bnbFiles, t.name, t.denseShape, read);
        for (const std::string& n : read)
            models::checkFiniteValues(t.bnbFiles->fileOf(n), t.bnbFiles->info(n));
        w = quantized.dequantize(torch::kFloat32);
    } else {
        models::checkFiniteValues(*t.file, info);
        if (t.terms.empty() && t.biasTerms.empty() && t.outDtype == info.dtype) {
            out.append(t.file->data(info), info.byteSize());
            mapping.release(fileOffset, info.byteSize());
            return;
        }
    }
    const torch::Tensor source = t.bnbFiles ? torch::Tensor() : models::tensorFromFile(*t.file, info);
    if (!t.bnbFiles && t.terms.empty() && t.biasTerms.empty()) {
        // Only the dtype changes: convert in blocks of about 4M elements so memory stays small.
        const torch::Tensor flat = source.reshape({-1});
        const int64_t n = flat.numel();
        const int64_t block = int64_t(1) << 22;
        for (int64_t a = 0; a < n; a += block) {
            const torch::Tensor piece = flat.slice(0, a, std::min(n, a + block)).to(outType).contiguous();
            if (piece.is_floating_point() && !torch::isfinite(piece).all().item<bool>())
                throw Error("tensor '" + t.name + "' has values that are not finite in " + models::dtypeName(t.outDtype) +
                            " (too large for the output dtype); choose another --dtype");
            out.append(piece.data_ptr(), static_cast<uint64_t>(piece.numel()) * piece.element_size());
        }
        mapping.release(fileOffset, info.byteSize());
        return;
    }
    if (!t.bnbFiles)
        w = source.to(torch::kFloat32).contiguous();
    {
        torch::NoGradGuard noGrad;
        for (const Term& term : t.terms) {
            const double alpha = term.adapter->weight * term.module->scale;
            w.addmm_(term.module->B.to(torch::kFloat32), term.module->A.to(torch::kFloat32), 1.0, alpha);
        }
        if (!t.biasTerms.empty()) {
            const torch::Tensor base = w.clone();
            for (const BiasTerm& term : t.biasTerms)
                w.add_(*term.trained - base, term.adapter->weight);
        }
    }
    if (!torch::isfinite(w).all().item<bool>())
        throw Error("merged tensor '" + t.name + "' has non-finite values (inf or nan) after adding the adapters; "
                    "check the adapter weights");
    const torch::Tensor rounded = w.to(outType).contiguous();
    if (!torch::isfinite(rounded).all().item<bool>())
        throw Error("merged tensor '" + t.name + "' does not fit " + models::dtypeName(t.outDtype) +
                    " (values too large become inf); choose --dtype float32 or bfloat16");
    out.append(rounded.data_ptr(), static_cast<uint64_t>(rounded.numel()) * rounded.element_size());
    mapping.release(fileOffset, info.byteSize());
}

} // namespace

MergeDtype parseMergeDtype(const std::string& name) {
    std::string lower;
    for (char c : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const torch::ScalarType type = models::parseDtype(lower);
    for (const DtypeRow& r : kDtypes)
        if (r.torchType == type)
            return r.dtype;
    throw Error("unknown dtype '" + name + "' (expected float32, bfloat16 or float16)");
}

std::string mergeDtypeName(MergeDtype dtype) { return row(dtype).name; }

std::string checkRecordedBaseModel(const fs::path& modelDir, const std::vector<WeightedAdapter>& adapters) {
    std::string fingerprint;
    for (const WeightedAdapter& a : adapters) {
        if (a.baseModelSha256.empty())
            continue;
        if (fingerprint.empty())
            fingerprint = models::modelFingerprint(modelDir);
        if (a.baseModelSha256 != fingerprint)
            throw Error("adapter '" + a.factors.label + "' was trained on another base model: its version records base "
                        "model fingerprint " + a.baseModelSha256.substr(0, 12) + ", but " + modelDir.string() +
                        " has " + fingerprint.substr(0, 12) + "; use it with the model it was trained on");
    }
    return fingerprint;
}

void refuseOutputInsideAdapters(const fs::path& out, const std::string& outName,
                                const std::vector<std::pair<std::string, fs::path>>& sources, const fs::path& storeRoot) {
    for (const auto& [label, dir] : sources)
        if (!dir.empty() && pathLiesInside(out, dir))
            throw Error(outName + " lies inside the folder of adapter " + label + " (" + dir.string() +
                        "); writing there would change that adapter's files: choose a folder outside it");
    if (!storeRoot.empty() && pathLiesInside(out, storeRoot))
        throw Error(outName + " lies inside the store's adapter folder " + storeRoot.string() +
                    ", which holds the stored adapter versions: choose a folder outside it");
}

MergeReport exportMergedModel(const MergeRequest& req, const ExportProgress& progress) {
    const auto started = std::chrono::steady_clock::now();
    checkOutput(req);
    if (req.adapters.empty())
        throw Error("no adapters to merge: name at least one with --adapter");
    if (req.maxShardBytes == 0)
        throw Error("max shard size must be at least one byte");
    const fs::path configPath = req.modelDir / "config.json";
    if (!fs::is_regular_file(configPath))
        throw Error("base model folder " + req.modelDir.string() + " has no config.json");
    const models::ModelConfig config = models::ModelConfig::fromFile(configPath);
    nlohmann::ordered_json configJson;
    try {
        configJson = nlohmann::ordered_json::parse(readFile(configPath));
    } catch (const nlohmann::json::exception& e) {
        throw Error(configPath.string() + ": not valid JSON: " + jsonErrorText(e));
    }
    const models::WeightFiles weights(req.modelDir);
    // A bitsandbytes 4-bit base: its projections are dequantized into the dense output (the
    // config's shapes say how large), its state tensors and quantization_config are left out.
    const auto bnb = models::quant::readBnbQuantization(nlohmann::json::parse(configJson.dump()), configPath.string());
    std::map<std::string, std::vector<int64_t>> bnbShapes;
    const auto expected = models::LlamaFamilyModel::expectedTensors(config);
    if (bnb)
        for (const auto& [name, shape] : expected)
            if (models::quant::hasBnbWeight(weights, name))
                bnbShapes[name] = shape;
    // The base must be a model the loader takes, as the merged folder would be read the same way: a
    // tensor config.json needs that is missing, of another shape or not floating point gave a merged
    // folder that no command loads (the loader's own messages, before anything is written).
    for (const auto& [name, shape] : expected) {
        if (bnbShapes.count(name))
            continue;
        if (!weights.contains(name))
            throw Error(req.modelDir.string() + ": expected tensor '" + name + "' " + shapeText(shape) + " for " +
                        config.architecture + ", not found in the checkpoint; the base model does not load, so it "
                        "cannot be merged (rslora inspect lists every problem)");
        const models::TensorInfo& info = weights.info(name);
        const std::vector<int64_t> found(info.shape.begin(), info.shape.end());
        if (found != shape)
            throw Error(weights.fileOf(name).path().string() + ": tensor '" + name + "': expected shape " + shapeText(shape) +
                        " from config.json, found " + shapeText(found) + "; the base model does not load, so it cannot be merged");
        if (!models::isReadableFloat(info.dtype))
            throw Error(weights.fileOf(name).path().string() + ": tensor '" + name + "': expected a floating-point dtype "
                        "(F32, F16 or BF16), found " + models::dtypeName(info.dtype) + "; the base model does not load, so it "
                        "cannot be merged");
    }

    // Adapters recorded against a base model must name this one.
    const std::string fingerprint = checkRecordedBaseModel(req.modelDir, req.adapters);

    // A folder outside the store names its base only by base_model_name_or_path: a different name is
    // no proof of a different model (hub id vs local folder), so it is a warning, not a refusal.
    for (const WeightedAdapter& a : req.adapters) {
        if (!a.baseModelSha256.empty() || a.factors.baseModelNameOrPath.empty())
            continue;
        const std::string named = modelFolderName(a.factors.baseModelNameOrPath);
        const std::string model = modelFolderName(fs::absolute(req.modelDir).string());
        if (!named.empty() && named != model)
            logWarning("adapter '" + (a.factors.label.empty() ? a.factors.dir.string() : a.factors.label) + "' names base model '"
                       + a.factors.baseModelNameOrPath + "' (base_model_name_or_path), not '" + model
                       + "'; its shapes fit, so it is merged: check that this is the model it was trained on");
    }

    // Every adapted module must exist in the base with the shape of its ΔW.
    std::map<std::string, std::vector<Term>> terms;
    std::map<std::string, std::vector<BiasTerm>> biasTerms;
    for (const WeightedAdapter& a : req.adapters) {
        const std::string& label = a.factors.label.empty() ? a.factors.dir.string() : a.factors.label;
        if (!std::isfinite(a.weight))
            throw Error("adapter '" + label + "': weight " + std::to_string(a.weight) + " is not a finite number");
        if (!fitsFloat32(a.weight))
            throw Error("adapter '" + label + "': weight " + numberText(a.weight) + " does not fit float32 (at most "
                        + float32MaxText() + "), in which the merge applies it; give a smaller weight");
        for (const ModuleFactors& m : a.factors.modules) {
            const std::string name = m.module + ".weight";
            if (!fitsFloat32(a.weight * m.scale))
                throw Error("adapter '" + label + "' module '" + m.module + "': its weight " + numberText(a.weight) + " times its scale "
                            + numberText(m.scale) + " is " + numberText(a.weight * m.scale) + ", which does not fit float32 (at most "
                            + float32MaxText() + "); give the adapter a smaller weight");
            const bool lmHead = m.module == "lm_head" || (m.module.size() > 8 && m.module.compare(m.module.size() - 8, 8, ".lm_head") == 0);
            if (lmHead && config.tieWordEmbeddings)
                throw Error("adapter '" + label + "' adapts " + m.module + ", but " + req.modelDir.string() +
                            " ties lm_head to the input embeddings (tie_word_embeddings: true); merging it would change "
                            "the embeddings too. Merge an adapter without lm_head, or untie the model first");
            if (!weights.contains(name))
                throw Error("adapter '" + label + "' adapts module '" + m.module + "', but the base model " +
                            req.modelDir.string() + " has no tensor '" + name +
                            "': the adapter belongs to another base model");
            const models::TensorInfo& info = weights.info(name);
            const bool quantized = bnbShapes.count(name) > 0;
            const std::vector<int64_t> baseShape =
                quantized ? bnbShapes.at(name) : std::vector<int64_t>(info.shape.begin(), info.shape.end());
            const std::vector<int64_t> deltaShape = {m.outFeatures(), m.inFeatures()};
            if (baseShape != deltaShape)
                throw Error("adapter '" + label + "' module '" + m.module + "': its update is " + shapeText(deltaShape) +
                            " but the base tensor '" + name + "' is " + shapeText(baseShape) +
                            ": the adapter belongs to another base model");
            if (!quantized && !models::isReadableFloat(info.dtype))
                throw Error("base tensor '" + name + "' has dtype " + models::dtypeName(info.dtype) +
                            "; only floating-point weights can be merged");
            terms[name].push_back({&a, &m});
        }
        // Trained biases (bias "lora_only") replace the base's biases of the modules they belong to.
        for (const auto& [module, trained] : a.factors.biases) {
            const std::string name = module + ".bias";
            if (!weights.contains(name))
                throw Error("adapter '" + label + "' holds a trained bias of '" + module + "', but the base model " +
                            req.modelDir.string() + " has no tensor '" + name + "': the adapter belongs to another base model");
            const models::TensorInfo& info = weights.info(name);
            const std::vector<int64_t> baseShape(info.shape.begin(), info.shape.end());
            const std::vector<int64_t> trainedShape(trained.sizes().begin(), trained.sizes().end());
            if (baseShape != trainedShape)
                throw Error("adapter '" + label + "' trained bias of '" + module + "' is " + shapeText(trainedShape) +
                            " but the base tensor '" + name + "' is " + shapeText(baseShape) +
                            ": the adapter belongs to another base model");
            if (!models::isReadableFloat(info.dtype))
                throw Error("base tensor '" + name + "' has dtype " + models::dtypeName(info.dtype) +
                            "; only floating-point biases can be merged");
            biasTerms[name].push_back({&a, &trained});
        }
    }

    const models::Dtype outDtype = req.dtype ? row(*req.dtype).fileDtype : baseDtype(configJson, weights);
    std::string outDtypeName = "float32";
    for (const DtypeRow& r : kDtypes)
        if (r.fileDtype == outDtype)
            outDtypeName = r.name;

    // The plan: every base tensor, in natural name order, converted to the output dtype when floating.
    std::vector<std::string> names = weights.names();
    std::sort(names.begin(), names.end(), naturalLess);
    std::vector<PlannedTensor> plan;
    std::vector<uint64_t> sizes;
    for (const std::string& n : names) {
        if (bnb && models::quant::isBnbStateTensor(n))
            continue;
        PlannedTensor t;
        t.name = n;
        t.file = &weights.fileOf(n);
        t.info = &weights.info(n);
        t.outDtype = models::isReadableFloat(t.info->dtype) ? outDtype : t.info->dtype;
        if (auto q = bnbShapes.find(n); q != bnbShapes.end()) {
            t.bnbFiles = &weights;
            t.denseShape = q->second;
            t.outDtype = outDtype;
        }
        t.outBytes = numelOf(outShapeOf(t)) * models::dtypeBits(t.outDtype) / 8;
        auto it = terms.find(n);
        if (it != terms.end())
            t.terms = it->second;
        if (auto b = biasTerms.find(n); b != biasTerms.end())
            t.biasTerms = b->second;
        sizes.push_back(t.outBytes);
        plan.push_back(std::move(t));
    }
    const std::vector<std::vector<size_t>> shards = planShards(sizes, req.maxShardBytes);

    MergeReport report;
    report.outDir = req.outDir;
    report.dtype = outDtypeName;
    report.tiedEmbeddings = config.tieWordEmbeddings && !weights.contains("lm_head.weight");
    const int64_t total = static_cast<int64_t>(plan.size());
    int64_t done = 0;
    auto tick = [&] {
        if (progress && !progress(done, total))
            throw MergeCancelled("merge cancelled; nothing was written to " + req.outDir.string());
    };
    tick();

    // NoReplace: another merge that finished into the same folder meanwhile keeps its result.
    AtomicDirectory folder(req.outDir, AtomicDirectory::OnExisting::NoReplace);
    const fs::path staging = folder.stagingPath();
    nlohmann::json weightMap = nlohmann::json::object();
    for (size_t s = 0; s < shards.size(); ++s) {
        const std::string file = shardFileName(s, shards.size());
        std::vector<models::TensorBytes> tensors;
        std::map<std::string, const PlannedTensor*> byName;
        for (size_t k : shards[s]) {
            const PlannedTensor& t = plan[k];
            tensors.push_back({t.name, t.outDtype, outShapeOf(t), nullptr, t.outBytes});
            byName[t.name] = &t;
            weightMap[t.name] = file;
        }
        models::SafeTensorsStreamWriter out(staging / file, std::move(tensors));
        for (const models::TensorBytes& slot : out.order()) {
            const PlannedTensor& t = *byName.at(slot.name);
            writeTensor(t, out);
            report.tensorBytes += t.outBytes;
            report.mergedTensors += t.terms.empty() && t.biasTerms.empty() ? 0 : 1;
            ++done;
            tick();
        }
        out.finish();
        report.fileBytes += out.fileSize();
        report.shards.push_back(file);
    }
    report.tensors = done;
    if (shards.size() > 1) {
        nlohmann::json index;
        index["metadata"] = {{"total_size", report.tensorBytes}};
        index["weight_map"] = weightMap;
        writeFileAtomic(staging / models::WeightFiles::kIndexFile, index.dump(2) + "\n");
    }

    if (bnb) {
        report.baseQuantization = models::quant::quantTypeName(bnb->type);
        report.dequantized4bit = int64_t(bnbShapes.size());
        configJson.erase("quantization_config");
    }
    configJson["torch_dtype"] = outDtypeName;
    if (configJson.contains("dtype"))
        configJson["dtype"] = outDtypeName;
    writeFileAtomic(staging / "config.json", configJson.dump(2) + "\n");

    std::vector<fs::path> copies;
    for (const auto& entry : fs::directory_iterator(req.modelDir))
        if (entry.is_regular_file() && !skippedBaseFile(entry.path().filename().string()))
            copies.push_back(entry.path());
    std::sort(copies.begin(), copies.end());
    for (const fs::path& from : copies) {
        copyFile(from, staging / from.filename());
        report.copiedFiles.push_back(from.filename().string());
    }

    nlohmann::ordered_json record;
    record["created_by"] = "rslora merge";
    record["base_model"] = fs::absolute(req.modelDir).string();
    record["base_model_fingerprint"] = fingerprint.empty() ? models::modelFingerprint(req.modelDir) : fingerprint;
    record["dtype"] = outDtypeName;
    record["formula"] = "W + sum_i weight_i * scale_i * B_i A_i, computed in float32, rounded once";
    if (!biasTerms.empty())
        record["bias_formula"] = "b + sum_i weight_i * (trained_i - b) for the biases an adapter trained (bias lora_only)";
    nlohmann::ordered_json sources = nlohmann::ordered_json::array();
    for (const WeightedAdapter& a : req.adapters) {
        nlohmann::ordered_json source = {{"label", a.factors.label},
                                         {"path", a.factors.dir.empty() ? std::string() : fs::absolute(a.factors.dir).string()},
                                         {"weight", a.weight},
                                         {"modules", a.factors.modules.size()}};
        if (!a.factors.biases.empty())
            source["trained_biases"] = a.factors.biases.size();
        sources.push_back(std::move(source));
    }
    record["adapters"] = sources;
    writeFileAtomic(staging / kMergeRecordFile, record.dump(2) + "\n");

    folder.commit();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

} // namespace rslora::engine::fusion
