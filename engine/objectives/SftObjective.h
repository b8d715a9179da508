// Next-token loss on response tokens (the prompt masked by the labels): the loss of a step is the
// sum over its supervised tokens divided by their count over all of its micro-batches, so that
// gradient accumulation gives the gradient of one large batch.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/TrainData.h"
#include "engine/objectives/Objective.h"
#include "models/CausalLM.h"

namespace rslora::engine::objectives {

class SftObjective : public Objective {
public:
    SftObjective(const TrainConfig& config, models::CausalLM& model, std::vector<TrainExample> train,
                 std::vector<TrainExample> validation);

    const char* name() const override { return "sft"; }
    size_t trainCount() const override { return m_train.size(); }
    bool hasValidation() const override { return !m_validation.empty(); }
    StepOutcome step(const std::vector<std::vector<size_t>>& microBatches) override;
    double stepNormaliser(const std::vector<std::vector<size_t>>& microBatches) const override;
    EvalOutcome evaluate(int64_t step) override;
    torch::Tensor probeLoss(const std::vector<size_t>& indices) override;

private:
    struct Batch {
        torch::Tensor ids, mask, labels;
        int64_t tokens = 0; // non-padding input tokens
    };
    Batch collate(const std::vector<size_t>& indices, const std::vector<TrainExample>& examples) const;

    int m_maxSeqLen;
    int m_batchSize;
    int m_chunkTokens;
    models::CausalLM& m_model;
    std::vector<TrainExample> m_train, m_validation;
    int64_t m_padId = 0;
};

} // namespace rslora::engine::objectives
