// The learned fusion gate (see FusionGate.h).
#include "engine/fusion/FusionGate.h"
#include "engine/fusion/ActiveSetGuard.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/Sha256.h"
#include "engine/AdamW.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "models/CausalLmLoss.h"
#include "models/TensorIO.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace rslora::engine::fusion {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

constexpr const char* kFormat = "rslora-fusion-gate";
constexpr const char* kPooling = "mean of the base model's final-norm hidden states over non-pad tokens, adapters off";

struct Batch {
    torch::Tensor ids, mask, labels;
};

// Right-padded batch of examples[indices], each truncated to maxSeqLen.
Batch collate(const std::vector<TrainExample>& examples, const std::vector<size_t>& indices, int maxSeqLen)
{
    int64_t T = 1;
    for (size_t i : indices)
        T = std::max<int64_t>(T, std::min<int64_t>(int64_t(examples[i].ids.size()), maxSeqLen));
    const auto B = int64_t(indices.size());
    Batch b{torch::zeros({B, T}, torch::kLong), torch::zeros({B, T}, torch::kLong),
            torch::full({B, T}, models::kIgnoreIndex, torch::kLong)};
    auto ids = b.ids.accessor<int64_t, 2>();
    auto mask = b.mask.accessor<int64_t, 2>();
    auto labels = b.labels.accessor<int64_t, 2>();
    for (int64_t r = 0; r < B; ++r) {
        const auto& e = examples[indices[size_t(r)]];
        const int64_t n = std::min<int64_t>(int64_t(e.ids.size()), T);
        for (int64_t t = 0; t < n; ++t) {
            ids[r][t] = e.ids[size_t(t)];
            mask[r][t] = 1;
            labels[r][t] = e.labels[size_t(t)];
        }
    }
    return b;
}

std::vector<size_t> range(size_t start, size_t end)
{
    std::vector<size_t> v;
    for (size_t i = start; i < end; ++i)
        v.push_back(i);
    return v;
}

// Pooled base features of all examples, in batches, no gradient.
torch::Tensor pooledFeatures(AdapterSet& set, const std::vector<TrainExample>& examples, int batchSize, int maxSeqLen)
{
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> parts;
    for (size_t s = 0; s < examples.size(); s += size_t(batchSize)) {
        const Batch b = collate(examples, range(s, std::min(examples.size(), s + size_t(batchSize))), maxSeqLen);
        parts.push_back(FusionGate::pooledHidden(set, b.ids, b.mask));
    }
    return torch::cat(parts, 0);
}

// Loss sums per row for a batch with the active adapters as they are set.
std::vector<models::LossSum> rowLosses(AdapterSet& set, const Batch& b)
{
    auto& model = set.model();
    const auto device = model.device();
    const auto hidden = model.hiddenStates(b.ids.to(device), b.mask.to(device));
    std::vector<models::LossSum> out;
    for (int64_t r = 0; r < hidden.size(0); ++r)
        out.push_back(models::causalLmLossSum(hidden.narrow(0, r, 1), *model.lmHead(), b.labels.narrow(0, r, 1).to(device)));
    return out;
}

std::string fmt(double v, int precision = 5)
{
    std::ostringstream o;
    o << std::setprecision(precision) << v;
    return o.str();
}

} // namespace

FusionGate::FusionGate(std::vector<GateAdapter> adapters, int64_t hiddenSize, int hidden, uint64_t seed)
    : m_adapters(std::move(adapters)), m_hiddenSize(hiddenSize), m_hidden(hidden)
{
    if (m_adapters.size() < 2)
        throw Error("a gate weighs 2 or more adapters, found " + std::to_string(m_adapters.size()));
    if (hiddenSize < 1 || hidden < 0)
        throw Error("gate sizes must be positive (hidden size " + std::to_string(hiddenSize) + ", gate hidden "
                    + std::to_string(hidden) + ")");
    const auto n = int64_t(m_adapters.size());
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    m_featMean = torch::zeros({hiddenSize}, f32);
    m_featStd = torch::ones({hiddenSize}, f32);
    int64_t in = hiddenSize;
    if (hidden > 0) {
        // Kaiming-uniform-like bound 1/√in, from a generator of our own so the seed alone decides.
        auto gen = at::detail::createCPUGenerator(seed);
        const double bound = 1.0 / std::sqrt(double(hiddenSize));
        m_w1 = torch::empty({hidden, hiddenSize}, f32).uniform_(-bound, bound, gen).requires_grad_(true);
        m_b1 = torch::zeros({hidden}, f32).requires_grad_(true);
        in = hidden;
    }
    // Zero output layer: every adapter starts at weight 1/n.
    m_w2 = torch::zeros({n, in}, f32).requires_grad_(true);
    m_b2 = torch::zeros({n}, f32).requires_grad_(true);
}

torch::Tensor FusionGate::weights(const torch::Tensor& pooled) const
{
    if (pooled.dim() != 2 || pooled.size(1) != m_hiddenSize)
        throw Error("gate input has shape " + c10::str(pooled.sizes()) + ", expected [batch, " + std::to_string(m_hiddenSize) + "]");
    torch::Tensor h = (pooled.to(torch::kFloat32).cpu() - m_featMean) / m_featStd;
    if (m_hidden > 0)
        h = torch::tanh(torch::linear(h, m_w1, m_b1));
    return torch::softmax(torch::linear(h, m_w2, m_b2), 1);
}

torch::Tensor FusionGate::pooledHidden(AdapterSet& set, const torch::Tensor& ids, const torch::Tensor& mask)
{
    torch::NoGradGuard ng;
    ActiveSetGuard restore(set);
    set.setActive({});
    auto& model = set.model();
    const auto device = model.device();
    const auto hidden = model.hiddenStates(ids.to(device), mask.to(device)).to(torch::kFloat32).cpu(); // [B, T, H]
    const auto m = mask.to(torch::kFloat32).cpu().unsqueeze(-1);                                       // [B, T, 1]
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0);
}

void FusionGate::activate(AdapterSet& set, const torch::Tensor& weights) const
{
    if (weights.dim() != 2 || weights.size(1) != int64_t(m_adapters.size()))
        throw Error("gate weights have shape " + c10::str(weights.sizes()) + ", expected [batch, " + std::to_string(m_adapters.size()) + "]");
    const auto device = set.model().device();
    std::vector<ActiveAdapter> active;
    for (size_t i = 0; i < m_adapters.size(); ++i)
        active.push_back({m_adapters[i].name, 1.0, weights.select(1, int64_t(i)).to(device)});
    set.setActive(active);
}

torch::Tensor FusionGate::route(AdapterSet& set, const torch::Tensor& ids, const torch::Tensor& mask) const
{
    torch::NoGradGuard ng;
    const auto w = weights(pooledHidden(set, ids, mask));
    activate(set, w);
    return w;
}

void FusionGate::setFeatureStats(const torch::Tensor& mean, const torch::Tensor& std)
{
    if (mean.numel() != m_hiddenSize || std.numel() != m_hiddenSize)
        throw Error("gate feature statistics must have " + std::to_string(m_hiddenSize) + " values");
    m_featMean = mean.to(torch::kFloat32).cpu().reshape({m_hiddenSize}).clone();
    // A feature constant over the training rows carries nothing: keep it from dividing by ~0.
    m_featStd = std.to(torch::kFloat32).cpu().reshape({m_hiddenSize}).clamp_min(1e-4).clone();
}

std::vector<std::pair<std::string, torch::Tensor>> FusionGate::parameters() const
{
    std::vector<std::pair<std::string, torch::Tensor>> p;
    if (m_hidden > 0) {
        p.emplace_back("hidden.weight", m_w1);
        p.emplace_back("hidden.bias", m_b1);
    }
    p.emplace_back("out.weight", m_w2);
    p.emplace_back("out.bias", m_b2);
    return p;
}

void FusionGate::save(const fs::path& dir) const
{
    ordered_json j;
    j["format"] = kFormat;
    j["version"] = 1;
    j["pooling"] = kPooling;
    j["hidden_size"] = m_hiddenSize;
    j["gate_hidden"] = m_hidden;
    j["output"] = "softmax";
    j["adapters"] = ordered_json::array();
    for (const auto& a : m_adapters)
        j["adapters"].push_back({{"name", a.name}, {"label", a.label}, {"path", a.path}, {"sha256", a.sha256}});
    j["training"] = {{"steps", m_stats.steps},         {"examples", m_stats.examples}, {"first_loss", m_stats.firstLoss},
                     {"final_loss", m_stats.finalLoss}, {"seconds", m_stats.seconds}};
    for (const auto& [k, v] : m_info.items())
        j[k] = v;
    std::vector<std::pair<std::string, torch::Tensor>> tensors{{"feature.mean", m_featMean}, {"feature.std", m_featStd}};
    for (const auto& [name, t] : parameters())
        tensors.emplace_back(name, t.detach());
    AtomicDirectory out(dir);
    models::saveSafeTensors(out.stagingPath() / kGateWeightsFile, tensors);
    writeFileAtomic(out.stagingPath() / kGateConfigFile, j.dump(2) + "\n");
    out.commit();
}

FusionGate FusionGate::load(const fs::path& dir)
{
    const fs::path cfgPath = dir / kGateConfigFile, wPath = dir / kGateWeightsFile;
    if (!fs::is_regular_file(cfgPath))
        throw Error("'" + dir.string() + "' is not a gate folder: " + kGateConfigFile + " is missing");
    if (!fs::is_regular_file(wPath))
        throw Error("gate folder '" + dir.string() + "': " + kGateWeightsFile + " is missing");
    ordered_json j;
    try {
        j = ordered_json::parse(readFile(cfgPath));
    } catch (const nlohmann::json::exception& e) {
        throw Error(cfgPath.string() + ": not valid JSON (" + jsonErrorText(e) + ")");
    }
    auto field = [&](const char* key) -> const ordered_json& {
        if (!j.contains(key))
            throw Error(cfgPath.string() + ": field \"" + key + "\" is missing");
        return j[key];
    };
    if (!field("format").is_string() || field("format").get<std::string>() != kFormat)
        throw Error(cfgPath.string() + ": \"format\" is not \"" + kFormat + "\"");
    FusionGate g;
    try {
        g.m_hiddenSize = field("hidden_size").get<int64_t>();
        g.m_hidden = field("gate_hidden").get<int>();
        for (const auto& a : field("adapters"))
            g.m_adapters.push_back({a.at("name").get<std::string>(), a.value("label", ""), a.at("path").get<std::string>(),
                                    a.value("sha256", "")});
        if (j.contains("training")) {
            const auto& t = j["training"];
            g.m_stats.steps = t.value("steps", 0);
            g.m_stats.examples = t.value("examples", int64_t(0));
            g.m_stats.firstLoss = t.value("first_loss", 0.0);
            g.m_stats.finalLoss = t.value("final_loss", 0.0);
            g.m_stats.seconds = t.value("seconds", 0.0);
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(cfgPath.string() + ": " + jsonErrorText(e));
    }
    for (const auto& [k, v] : j.items())
        if (k != "format" && k != "version" && k != "pooling" && k != "hidden_size" && k != "gate_hidden" && k != "output"
            && k != "adapters" && k != "training")
            g.m_info[k] = v;
    if (g.m_adapters.size() < 2)
        throw Error(cfgPath.string() + ": \"adapters\" must name 2 or more adapters");
    const auto n = int64_t(g.m_adapters.size()), H = g.m_hiddenSize;
    const int64_t in = g.m_hidden > 0 ? g.m_hidden : H;
    auto tensors = models::loadSafeTensorsMap(wPath);
    auto take = [&](const std::string& name, std::vector<int64_t> shape) {
        auto it = tensors.find(name);
        if (it == tensors.end())
            throw Error(wPath.string() + ": tensor '" + name + "' is missing");
        if (it->second.sizes().vec() != shape)
            throw Error(wPath.string() + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected "
                        + c10::str(c10::IntArrayRef(shape)));
        auto t = it->second.to(torch::kFloat32).clone();
        if (!torch::isfinite(t).all().item<bool>())
            throw Error(wPath.string() + ": tensor '" + name + "' holds non-finite values");
        return t;
    };
    g.m_featMean = take("feature.mean", {H});
    g.m_featStd = take("feature.std", {H});
    if (g.m_hidden > 0) {
        g.m_w1 = take("hidden.weight", {g.m_hidden, H});
        g.m_b1 = take("hidden.bias", {g.m_hidden});
    }
    g.m_w2 = take("out.weight", {n, in});
    g.m_b2 = take("out.bias", {n});
    return g;
}

GateTrainStats trainGate(FusionGate& gate, AdapterSet& set, const std::vector<TrainExample>& examples,
                         const GateTrainOptions& o, const GateProgress& progress)
{
    if (examples.empty())
        throw Error("no training rows for the gate");
    if (o.steps < 1)
        throw Error("gate training: steps must be >= 1, found " + std::to_string(o.steps));
    if (o.batchSize < 1)
        throw Error("gate training: batch size must be >= 1, found " + std::to_string(o.batchSize));
    if (o.maxSeqLen < 1)
        throw Error("gate training: max sequence length must be >= 1, found " + std::to_string(o.maxSeqLen));
    if (o.hidden < 0)
        throw Error("gate training: hidden width must be >= 0 (0: a linear gate), found " + std::to_string(o.hidden));
    if (!(std::isfinite(o.lr) && o.lr > 0.0))
        throw Error("gate training: learning rate must be a finite number > 0, found " + fmt(o.lr));
    if (!(std::isfinite(o.weightDecay) && o.weightDecay >= 0.0))
        throw Error("gate training: weight decay must be a finite number >= 0, found " + fmt(o.weightDecay));
    const auto names = set.adapterNames();
    for (const auto& a : gate.adapters())
        if (std::find(names.begin(), names.end(), a.name) == names.end())
            throw Error("the adapter set has no adapter named '" + a.name + "' for the gate");
    const auto started = std::chrono::steady_clock::now();
    auto& model = set.model();
    // Base and adapters frozen: only the gate learns.
    for (auto& p : model.parameters())
        p.set_requires_grad(false);
    model.eval(); // no adapter dropout: the gate sees the adapters as they will be used

    // The gate's input does not depend on the gate: pool every row once.
    const torch::Tensor features = pooledFeatures(set, examples, o.batchSize, o.maxSeqLen);
    gate.setFeatureStats(features.mean(0), examples.size() > 1 ? features.std(0) : torch::ones_like(features[0]));

    std::vector<AdamWParam> params;
    for (const auto& [name, t] : gate.parameters())
        params.push_back({name, t, 1.0, name.find("weight") != std::string::npos});
    AdamWOptions ao;
    ao.weightDecay = o.weightDecay;
    AdamW opt(params, ao);

    GateTrainStats s;
    s.examples = int64_t(examples.size());
    std::vector<size_t> order;
    size_t cursor = 0;
    int epoch = 0;
    {
        ActiveSetGuard restore(set);
        for (int step = 0; step < o.steps; ++step) {
            std::vector<size_t> idx;
            while (idx.size() < std::min(size_t(o.batchSize), examples.size())) {
                if (cursor == order.size()) {
                    order = epochOrder(examples.size(), o.seed, epoch++, true);
                    cursor = 0;
                }
                idx.push_back(order[cursor++]);
            }
            const Batch b = collate(examples, idx, o.maxSeqLen);
            const auto w = gate.weights(features.index_select(0, torch::tensor(std::vector<int64_t>(idx.begin(), idx.end()))));
            gate.activate(set, w);
            const auto device = model.device();
            const auto hidden = model.hiddenStates(b.ids.to(device), b.mask.to(device));
            const auto ls = models::causalLmLossSum(hidden, *model.lmHead(), b.labels.to(device));
            if (ls.tokens == 0)
                continue;
            const torch::Tensor loss = ls.sum / double(ls.tokens);
            opt.zeroGrad();
            loss.backward();
            opt.step(o.lr);
            const double l = loss.item<double>();
            if (!std::isfinite(l))
                throw Error("gate training diverged at step " + std::to_string(step + 1) + " (loss " + fmt(l) + ")",
                            "lower --lr");
            if (s.steps == 0)
                s.firstLoss = l;
            s.finalLoss = l;
            ++s.steps;
            if (progress && !progress(step + 1, o.steps, l))
                throw Error("gate training cancelled at step " + std::to_string(step + 1) + " of " + std::to_string(o.steps));
        }
    }
    set.setActive({});
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    gate.stats() = s;
    return s;
}

GateEvaluation evaluateGate(const FusionGate& gate, AdapterSet& set, const std::vector<TrainExample>& examples, int batchSize,
                            int maxSeqLen)
{
    if (examples.empty())
        throw Error("no rows to evaluate the gate on");
    torch::NoGradGuard ng;
    auto& model = set.model();
    model.eval();
    GateEvaluation ev;
    for (const auto& a : gate.adapters())
        ev.adapters.push_back(a.label.empty() ? a.name : a.label);
    double sum = 0.0;
    for (size_t s = 0; s < examples.size(); s += size_t(batchSize)) {
        const Batch b = collate(examples, range(s, std::min(examples.size(), s + size_t(batchSize))), maxSeqLen);
        const auto w = gate.route(set, b.ids, b.mask);
        const auto losses = rowLosses(set, b);
        for (size_t r = 0; r < losses.size(); ++r) {
            GateExampleResult e;
            for (int64_t i = 0; i < w.size(1); ++i)
                e.weights.push_back(w[int64_t(r)][i].item<double>());
            const double rowSum = losses[r].sum.item<double>();
            e.tokens = losses[r].tokens;
            e.loss = e.tokens > 0 ? rowSum / double(e.tokens) : 0.0;
            sum += rowSum;
            ev.tokens += e.tokens;
            ev.examples.push_back(std::move(e));
        }
    }
    ev.loss = ev.tokens > 0 ? sum / double(ev.tokens) : 0.0;
    // The same rows with fixed weights, through the Evaluator.
    const auto n = gate.adapters().size();
    for (const auto& a : gate.adapters()) {
        set.setActive({{a.name, 1.0}});
        ev.singleLoss.push_back(evaluateLoss(model, examples, batchSize, maxSeqLen).loss);
    }
    std::vector<ActiveAdapter> uniform;
    for (const auto& a : gate.adapters())
        uniform.push_back({a.name, 1.0 / double(n)});
    set.setActive(uniform);
    ev.uniformLoss = evaluateLoss(model, examples, batchSize, maxSeqLen).loss;
    set.setActive({});
    return ev;
}

ordered_json GateEvaluation::toJson() const
{
    ordered_json j;
    j["adapters"] = adapters;
    j["loss"] = loss;
    j["tokens"] = tokens;
    j["single_adapter_loss"] = singleLoss;
    j["equal_weights_loss"] = uniformLoss;
    j["examples"] = ordered_json::array();
    for (size_t k = 0; k < examples.size(); ++k)
        j["examples"].push_back({{"index", k}, {"weights", examples[k].weights}, {"loss", examples[k].loss}, {"tokens", examples[k].tokens}});
    return j;
}

std::string GateEvaluation::toText(size_t maxExamples) const
{
    std::ostringstream o;
    o << "example";
    for (const auto& a : adapters)
        o << "  " << a;
    o << "  loss\n";
    for (size_t k = 0; k < examples.size() && k < maxExamples; ++k) {
        o << std::left << std::setw(7) << (k + 1);
        for (double w : examples[k].weights)
            o << "  " << std::fixed << std::setprecision(3) << w;
        o.unsetf(std::ios::floatfield);
        o << "  " << fmt(examples[k].loss) << "\n";
    }
    if (examples.size() > maxExamples)
        o << "... " << (examples.size() - maxExamples) << " more (--json lists all)\n";
    o << "gate loss            " << fmt(loss, 6) << "  (" << tokens << " tokens)\n";
    for (size_t i = 0; i < adapters.size() && i < singleLoss.size(); ++i)
        o << "alone: " << adapters[i] << "  " << fmt(singleLoss[i], 6) << "\n";
    o << "equal weights        " << fmt(uniformLoss, 6) << "\n";
    return o.str();
}

void checkGateAdapterFolder(const GateAdapter& a)
{
    if (!fs::is_directory(a.path))
        throw Error("gate adapter '" + (a.label.empty() ? a.name : a.label) + "': folder '" + a.path + "' does not exist");
    if (!a.sha256.empty()) {
        const std::string now = Sha256::directoryHex(a.path);
        if (now != a.sha256)
            throw Error("gate adapter '" + (a.label.empty() ? a.name : a.label) + "': folder '" + a.path
                            + "' changed since the gate was trained (sha256 " + now.substr(0, 12) + ", recorded "
                            + a.sha256.substr(0, 12) + ")",
                        "train the gate again on the adapters as they are now");
    }
}

void loadGateAdapters(const FusionGate& gate, AdapterSet& set)
{
    for (const auto& a : gate.adapters()) {
        checkGateAdapterFolder(a);
        loadPeftAdapter(set, a.path, a.name);
    }
    set.setActive({});
}

} // namespace rslora::engine::fusion
