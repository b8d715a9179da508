// Bucketed gradient all-reduce overlapped with backward (see GradientBuckets.h).
#include "engine/distributed/GradientBuckets.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <mutex>

namespace rslora::engine::distributed {

struct GradientBuckets::State {
    struct Bucket {
        std::vector<size_t> params; // indices into `params`
        size_t ready = 0;
        ProcessGroup::Pending pending;
        torch::Tensor flat;
    };

    std::mutex mutex;
    ProcessGroup* group = nullptr;
    std::vector<torch::Tensor> params;
    std::vector<size_t> bucketOf;     // per parameter
    std::vector<bool> seen;           // per parameter, this step
    std::vector<Bucket> buckets;
    // The accumulators hold the hooks (the autograd graph keeps them only weakly), with our hooks' keys.
    std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks;
    double weight = 1.0;
    std::optional<torch::ScalarType> wire; // the dtype the sums travel in
    bool armed = false;   // hooks start buckets
    size_t nextToStart = 0;
    int startedInBackward = 0;

    // Starts bucket `b`: its gradients (zeros where backward left none) times the weight, flattened.
    void start(size_t b)
    {
        torch::NoGradGuard ng;
        Bucket& bucket = buckets[b];
        std::vector<torch::Tensor> flat;
        for (size_t i : bucket.params) {
            const auto& p = params[i];
            const auto& g = p.grad();
            flat.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({p.numel()}, p.options()));
        }
        bucket.flat = torch::cat(flat).mul_(weight);
        if (wire && bucket.flat.scalar_type() != *wire)
            bucket.flat = bucket.flat.to(*wire);
        bucket.pending = group->startAllReduceSum({bucket.flat}, "gradient all-reduce");
    }

    // Starts every bucket whose gradients are all ready, in order (mutex held).
    void startReadyInOrder()
    {
        while (nextToStart < buckets.size() && buckets[nextToStart].ready == buckets[nextToStart].params.size()) {
            start(nextToStart++);
            ++startedInBackward;
        }
    }

    void removeHooks()
    {
        for (auto& [acc, key] : hooks)
            acc->del_post_hook(key);
        hooks.clear();
    }

    void onGradientAccumulated(size_t i)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!armed || seen[i])
            return;
        seen[i] = true;
        ++buckets[bucketOf[i]].ready;
        startReadyInOrder();
    }
};

GradientBuckets::GradientBuckets(ProcessGroup& group, int64_t bucketElements, std::optional<torch::ScalarType> wire)
    : m_group(group), m_bucketElements(std::max<int64_t>(1, bucketElements)), m_wire(wire)
{
}

GradientBuckets::~GradientBuckets()
{
    if (!m_state)
        return;
    std::lock_guard<std::mutex> lock(m_state->mutex);
    m_state->armed = false;
    for (auto& b : m_state->buckets)
        b.pending = {};
    m_state->removeHooks(); // a later backward of these parameters calls nothing of ours
}

void GradientBuckets::attach(const std::vector<AdamWParam>& params)
{
    if (m_state && m_state->params.size() == params.size()
        && std::equal(params.begin(), params.end(), m_state->params.begin(),
                      [](const AdamWParam& a, const torch::Tensor& b) { return a.param.is_same(b); }))
        return;
    if (m_state) {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        m_state->removeHooks();
    }
    auto state = std::make_shared<State>();
    state->group = &m_group;
    state->wire = m_wire;
    for (const auto& p : params)
        state->params.push_back(p.param);
    state->bucketOf.assign(params.size(), 0);
    state->seen.assign(params.size(), false);
    // Reverse order, at most m_bucketElements per bucket (a larger parameter gets one of its own).
    int64_t elements = 0;
    for (size_t k = params.size(); k-- > 0;) {
        const int64_t n = params[k].param.numel();
        if (state->buckets.empty() || (elements > 0 && elements + n > m_bucketElements)) {
            state->buckets.emplace_back();
            elements = 0;
        }
        state->buckets.back().params.push_back(k);
        state->bucketOf[k] = state->buckets.size() - 1;
        elements += n;
    }
    const std::weak_ptr<State> weak = state;
    for (size_t i = 0; i < params.size(); ++i) {
        const auto& p = params[i].param;
        if (!p.requires_grad() || !p.is_leaf())
            continue; // never accumulated by autograd: started after backward
        auto acc = torch::autograd::impl::grad_accumulator(p);
        const uintptr_t key = acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [weak, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
                if (auto s = weak.lock())
                    s->onGradientAccumulated(i);
                return outputs;
            }));
        state->hooks.emplace_back(std::move(acc), key);
    }
    m_state = std::move(state);
}

void GradientBuckets::arm(double weight, bool overlap)
{
    std::lock_guard<std::mutex> lock(m_state->mutex);
    m_state->weight = weight;
    m_state->armed = overlap;
    m_state->nextToStart = 0;
    m_state->startedInBackward = 0;
    std::fill(m_state->seen.begin(), m_state->seen.end(), false);
    for (auto& b : m_state->buckets)
        b.ready = 0;
}

void GradientBuckets::startRemaining()
{
    std::lock_guard<std::mutex> lock(m_state->mutex);
    m_state->armed = false;
    while (m_state->nextToStart < m_state->buckets.size())
        m_state->start(m_state->nextToStart++);
}

void GradientBuckets::finish()
{
    torch::NoGradGuard ng;
    for (auto& bucket : m_state->buckets) {
        bucket.pending.wait();
        int64_t offset = 0;
        for (size_t i : bucket.params) {
            auto p = m_state->params[i];
            const int64_t k = p.numel();
            auto part = bucket.flat.narrow(0, offset, k).view(p.sizes());
            if (p.grad().defined())
                p.mutable_grad().copy_(part);
            else
                p.mutable_grad() = part.to(p.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
            offset += k;
        }
        bucket.flat = torch::Tensor();
    }
}

int64_t GradientBuckets::bucketCount() const
{
    return m_state ? int64_t(m_state->buckets.size()) : 0;
}

int GradientBuckets::startedDuringBackward() const
{
    return m_state ? m_state->startedInBackward : 0;
}

} // namespace rslora::engine::distributed
