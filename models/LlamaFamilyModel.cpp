// Llama-family forward pass with transformers' exact semantics (formats.md §2.3): RMSNorm cast back
// before the weight, rotate_half RoPE, GQA without copying keys (query heads grouped per kv head),
// float32 softmax, masks with absolute positions so that cached decoding equals recomputation.
#include "models/LlamaFamilyModel.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/ActivationCheckpoint.h"
#include "models/Attention.h"
#include "models/RmsNorm.h"

#include <torch/version.h>

#include <limits>
#include <sstream>

namespace rslora::models {
namespace {

// The HF module names of the projections, in one place.
constexpr const char* kAttentionProjections[] = {"q_proj", "k_proj", "v_proj", "o_proj"};
constexpr const char* kMlpProjections[] = {"gate_proj", "up_proj", "down_proj"};

std::string layerPrefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

std::string shapeText(c10::IntArrayRef s) {
    std::ostringstream o;
    o << s;
    return o.str();
}

double maskMin(torch::ScalarType t) {
    switch (t) {
    case torch::kFloat64: return std::numeric_limits<double>::lowest();
    case torch::kFloat16: return -65504.0;
    case torch::kBFloat16: return -3.3895313892515355e38;
    default: return std::numeric_limits<float>::lowest();
    }
}

class RmsNorm : public torch::nn::Module {
public:
    RmsNorm(torch::Tensor w, double eps) : m_eps(eps) { weight = register_parameter("weight", std::move(w)); }
    torch::Tensor forward(const torch::Tensor& x) { return rmsNorm(x, weight, m_eps); }
    torch::Tensor weight;

private:
    double m_eps;
};

class TokenEmbedding : public torch::nn::Module {
public:
    explicit TokenEmbedding(torch::Tensor w) { weight = register_parameter("weight", std::move(w)); }
    torch::Tensor weight;
};

std::shared_ptr<LinearLayer> makeLinear(const TensorSource& source, const std::string& name, int64_t out,
                                        int64_t in, bool bias) {
    auto w = source(name + ".weight", {out, in}, TensorRole::Linear);
    torch::Tensor b;
    if (bias)
        b = source(name + ".bias", {out}, TensorRole::Bias);
    return std::make_shared<LinearLayer>(w, b);
}

// Replaces a registered projection, checking that the replacement fits.
void replaceProjection(torch::nn::Module& owner, std::shared_ptr<LinearLayer>& member, const std::string& shortName,
                       const std::string& fullName, std::shared_ptr<LinearLayer> layer) {
    if (!layer)
        throw Error("cannot put an empty module into slot " + fullName);
    if (layer->inFeatures() != member->inFeatures() || layer->outFeatures() != member->outFeatures())
        throw Error("slot " + fullName + " expects a layer " + std::to_string(member->inFeatures()) + " -> " +
                    std::to_string(member->outFeatures()) + ", got " + std::to_string(layer->inFeatures()) + " -> " +
                    std::to_string(layer->outFeatures()));
    member = owner.replace_module(shortName, std::move(layer));
}

// Additive mask [Bm, 1, 1, T, S] (0 = attend, dtype min = masked) or undefined when nothing is
// masked. Positions are absolute: query t sits at past + t, so it stays correct when T != S.
torch::Tensor buildMask(const torch::Tensor& padMask, int64_t T, int64_t past, std::optional<int64_t> window,
                        torch::ScalarType dtype, torch::Device device) {
    const int64_t S = past + T;
    const bool windowBites = window && S > *window;
    if (!padMask.defined() && T == 1 && !windowBites)
        return {};
    auto opts = torch::TensorOptions().dtype(torch::kInt64).device(device);
    auto qpos = torch::arange(past, S, opts).unsqueeze(1);  // [T, 1]
    auto kpos = torch::arange(0, S, opts).unsqueeze(0);     // [1, S]
    auto allowed = kpos <= qpos;
    if (windowBites)
        allowed = allowed.logical_and(kpos > qpos - *window);
    allowed = allowed.unsqueeze(0);  // [1, T, S]
    if (padMask.defined()) {
        allowed = allowed.logical_and(padMask.to(torch::kBool).unsqueeze(1));
        // A padded query would see no key at all; let it see itself so no row is fully masked
        // (its output is never used, but NaN from an empty softmax would leak through 0 * NaN).
        allowed = allowed.logical_or((kpos == qpos).unsqueeze(0));
    }
    auto mask = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(dtype).device(device));
    mask.masked_fill_(allowed.logical_not(), maskMin(dtype));
    return mask.unsqueeze(1).unsqueeze(1);
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                     bool causalNoMask) {
#if TORCH_VERSION_MAJOR >= 2
    // Fused attention for prefill and training. Single-token decoding stays on the grouped
    // matmuls: tiny there, and fused backends may plan per key length, which changes every step.
    if (q.size(2) > 1) {
        const int64_t B = q.size(0), nH = q.size(1), T = q.size(2), D = q.size(3);
        const int64_t rep = nH / k.size(1);
        c10::optional<torch::Tensor> attnMask;
        if (!causalNoMask && mask.defined())
            attnMask = mask.squeeze(1);
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
        auto out = at::scaled_dot_product_attention(q, k, v, attnMask, 0.0, causalNoMask, c10::nullopt,
                                                    /*enable_gqa=*/rep > 1);
#else
        auto kk = rep > 1 ? k.repeat_interleave(rep, 1) : k;
        auto vv = rep > 1 ? v.repeat_interleave(rep, 1) : v;
        auto out = at::scaled_dot_product_attention(q, kk, vv, attnMask, 0.0, causalNoMask);
#endif
        return out.transpose(1, 2).reshape({B, T, nH * D});
    }
#else
    (void)causalNoMask;
#endif
    return attendGrouped(q, k, v, mask);
}

struct StepContext {
    torch::Tensor cos, sin;
    torch::Tensor fullMask, slidingMask;
    bool causalNoMask = false;
    KVCache* cache = nullptr;
};

} // namespace

class LlamaAttention : public torch::nn::Module {
public:
    LlamaAttention(const ModelConfig& c, const TensorSource& src, int64_t layer) : m_layer(layer) {
        const std::string p = layerPrefix(layer) + "self_attn.";
        m_nH = c.numHeads;
        m_nKV = c.numKvHeads;
        m_D = c.headDim;
        m_sliding = c.isSlidingLayer(layer);
        const bool qkvBias = c.qkvBias();
        q = register_module("q_proj", makeLinear(src, p + "q_proj", m_nH * m_D, c.hiddenSize, qkvBias));
        k = register_module("k_proj", makeLinear(src, p + "k_proj", m_nKV * m_D, c.hiddenSize, qkvBias));
        v = register_module("v_proj", makeLinear(src, p + "v_proj", m_nKV * m_D, c.hiddenSize, qkvBias));
        o = register_module("o_proj", makeLinear(src, p + "o_proj", c.hiddenSize, m_nH * m_D, c.oBias()));
        if (c.qkNorm()) {
            qNorm = register_module("q_norm", std::make_shared<RmsNorm>(src(p + "q_norm.weight", {m_D}, TensorRole::Norm),
                                                                       c.rmsNormEps));
            kNorm = register_module("k_norm", std::make_shared<RmsNorm>(src(p + "k_norm.weight", {m_D}, TensorRole::Norm),
                                                                       c.rmsNormEps));
        }
    }

    torch::Tensor forward(const torch::Tensor& x, const StepContext& ctx) {
        const int64_t B = x.size(0), T = x.size(1);
        auto qs = q->forward(x).reshape({B, T, m_nH, m_D});
        auto ks = k->forward(x).reshape({B, T, m_nKV, m_D});
        auto vs = v->forward(x).reshape({B, T, m_nKV, m_D});
        if (qNorm) {
            qs = qNorm->forward(qs);
            ks = kNorm->forward(ks);
        }
        qs = applyRotary(qs, ctx.cos, ctx.sin).transpose(1, 2);
        ks = applyRotary(ks, ctx.cos, ctx.sin).transpose(1, 2);
        vs = vs.transpose(1, 2);
        if (ctx.cache) {
            auto kv = ctx.cache->append(m_layer, ks, vs);
            ks = kv.first;
            vs = kv.second;
        }
        const torch::Tensor& mask = m_sliding ? ctx.slidingMask : ctx.fullMask;
        return o->forward(attend(qs, ks, vs, mask, ctx.causalNoMask && !m_sliding));
    }

    std::shared_ptr<LinearLayer>& projection(const std::string& name) {
        if (name == "q_proj")
            return q;
        if (name == "k_proj")
            return k;
        if (name == "v_proj")
            return v;
        return o;
    }

    std::shared_ptr<LinearLayer> q, k, v, o;
    std::shared_ptr<RmsNorm> qNorm, kNorm;

private:
    int64_t m_layer, m_nH, m_nKV, m_D;
    bool m_sliding = false;
};

class LlamaMlp : public torch::nn::Module {
public:
    LlamaMlp(const ModelConfig& c, const TensorSource& src, int64_t layer) {
        const std::string p = layerPrefix(layer) + "mlp.";
        gate = register_module("gate_proj", makeLinear(src, p + "gate_proj", c.intermediateSize, c.hiddenSize, c.mlpBias));
        up = register_module("up_proj", makeLinear(src, p + "up_proj", c.intermediateSize, c.hiddenSize, c.mlpBias));
        down = register_module("down_proj", makeLinear(src, p + "down_proj", c.hiddenSize, c.intermediateSize, c.mlpBias));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        auto g = torch::silu(gate->forward(x));
        auto u = up->forward(x);
        // In place when no graph is recorded: saves one [B, T, I] buffer per layer.
        auto h = torch::GradMode::is_enabled() ? g * u : g.mul_(u);
        return down->forward(h);
    }
    std::shared_ptr<LinearLayer>& projection(const std::string& name) {
        if (name == "gate_proj")
            return gate;
        if (name == "up_proj")
            return up;
        return down;
    }
    std::shared_ptr<LinearLayer> gate, up, down;
};

class LlamaDecoderLayer : public torch::nn::Module {
public:
    LlamaDecoderLayer(const ModelConfig& c, const TensorSource& src, int64_t layer) {
        const std::string p = layerPrefix(layer);
        attn = register_module("self_attn", std::make_shared<LlamaAttention>(c, src, layer));
        mlp = register_module("mlp", std::make_shared<LlamaMlp>(c, src, layer));
        inNorm = register_module("input_layernorm", std::make_shared<RmsNorm>(
                                                        src(p + "input_layernorm.weight", {c.hiddenSize}, TensorRole::Norm),
                                                        c.rmsNormEps));
        postNorm = register_module(
            "post_attention_layernorm",
            std::make_shared<RmsNorm>(src(p + "post_attention_layernorm.weight", {c.hiddenSize}, TensorRole::Norm),
                                      c.rmsNormEps));
    }
    torch::Tensor forward(const torch::Tensor& x, const StepContext& ctx) {
        auto h = x + attn->forward(inNorm->forward(x), ctx);
        return h + mlp->forward(postNorm->forward(h));
    }
    std::shared_ptr<LlamaAttention> attn;
    std::shared_ptr<LlamaMlp> mlp;
    std::shared_ptr<RmsNorm> inNorm, postNorm;
};

class LlamaBackbone : public torch::nn::Module {
public:
    LlamaBackbone(const ModelConfig& c, const TensorSource& src) {
        embed = register_module("embed_tokens", std::make_shared<TokenEmbedding>(src(
                                                    "model.embed_tokens.weight", {c.vocabSize, c.hiddenSize},
                                                    TensorRole::Embedding)));
        layerList = register_module("layers", torch::nn::ModuleList());
        for (int64_t i = 0; i < c.numLayers; ++i) {
            layers.push_back(std::make_shared<LlamaDecoderLayer>(c, src, i));
            layerList->push_back(layers.back());
        }
        norm = register_module("norm", std::make_shared<RmsNorm>(src("model.norm.weight", {c.hiddenSize}, TensorRole::Norm),
                                                                 c.rmsNormEps));
    }
    std::shared_ptr<TokenEmbedding> embed;
    torch::nn::ModuleList layerList;
    std::vector<std::shared_ptr<LlamaDecoderLayer>> layers;
    std::shared_ptr<RmsNorm> norm;
};

LlamaFamilyModel::LlamaFamilyModel(const ModelConfig& config, const TensorSource& source)
    : CausalLM(config), m_rope(config) {
    m_model = register_module("model", std::make_shared<LlamaBackbone>(config, source));
    if (config.tieWordEmbeddings) {
        // Shares the embedding tensor; not registered, so the parameter is listed once.
        m_lmHead = std::make_shared<LinearLayer>(m_model->embed->weight);
    } else {
        m_lmHead = register_module("lm_head", makeLinear(source, "lm_head", config.vocabSize, config.hiddenSize, false));
        m_lmHeadRegistered = true;
    }
}

LlamaFamilyModel::~LlamaFamilyModel() = default;

torch::Tensor LlamaFamilyModel::embedTokens() { return m_model->embed->weight; }

std::vector<std::pair<std::string, std::vector<int64_t>>> LlamaFamilyModel::expectedTensors(const ModelConfig& config) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    // Constructing with a recording source lists exactly what the constructor asks for.
    torch::NoGradGuard noGrad;
    TensorSource record = [&](const std::string& name, const std::vector<int64_t>& shape, TensorRole) {
        out.emplace_back(name, shape);
        return torch::empty(shape, torch::TensorOptions().device(torch::kMeta));
    };
    LlamaFamilyModel probe(config, record);
    return out;
}

torch::Tensor LlamaFamilyModel::run(const torch::Tensor& inputIdsIn, const torch::Tensor& attentionMaskIn,
                                    const torch::Tensor& positionIdsIn, KVCache* cache,
                                    std::vector<torch::Tensor>* hidden) {
    const auto& embedW = m_model->embed->weight;
    const torch::Device device = embedW.device();
    if (!inputIdsIn.defined() || inputIdsIn.dim() != 2 || inputIdsIn.scalar_type() != torch::kInt64)
        throw Error("forward: expected input ids [batch, tokens] of int64, found " +
                    (inputIdsIn.defined() ? std::string(c10::toString(inputIdsIn.scalar_type())) + " " +
                                                shapeText(inputIdsIn.sizes())
                                          : std::string("nothing")));
    const int64_t B = inputIdsIn.size(0), T = inputIdsIn.size(1);
    if (T == 0)
        throw Error("forward: expected at least one token per row, found 0");
    // Checked while the ids are still on the CPU: on CUDA an id past the embedding rows is a
    // device-side assert that leaves the context unusable, not an error naming the id. Ids already
    // on the device (the generator's own samples) are not read back.
    if (inputIdsIn.device().is_cpu() && inputIdsIn.numel() > 0) {
        auto mn = inputIdsIn.min().item<int64_t>(), mx = inputIdsIn.max().item<int64_t>();
        if (mn < 0 || mx >= m_config.vocabSize)
            throw Error("forward: token id " + std::to_string(mn < 0 ? mn : mx) + " is outside the vocabulary [0, " +
                        std::to_string(m_config.vocabSize) + ")");
    }
    auto inputIds = inputIdsIn.to(device);
    const int64_t past = cache ? cache->length() : 0;
    const int64_t S = past + T;

    torch::Tensor attentionMask;
    if (attentionMaskIn.defined()) {
        if (attentionMaskIn.dim() != 2 || attentionMaskIn.size(0) != B || attentionMaskIn.size(1) != S)
            throw Error("forward: expected an attention mask [" + std::to_string(B) + ", " + std::to_string(S) +
                        "] (cached + new tokens), found " + shapeText(attentionMaskIn.sizes()));
        attentionMask = attentionMaskIn.to(device);
    }
    torch::Tensor positions;
    if (positionIdsIn.defined()) {
        if (positionIdsIn.dim() != 2 || (positionIdsIn.size(0) != B && positionIdsIn.size(0) != 1) ||
            positionIdsIn.size(1) != T)
            throw Error("forward: expected position ids [" + std::to_string(B) + ", " + std::to_string(T) + "], found " +
                        shapeText(positionIdsIn.sizes()));
        positions = positionIdsIn.to(device);
    } else {
        positions = torch::arange(past, S, torch::TensorOptions().dtype(torch::kInt64).device(device)).unsqueeze(0);
    }

    StepContext ctx;
    ctx.cache = cache;
    const auto dtype = embedW.scalar_type();
    std::tie(ctx.cos, ctx.sin) = m_rope.cosSin(positions, dtype);
    ctx.fullMask = buildMask(attentionMask, T, past, std::nullopt, dtype, device);
    ctx.causalNoMask = !attentionMask.defined() && past == 0 && T > 1;
    if (m_config.slidingWindow)
        ctx.slidingMask = buildMask(attentionMask, T, past, m_config.slidingWindow, dtype, device);

    auto x = torch::embedding(embedW, inputIds);
    if (hidden)
        hidden->push_back(x);
    const bool recompute = m_gradientCheckpointing && is_training() && torch::GradMode::is_enabled() && !cache;
    for (auto& layer : m_model->layers) {
        if (recompute) {
            std::vector<torch::Tensor> trainable;
            for (const auto& p : layer->parameters())
                if (p.requires_grad())
                    trainable.push_back(p);
            if (!trainable.empty() || x.requires_grad()) {
                // The closure owns copies of the layer's context (rotary tables, masks; no cache), so
                // the recompute in backward sees what this forward saw.
                x = checkpointed([layer, ctx](const torch::Tensor& in) { return layer->forward(in, ctx); }, x, trainable);
                if (hidden)
                    hidden->push_back(x);
                continue;
            }
        }
        x = layer->forward(x, ctx);
        if (hidden)
            hidden->push_back(x);
    }
    x = m_model->norm->forward(x);
    if (hidden)
        hidden->back() = x;
    return x;
}

ForwardOutput LlamaFamilyModel::forward(const torch::Tensor& inputIds, const torch::Tensor& attentionMask,
                                        const torch::Tensor& positionIds, KVCache* cache, bool returnHidden) {
    ForwardOutput out;
    auto x = run(inputIds, attentionMask, positionIds, cache, returnHidden ? &out.hiddenStates : nullptr);
    out.logits = m_lmHead->forward(x);
    return out;
}

torch::Tensor LlamaFamilyModel::hiddenStates(const torch::Tensor& inputIds, const torch::Tensor& attentionMask,
                                             const torch::Tensor& positionIds, KVCache* cache) {
    return run(inputIds, attentionMask, positionIds, cache, nullptr);
}

void LlamaFamilyModel::setLmHead(std::shared_ptr<LinearLayer> layer) {
    if (!layer)
        throw Error("cannot put an empty module into slot lm_head");
    if (layer->inFeatures() != m_lmHead->inFeatures() || layer->outFeatures() != m_lmHead->outFeatures())
        throw Error("slot lm_head expects a layer " + std::to_string(m_lmHead->inFeatures()) + " -> " +
                    std::to_string(m_lmHead->outFeatures()) + ", got " + std::to_string(layer->inFeatures()) +
                    " -> " + std::to_string(layer->outFeatures()));
    if (m_lmHeadRegistered) {
        m_lmHead = replace_module("lm_head", std::move(layer));
    } else {
        m_lmHead = register_module("lm_head", std::move(layer));
        m_lmHeadRegistered = true;
    }
}

std::vector<LinearSlot> LlamaFamilyModel::linearSlots() {
    std::vector<LinearSlot> slots;
    for (size_t i = 0; i < m_model->layers.size(); ++i) {
        LlamaDecoderLayer* layer = m_model->layers[i].get();
        const std::string p = layerPrefix(static_cast<int64_t>(i));
        for (const char* name : kAttentionProjections) {
            LlamaAttention* a = layer->attn.get();
            const std::string full = p + "self_attn." + name;
            const std::string shortName = name;
            slots.push_back({full, shortName, static_cast<int>(i), [a, shortName] { return a->projection(shortName); },
                             [a, shortName, full](std::shared_ptr<LinearLayer> l) {
                                 replaceProjection(*a, a->projection(shortName), shortName, full, std::move(l));
                             }});
        }
        for (const char* name : kMlpProjections) {
            LlamaMlp* m = layer->mlp.get();
            const std::string full = p + "mlp." + name;
            const std::string shortName = name;
            slots.push_back({full, shortName, static_cast<int>(i), [m, shortName] { return m->projection(shortName); },
                             [m, shortName, full](std::shared_ptr<LinearLayer> l) {
                                 replaceProjection(*m, m->projection(shortName), shortName, full, std::move(l));
                             }});
        }
    }
    slots.push_back({"lm_head", "lm_head", -1, [this] { return m_lmHead; },
                     [this](std::shared_ptr<LinearLayer> l) { setLmHead(std::move(l)); }});
    return slots;
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaFamilyModel::checkpointTensors() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    auto addLinear = [&](const std::string& name, const std::shared_ptr<LinearLayer>& l) {
        if (!l->weight.defined())
            throw Error("cannot save " + name + ": its module exposes no base weight");
        out.emplace_back(name + ".weight", l->weight);
        if (l->bias.defined())
            out.emplace_back(name + ".bias", l->bias);
    };
    out.emplace_back("model.embed_tokens.weight", m_model->embed->weight);
    for (size_t i = 0; i < m_model->layers.size(); ++i) {
        auto& layer = m_model->layers[i];
        const std::string p = layerPrefix(static_cast<int64_t>(i));
        out.emplace_back(p + "input_layernorm.weight", layer->inNorm->weight);
        out.emplace_back(p + "post_attention_layernorm.weight", layer->postNorm->weight);
        for (const char* name : kAttentionProjections)
            addLinear(p + "self_attn." + name, layer->attn->projection(name));
        if (layer->attn->qNorm) {
            out.emplace_back(p + "self_attn.q_norm.weight", layer->attn->qNorm->weight);
            out.emplace_back(p + "self_attn.k_norm.weight", layer->attn->kNorm->weight);
        }
        for (const char* name : kMlpProjections)
            addLinear(p + "mlp." + name, layer->mlp->projection(name));
    }
    out.emplace_back("model.norm.weight", m_model->norm->weight);
    if (!m_config.tieWordEmbeddings)
        addLinear("lm_head", m_lmHead);
    return out;
}

} // namespace rslora::models
