// validate(): the rules a training config must meet before a run starts, each broken one named with
// its section.key (the JSON round trip is in TrainConfig.cpp).
#include "engine/TrainConfig.h"

#include "common/Error.h"
#include "common/UserRegex.h"
#include "engine/ConfigPaths.h"
#include "engine/ModuleSelection.h"
#include "engine/objectives/DpoLimits.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <regex>
#include <sstream>

namespace rslora::engine {

std::vector<std::string> validate(const TrainConfig& c, const ValidationFacts& facts)
{
    std::vector<std::string> errors = c.unknownKeys;
    auto need = [&](bool ok, const std::string& msg) {
        if (!ok)
            errors.push_back(msg);
    };
    auto num = [](double v) {
        std::string s = std::to_string(v);
        while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.')
            s.pop_back();
        return s;
    };
    const AdapterConfig& a = c.adapter;

    need(!c.modelPath.empty(), "model.path is empty: name a Hugging Face model folder");
    need(!c.trainData.empty(), "data.train is empty: name a JSONL file of training samples");
    need(!c.outputDir.empty(), "output.dir is empty: name a folder for checkpoints and adapters");
    need(c.device == "cpu" || c.device == "cuda" || c.device.rfind("cuda:", 0) == 0,
         "model.device must be 'cpu', 'cuda' or 'cuda:N', found '" + c.device + "'");
    need(std::find(std::begin(kModelDtypes), std::end(kModelDtypes), c.dtype) != std::end(kModelDtypes),
         "model.dtype must be 'float32', 'bfloat16' or 'float16', found '" + c.dtype + "'");
    need(!(c.dtype == "float16" && c.device == "cpu"),
         "model.dtype 'float16' needs a CUDA device: LibTorch's CPU kernels have no float16 matrix product; "
         "use 'bfloat16' or 'float32' on the CPU");
    need(c.adapterDtype == "float32" || c.adapterDtype == c.dtype,
         "model.adapter_dtype must be 'float32' or the model.dtype ('" + c.dtype + "'), found '" + c.adapterDtype + "'");
    need(!(c.adapterDtype == "float16" && c.dtype == "float16"),
         "model.adapter_dtype 'float16' is not offered: float16 adapters lose AdamW's small updates; use 'float32'");
    need(c.quantization == "none" || c.quantization == "nf4" || c.quantization == "fp4",
         "model.quantization must be 'none', 'nf4' or 'fp4', found '" + c.quantization + "'");
    if (c.quantization != "none") {
        const std::string q = "model.quantization '" + c.quantization + "'";
        need(c.mode != TrainMode::Full, q + " keeps the base frozen in 4 bits; training.mode 'full' needs model.quantization 'none'");
        need(a.init != InitMode::Spectral,
             q + ": adapter.init 'spectral' needs the full-precision base weight; use lora, gaussian or rescaled, or model.quantization 'none'");
        need(a.allocation != RankAllocation::Sensitivity,
             q + ": adapter.rank_allocation 'sensitivity' needs gradients of the base weights; use uniform or pattern, or model.quantization 'none'");
    }
    need(c.threads >= 0, "model.threads must be >= 0 (0 = automatic), found " + std::to_string(c.threads));
    need(c.validationSplit >= 0.0 && c.validationSplit < 1.0,
         "data.validation_split must be in [0, 1), found " + num(c.validationSplit));
    need(c.maxSeqLen >= 2, "data.max_seq_len must be >= 2, found " + std::to_string(c.maxSeqLen));

    need(c.learningRate > 0 && std::isfinite(c.learningRate), "training.learning_rate must be > 0, found " + num(c.learningRate));
    need(c.weightDecay >= 0 && std::isfinite(c.weightDecay), "training.weight_decay must be >= 0, found " + num(c.weightDecay));
    need(c.beta1 >= 0 && c.beta1 < 1, "training.beta1 must be in [0, 1), found " + num(c.beta1));
    need(c.beta2 >= 0 && c.beta2 < 1, "training.beta2 must be in [0, 1), found " + num(c.beta2));
    need(c.eps > 0 && std::isfinite(c.eps), "training.eps must be > 0, found " + num(c.eps));
    // NaN would switch clipping off silently (every comparison with it is false); infinity means "no clipping" and is refused as such.
    need(std::isfinite(c.clipNorm), "training.clip_norm must be a number (<= 0: no clipping), found " + num(c.clipNorm));
    need(c.warmupSteps >= 0, "training.warmup_steps must be >= 0, found " + std::to_string(c.warmupSteps));
    need(c.minLrRatio >= 0 && c.minLrRatio <= 1, "training.min_lr_ratio must be in [0, 1], found " + num(c.minLrRatio));
    need(c.batchSize >= 1, "training.batch_size must be >= 1, found " + std::to_string(c.batchSize));
    need(c.gradAccumulation >= 1, "training.gradient_accumulation must be >= 1, found " + std::to_string(c.gradAccumulation));
    need(c.maxSteps > 0 || c.epochs >= 1, "training.epochs must be >= 1 when training.max_steps is 0, found " + std::to_string(c.epochs));
    need(c.maxSteps >= 0, "training.max_steps must be >= 0, found " + std::to_string(c.maxSteps));
    need(c.logEvery >= 1, "training.log_every must be >= 1, found " + std::to_string(c.logEvery));
    need(c.evalEvery >= 0, "training.eval_every must be >= 0, found " + std::to_string(c.evalEvery));
    need(c.saveEvery >= 0, "training.save_every must be >= 0, found " + std::to_string(c.saveEvery));
    need(c.lossChunkTokens >= 1, "training.loss_chunk_tokens must be >= 1, found " + std::to_string(c.lossChunkTokens));
    need(c.allreduceDtype == "float32" || c.allreduceDtype == "bfloat16" || c.allreduceDtype == "float16",
         "training.allreduce_dtype must be 'float32', 'bfloat16' or 'float16', found '" + c.allreduceDtype + "'");
    need(!(c.allreduceDtype == "bfloat16" && c.device == "cpu"),
         "training.allreduce_dtype 'bfloat16' needs NCCL (model.device 'cuda'): Gloo, the CPU's backend, has no bfloat16 "
         "all-reduce; use 'float16' or 'float32'");
    need(c.allreduceBucketMb >= 1 && c.allreduceBucketMb <= 4096,
         "training.allreduce_bucket_mb must be in [1, 4096], found " + std::to_string(c.allreduceBucketMb));

    if (c.objective == TrainObjective::Dpo) {
        const DpoConfig& d = c.dpo;
        need(c.mode == TrainMode::Lora,
             "training.objective 'dpo' needs training.mode 'lora': the reference is the frozen base the adapter trains on");
        const std::string scale = objectives::dpoScaleProblem(d.beta, d.lossType == DpoLossType::Ipo, d.lossType == DpoLossType::Simpo,
                                                              d.simpoGamma);
        need(scale.empty(), scale);
        need(std::isfinite(d.labelSmoothing) && d.labelSmoothing >= 0 && d.labelSmoothing < 0.5,
             "dpo.label_smoothing must be in [0, 0.5), found " + num(d.labelSmoothing));
        need(d.labelSmoothing == 0 || d.lossType != DpoLossType::Ipo,
             "dpo.label_smoothing applies to the sigmoid and simpo losses, not to dpo.loss_type 'ipo'; set it to 0");
        need(std::isfinite(d.simpoGamma) && d.simpoGamma >= 0, "dpo.simpo_gamma must be >= 0, found " + num(d.simpoGamma));
        std::ostringstream rpo;
        rpo << "dpo.rpo_alpha must be in [0, " << objectives::kMaxRpoAlpha << "], found " << d.rpoAlpha;
        need(std::isfinite(d.rpoAlpha) && d.rpoAlpha >= 0 && d.rpoAlpha <= objectives::kMaxRpoAlpha, rpo.str());
        need(d.reference != DpoReference::Stack || !a.stackOn.empty() || d.lossType == DpoLossType::Simpo,
             std::string(kStackReferenceProblem) + ": name the frozen earlier stages, or use 'base'");
    }

    if (c.mode == TrainMode::Lora) {
        need(a.rank >= 1, "adapter.r must be >= 1, found " + std::to_string(a.rank));
        need(a.alpha > 0 && std::isfinite(a.alpha), "adapter.lora_alpha must be > 0, found " + num(a.alpha));
        // The scale alpha / r (or / sqrt r) multiplies float32 values: beyond float32 the run failed in
        // LibTorch's conversion without naming the key; a scale that is 0 in float32 trains nothing.
        auto shown = [](double v) {
            std::ostringstream text;
            text << v;
            return text.str();
        };
        auto scaleProblem = [&](double alpha, int rank) {
            if (!(alpha > 0) || !std::isfinite(alpha) || rank < 1)
                return std::string(); // reported on its own
            if (!fitsFloat32(alpha))
                return "must fit float32 (at most " + float32MaxText() + "), since the adapter's scale is applied in float32";
            const double scale = adapterScale(a.scaling, rank, alpha);
            if (fitsFloat32(scale) && float(scale) != 0.0f)
                return std::string();
            return "gives the scale " + shown(scale) + " with r = " + std::to_string(rank) + ", which " +
                   (fitsFloat32(scale) ? "is 0" : "overflows") + " in float32; use a value between about 1e-30 and 1e30";
        };
        if (const std::string why = scaleProblem(a.alpha, a.rank); !why.empty())
            errors.push_back("adapter.lora_alpha " + shown(a.alpha) + " " + why);
        for (const auto& [p, v] : a.alphaPattern)
            if (v > 0 && std::isfinite(v) && !fitsFloat32(v))
                errors.push_back("adapter.alpha_pattern['" + p + "'] " + shown(v) + " " + scaleProblem(v, 1));
        need(a.dropout >= 0 && a.dropout < 1, "adapter.lora_dropout must be in [0, 1), found " + num(a.dropout));
        need(a.initSigma > 0 && std::isfinite(a.initSigma), "adapter.init_sigma must be > 0, found " + num(a.initSigma));
        need(a.svdIterations >= 0, "adapter.svd_iterations must be >= 0, found " + std::to_string(a.svdIterations));
        need(a.subspaceDim >= 1, "adapter.subspace_dim must be >= 1, found " + std::to_string(a.subspaceDim));
        need(a.loraPlusRatio > 0 && std::isfinite(a.loraPlusRatio), "adapter.loraplus_lr_ratio must be > 0 (1 = off), found " + num(a.loraPlusRatio));
        need(a.balancing.beta >= 0 && a.balancing.beta < 1, "adapter.balance_beta must be in [0, 1), found " + num(a.balancing.beta));
        need(a.balancing.band > 1 && std::isfinite(a.balancing.band), "adapter.balance_band must be > 1, found " + num(a.balancing.band));
        need(a.balancing.target > 0 && std::isfinite(a.balancing.target), "adapter.balance_target must be > 0, found " + num(a.balancing.target));
        need(a.sensitivity.probeBatches >= 1, "adapter.sensitivity_probe_batches must be >= 1, found " + std::to_string(a.sensitivity.probeBatches));
        need(a.sensitivity.beta >= 0 && a.sensitivity.beta < 1, "adapter.sensitivity_beta must be in [0, 1), found " + num(a.sensitivity.beta));
        need(a.sensitivity.parameterBudget >= 0, "adapter.parameter_budget must be >= 0, found " + std::to_string(a.sensitivity.parameterBudget));
        need(!a.sensitivity.candidateRanks.empty(), "adapter.sensitivity_candidate_ranks is empty");
        for (int r : a.sensitivity.candidateRanks)
            need(r >= 1, "adapter.sensitivity_candidate_ranks holds " + std::to_string(r) + "; ranks must be >= 1");
        need(a.allocation != RankAllocation::Pattern || !a.rankPattern.empty() || !a.alphaPattern.empty(),
             "adapter.rank_allocation is 'pattern' but adapter.rank_pattern and adapter.alpha_pattern are empty");
        {
            // Control characters (a line break, a tab) are named as escapes, so the message stays one line.
            std::string shownName;
            bool control = false;
            for (const unsigned char ch : a.name) {
                control = control || ch < 0x20 || ch == 0x7f;
                if (ch < 0x20 || ch == 0x7f) {
                    static const char* hex = "0123456789abcdef";
                    shownName += ch == '\n' ? std::string("\\n") : ch == '\t' ? std::string("\\t") : std::string("\\x") + hex[ch >> 4] + hex[ch & 15];
                } else {
                    shownName += static_cast<char>(ch);
                }
            }
            need(!a.name.empty() && a.name.find_first_of("./ ") == std::string::npos && !control,
                 "adapter.name must be non-empty without '.', '/', spaces or control characters, found '" + shownName + "'");
        }
        for (const auto& [p, r] : a.rankPattern) {
            need(r >= 1, "adapter.rank_pattern['" + p + "'] must be >= 1, found " + std::to_string(r));
            if (const std::string why = userRegexProblem(p); !why.empty())
                errors.push_back("adapter.rank_pattern key '" + p + "' is not a valid regex (" + why + ")");
        }
        for (const auto& [p, v] : a.alphaPattern) {
            need(v > 0, "adapter.alpha_pattern['" + p + "'] must be > 0, found " + num(v));
            if (const std::string why = userRegexProblem(p); !why.empty())
                errors.push_back("adapter.alpha_pattern key '" + p + "' is not a valid regex (" + why + ")");
        }
        // One adapter stacked twice would be applied at twice its weight; another spelling of the same
        // folder counts too.
        for (std::size_t i = 0; i < a.stackOn.size(); ++i)
            for (std::size_t k = 0; k < i; ++k) {
                std::error_code ec;
                if (a.stackOn[k] == a.stackOn[i] || std::filesystem::equivalent(a.stackOn[k], a.stackOn[i], ec)) {
                    errors.push_back("adapter.stack_on names '" + a.stackOn[i] + "' twice (as item " + std::to_string(k + 1) +
                                     " and item " + std::to_string(i + 1) + "); a stacked adapter is applied once");
                    break;
                }
            }
        for (const auto& stage : a.stackOn) {
            // A name the file system refuses (too long, a parent without permission) is a problem
            // of this field, not an exception.
            std::error_code ec;
            const bool found = std::filesystem::exists(std::filesystem::path(stage) / "adapter_config.json", ec);
            if (ec)
                errors.push_back("adapter.stack_on names '" + stage + "', which cannot be read (" + ec.message() + ")");
            else
                need(found, "adapter.stack_on names '" + stage + "', which is not a PEFT adapter folder (no adapter_config.json)");
        }
        if (!a.targetRegex.empty()) {
            if (const std::string why = userRegexProblem(a.targetRegex); !why.empty()) {
                // A pattern pasted by mistake can be very long: quote its start only, so the message
                // (and the form's field error, which cannot wrap inside it) stays readable.
                const std::string shown = a.targetRegex.size() > 80 ? a.targetRegex.substr(0, 60) + "..." : a.targetRegex;
                errors.push_back("adapter.target_regex '" + shown + "' is not a valid regex (" + why + ")");
            }
        } else {
            need(!a.targetModules.empty(), "adapter.target_modules is empty: name modules (q_proj, ..., down_proj), 'all-linear', or set adapter.target_regex");
        }

        // Target names against the model (or the Llama table when no model is at hand).
        std::vector<std::string> shortNames;
        if (facts.haveModel) {
            for (const auto& m : facts.modules)
                if (std::find(shortNames.begin(), shortNames.end(), m.shortName) == shortNames.end())
                    shortNames.push_back(m.shortName);
        } else {
            shortNames = llamaProjectionNames();
            shortNames.push_back("lm_head");
        }
        if (a.targetRegex.empty()) {
            for (const auto& t : a.targetModules) {
                if (t == "all-linear")
                    continue;
                bool known = std::find(shortNames.begin(), shortNames.end(), t) != shortNames.end();
                if (!known && facts.haveModel)
                    for (const auto& m : facts.modules)
                        known = known || m.name == t || (m.name.size() > t.size() && m.name.compare(m.name.size() - t.size(), t.size(), t) == 0 && m.name[m.name.size() - t.size() - 1] == '.');
                if (known)
                    continue;
                std::string list;
                for (const auto& s : shortNames)
                    list += (list.empty() ? "" : ", ") + s;
                std::string msg = "adapter.target_modules: unknown target module '" + t + "'";
                const auto guess = closestName(t, shortNames);
                if (!guess.empty())
                    msg += " (did you mean '" + guess + "'?)";
                errors.push_back(msg + "; the model's linear modules are " + list);
            }
        }
        if (facts.haveModel) {
            for (int l : a.layersToTransform)
                need(l >= 0 && l < facts.numLayers, "adapter.layers_to_transform holds layer " + std::to_string(l)
                         + " but the model has layers 0.." + std::to_string(facts.numLayers - 1));
            // A pattern that matches no module of the model changes nothing (PEFT ignores it too): a
            // typo ("q_prj") trained every module at the default rank or alpha without a word.
            auto patternsMatch = [&](const char* field, const std::vector<std::string>& patterns) {
                for (const auto& pattern : patterns) {
                    if (!userRegexProblem(pattern).empty())
                        continue; // reported above
                    const bool any = std::any_of(facts.modules.begin(), facts.modules.end(),
                                                 [&](const ModuleFacts& m) { return peftPatternMatches(pattern, m.name); });
                    if (any)
                        continue;
                    std::string msg = std::string(field) + " key '" + pattern + "' matches no module of the model, so it changes nothing";
                    if (const auto guess = closestName(pattern, shortNames); !guess.empty())
                        msg += " (did you mean '" + guess + "'?)";
                    errors.push_back(msg + "; a key matches a module's full name or its dotted end, e.g. 'q_proj' or 'layers.0.self_attn.q_proj'");
                }
            };
            std::vector<std::string> rankKeys, alphaKeys;
            for (const auto& entry : a.rankPattern)
                rankKeys.push_back(entry.first);
            for (const auto& entry : a.alphaPattern)
                alphaKeys.push_back(entry.first);
            patternsMatch("adapter.rank_pattern", rankKeys);
            patternsMatch("adapter.alpha_pattern", alphaKeys);
            // Two keys that match one module with different values: the first in key order wins (a
            // config is read as a JSON object, and PEFT's save_pretrained sorts the keys too), which
            // need not be the order written. Refused, so that no module gets a value by accident.
            auto overlaps = [&](const char* field, const auto& table) {
                for (const auto& m : facts.modules) {
                    std::optional<std::pair<std::string, double>> first;
                    for (const auto& [pattern, value] : table) {
                        if (!userRegexProblem(pattern).empty() || !peftPatternMatches(pattern, m.name))
                            continue;
                        if (!first) {
                            first = std::make_pair(pattern, double(value));
                        } else if (double(value) != first->second) {
                            std::ostringstream text;
                            text << field << ": " << m.name << " matches both '" << first->first << "' (" << first->second << ") and '"
                                 << pattern << "' (" << value << "); the first key in name order would win, whatever the order "
                                 << "written: make the patterns match different modules";
                            errors.push_back(text.str());
                            return;
                        }
                    }
                }
            };
            overlaps("adapter.rank_pattern", a.rankPattern);
            overlaps("adapter.alpha_pattern", a.alphaPattern);
            const auto plans = planModules(a, facts.modules);
            need(!plans.empty() || errors.size() > c.unknownKeys.size(),
                 std::string(a.targetRegex.empty() ? "adapter.target_modules" : "adapter.target_regex") + ": no module of the model matches the adapter's targets");
            for (const auto& p : plans) {
                if (p.alpha == a.alpha && p.rank == a.rank)
                    continue; // checked above
                if (const std::string why = scaleProblem(p.alpha, p.rank); !why.empty() && fitsFloat32(p.alpha)) {
                    errors.push_back("adapter.alpha_pattern / adapter.rank_pattern: " + p.module.name + " has lora_alpha " + shown(p.alpha) + ", which " + why);
                    break; // one module is enough
                }
            }
            for (const auto& p : plans) {
                const int64_t maxRank = std::min(p.module.inFeatures, p.module.outFeatures);
                // Keyed by the field the rank came from, so the form shows it there.
                const std::string field = p.rank == a.rank ? "adapter.r: " : "adapter.rank_pattern: ";
                need(p.rank <= maxRank, field + "rank " + std::to_string(p.rank) + " for " + p.module.name + " is larger than the layer allows (min(in, out) = "
                         + std::to_string(maxRank) + ")");
                if (p.rank > maxRank)
                    break; // one line is enough; every layer of that shape would repeat it
            }
        }
    }

    if (facts.haveData) {
        need(facts.train.samples > 0, "data.train: training data '" + facts.train.path + "' holds no samples");
        need(facts.train.samples == 0 || facts.train.supervisedTokens > 0,
             "data.train: every label in training data '" + facts.train.path + "' is masked: there is no response token to learn");
        // A split of fewer than two samples holds nothing out (validationCount): the run would train
        // without the evaluation the config asks for.
        need(!(c.validationData.empty() && c.validationSplit > 0 && facts.train.samples > 0 && facts.validation.samples == 0),
             "data.validation_split " + num(c.validationSplit) + " holds out no sample: training data '" + facts.train.path +
                 "' has " + std::to_string(facts.train.samples) + " sample" + (facts.train.samples == 1 ? "" : "s") +
                 " and a split needs at least 2; add samples, name a data.validation file, or set data.validation_split to 0");
        if (facts.haveValidation) {
            need(facts.validation.samples > 0, "data.validation: validation data '" + facts.validation.path + "' holds no samples");
            need(facts.validation.samples == 0 || facts.validation.supervisedTokens > 0,
                 "data.validation: every label in validation data '" + facts.validation.path + "' is masked");
        }
    }
    return errors;
}

void validateOrThrow(const TrainConfig& config, const ValidationFacts& facts)
{
    const auto errors = validate(config, facts);
    if (errors.empty())
        return;
    std::string msg = errors.size() == 1 ? errors.front() : "the training config has " + std::to_string(errors.size()) + " problems:";
    if (errors.size() > 1)
        for (const auto& e : errors)
            msg += "\n  - " + e;
    throw Error(msg);
}

} // namespace rslora::engine
