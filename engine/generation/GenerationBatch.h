// A running batch of the generation session, one decoding step at a time: requests join between
// steps (their prompts are prefilled and their keys/values appended to the running cache, left-
// padded), rows leave as they finish. This is continuous batching; GenerationSession::generate and
// GenerationScheduler drive it.
#pragma once

#include "engine/generation/GenerationTypes.h"

#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

namespace rslora::engine {

class GenerationSession;

class GenerationBatch {
public:
    explicit GenerationBatch(GenerationSession& session);
    ~GenerationBatch();
    GenerationBatch(const GenerationBatch&) = delete;
    GenerationBatch& operator=(const GenerationBatch&) = delete;

    // A request that left the batch: its output, or the error that ended it.
    struct Ended {
        int64_t id = 0;
        GenerationOutput output;
        std::exception_ptr error;  // set: the request failed, `output` holds what it had
    };

    // Validates `request` (throws rslora::Error) and queues it to join at the next step; returns
    // its id in this batch.
    int64_t add(GenerationRequest request);
    // One step under the session's lock: a token for every running row, then the prefill (and a
    // first token) of the rows that joined. The prefill reads the prompts in chunks
    // (models::kPrefillChunk tokens) and stops between two when every joining row is cancelled: those
    // rows end cancelled without a token. Returns the requests that ended, by id. A failure that
    // belongs to one row (its logits are NaN, e.g. from its adapter; its callback throws) ends that
    // row with the error and the other rows go on exactly as without it. A failure of the forward
    // itself throws, and leaves the batch unusable.
    std::vector<Ended> step();
    bool empty() const;
    // Rows running or waiting to join.
    size_t size() const;

private:
    struct Row;
    struct State;
    GenerationSession& m_session;
    std::unique_ptr<State> m_state;
};

} // namespace rslora::engine
