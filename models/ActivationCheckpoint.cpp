// The recompute node of activation checkpointing (see ActivationCheckpoint.h).
#include "models/ActivationCheckpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace rslora::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor generatorState(at::Generator gen)
{
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
}

void setGeneratorState(at::Generator gen, const at::Tensor& state)
{
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
}

// What the recompute needs besides x: the block, its trainable tensors, and the generator states at
// the first forward (the CPU one always; the device's too for a CUDA block, where dropout draws there).
struct RecomputeState : torch::CustomClassHolder {
    CheckpointedBlock block;
    std::vector<torch::Tensor> params;
    bool xNeedsGrad = false;
    torch::Tensor cpuRng;
    torch::Tensor deviceRng;
    c10::Device device = c10::kCPU;
};

// Swaps the generators to the first forward's states for its lifetime, then puts back the states
// found at construction.
class GeneratorsAsAtForward {
public:
    explicit GeneratorsAsAtForward(const RecomputeState& s) : m_state(s)
    {
        auto cpu = at::detail::getDefaultCPUGenerator();
        m_cpu = generatorState(cpu);
        setGeneratorState(cpu, s.cpuRng);
        if (s.deviceRng.defined()) {
            auto dev = at::globalContext().defaultGenerator(s.device);
            m_device = generatorState(dev);
            setGeneratorState(dev, s.deviceRng);
        }
    }
    ~GeneratorsAsAtForward()
    {
        auto cpu = at::detail::getDefaultCPUGenerator();
        setGeneratorState(cpu, m_cpu);
        if (m_device.defined()) {
            auto dev = at::globalContext().defaultGenerator(m_state.device);
            setGeneratorState(dev, m_device);
        }
    }
    GeneratorsAsAtForward(const GeneratorsAsAtForward&) = delete;
    GeneratorsAsAtForward& operator=(const GeneratorsAsAtForward&) = delete;

private:
    const RecomputeState& m_state;
    torch::Tensor m_cpu, m_device;
};

// Edges: x, the params, then the state (a non-tensor argument, one gradient slot).
struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, torch::TensorList params,
                                 c10::intrusive_ptr<RecomputeState> state)
    {
        (void)params; // inputs only so that autograd routes their gradients through this node
        state->cpuRng = generatorState(at::detail::getDefaultCPUGenerator());
        if (x.is_cuda()) {
            state->device = x.device();
            state->deviceRng = generatorState(at::globalContext().defaultGenerator(x.device()));
        }
        torch::Tensor y;
        {
            // The same path as an ordinary forward; the graph it records dies with `out`.
            torch::AutoGradMode enable(true);
            const torch::Tensor out = state->block(x.detach().requires_grad_(state->xNeedsGrad));
            y = out.detach();
        }
        ctx->save_for_backward({x});
        ctx->saved_data["state"] = c10::IValue::make_capsule(state);
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs)
    {
        const auto holder = ctx->saved_data["state"].toCapsule(); // keeps the state alive through backward
        const auto* state = static_cast<const RecomputeState*>(holder.get());
        const torch::Tensor x = ctx->get_saved_variables()[0];
        const torch::Tensor xin = x.detach().requires_grad_(state->xNeedsGrad);
        torch::Tensor y;
        {
            GeneratorsAsAtForward generators(*state);
            torch::AutoGradMode enable(true);
            y = state->block(xin);
        }
        variable_list inputs;
        if (state->xNeedsGrad)
            inputs.push_back(xin);
        inputs.insert(inputs.end(), state->params.begin(), state->params.end());
        variable_list grads = torch::autograd::grad({y}, inputs, {gradOutputs[0]}, /*retain_graph=*/false,
                                                    /*create_graph=*/false, /*allow_unused=*/true);
        variable_list out;
        out.reserve(state->params.size() + 2);
        size_t next = 0;
        out.push_back(state->xNeedsGrad ? grads[next++] : torch::Tensor());
        for (size_t i = 0; i < state->params.size(); ++i)
            out.push_back(grads[next++]);
        out.push_back(torch::Tensor());
        return out;
    }
};

} // namespace

torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& x, const std::vector<torch::Tensor>& params)
{
    auto state = c10::make_intrusive<RecomputeState>();
    state->block = block;
    state->params = params;
    state->xNeedsGrad = x.requires_grad();
    return CheckpointFunction::apply(x, torch::TensorList(params), state);
}

} // namespace rslora::models
