// One named adapter of one linear module: its factors A [r,in] and B [out,r] (or, for the random
// subspace parameterization, the 2k coefficients over frozen seeded bases), its scale and dropout.
// Only AdaptedLinear runs the adapter math; this class owns the parameters and their init.
#pragma once

#include "engine/AdapterConfig.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace rslora::engine {

// Resolved options of one adapter on one module.
struct AdapterSpec {
    int rank = 8;
    double alpha = 16.0;
    ScalingMode scaling = ScalingMode::AlphaOverSqrtR;
    InitMode init = InitMode::Lora;
    double initSigma = 0.02;
    bool randomizedSvd = false;
    int svdIterations = 4;
    double dropout = 0.0;
    Parameterization parameterization = Parameterization::Full;
    int subspaceDim = 16;
    uint64_t projectionSeed = 0;
    uint64_t initSeed = 0;
    // false: the factors start as zeros because the caller sets them next (loading a saved adapter),
    // which spares drawing an init that would be overwritten.
    bool drawInit = true;
    // The factors' dtype; unset: models::PrecisionPolicy's default for the base weight's dtype
    // (float32 master weights on a 16-bit base).
    std::optional<torch::ScalarType> dtype;

    double scale() const;
};

// A stable 64-bit hash of a string (FNV-1a), for seeds derived from module names.
uint64_t stableHash(const std::string& s, uint64_t seed = 0);

class LoraAdapterImpl : public torch::nn::Module {
public:
    // `weight` is the frozen base weight [out, in] (needed by spectral init; not modified here).
    LoraAdapterImpl(std::string moduleName, std::string adapterName, const AdapterSpec& spec,
                    const torch::Tensor& weight);

    const std::string& adapterName() const { return m_adapterName; }
    const AdapterSpec& spec() const { return m_spec; }
    double scale() const { return m_scale; }
    int rank() const { return m_spec.rank; }

    // The effective factors (materialized from coefficients in random_subspace).
    torch::Tensor A() const;
    torch::Tensor B() const;
    // The trainable tensors behind A and B (A/B themselves, or the coefficient vectors a/b).
    torch::Tensor& factorA() { return m_spec.parameterization == Parameterization::Full ? m_A : m_a; }
    torch::Tensor& factorB() { return m_spec.parameterization == Parameterization::Full ? m_B : m_b; }
    // s · B A, [out, in].
    torch::Tensor deltaWeight() const;

    // Spectral init: the initial factors the base was reduced by (undefined otherwise).
    const torch::Tensor& initialA() const { return m_A0; }
    const torch::Tensor& initialB() const { return m_B0; }
    // The amount spectral init subtracts from the base weight (s · B0 A0); undefined otherwise.
    torch::Tensor baseCorrection() const;

    // Replaces A and B (full parameterization), e.g. when loading a PEFT folder.
    void setFactors(const torch::Tensor& A, const torch::Tensor& B);
    // Replaces the coefficients (random_subspace).
    void setCoefficients(const torch::Tensor& a, const torch::Tensor& b);
    void setInitialFactors(const torch::Tensor& A0, const torch::Tensor& B0);
    // The frozen bases [k, r, in] and [k, out, r], regenerated from the projection seed.
    const torch::Tensor& basesA() const { return m_PA; }
    const torch::Tensor& basesB() const { return m_PB; }

    // Makes the factors trainable or frozen (earlier stages stay frozen).
    void setTrainable(bool trainable);

    // A bias "lora_only" adapter loaded beside others: what it changes in the module's bias
    // (trained − base) [out], added with the adapter's weight wherever it is active, so the base's
    // bias stays as it was. Undefined (the default) when the adapter changes no bias.
    const torch::Tensor& biasDelta() const { return m_biasDelta; }
    void setBiasDelta(const torch::Tensor& delta);

private:
    void initFull(const torch::Tensor& weight);
    void initSubspace(const torch::Tensor& weight);

    std::string m_moduleName;
    std::string m_adapterName;
    AdapterSpec m_spec;
    double m_scale = 1.0;
    torch::Tensor m_A, m_B;   // full
    torch::Tensor m_a, m_b;   // random_subspace coefficients [k]
    torch::Tensor m_PA, m_PB; // random_subspace frozen bases (buffers, not saved)
    torch::Tensor m_A0, m_B0; // spectral initial factors
    torch::Tensor m_biasDelta; // bias "lora_only": trained − base bias (buffer, frozen)
};
TORCH_MODULE(LoraAdapter);

// Top-r SVD of W: U [out,r], S [r], V [in,r]; exact, or randomized (range finder + power iterations).
void truncatedSvd(const torch::Tensor& W, int r, bool randomized, int iterations, uint64_t seed,
                  torch::Tensor& U, torch::Tensor& S, torch::Tensor& V);

} // namespace rslora::engine
