// The bytes LibTorch's CPU tensors hold, current and peak, while a meter is alive: it puts a counting
// allocator in front of LibTorch's CPU allocator and takes it out again when destroyed. Unlike the
// process's peak RSS it sees only tensors, it can be reset between cases, and memory that malloc
// keeps after a free does not hide a later peak: what activation checkpointing saves shows here.
#pragma once

#include <cstdint>

namespace rslora::engine {

class CpuAllocationMeter {
public:
    CpuAllocationMeter();
    ~CpuAllocationMeter();
    CpuAllocationMeter(const CpuAllocationMeter&) = delete;
    CpuAllocationMeter& operator=(const CpuAllocationMeter&) = delete;

    // Bytes of tensors allocated while a meter was alive and not yet freed.
    int64_t currentBytes() const;
    // The most currentBytes() reached since construction or the last resetPeak().
    int64_t peakBytes() const;
    void resetPeak();
};

} // namespace rslora::engine
