// An exception's message as a person should read it: LibTorch's errors carry their C++ backtrace
// in what() (forty lines of frames after the message), and a failed allocation reads as an
// "enforce fail" in alloc_cpu.cpp. Used wherever a message leaves the engine: the CLI's error
// line, the run's failure recorded in the store, the workbench's failure dialog.
#pragma once

#include <exception>
#include <string>

namespace rslora::engine {

// LibTorch reports a failed allocation as an error whose message says so (CUDA and CPU alike).
bool isOutOfMemory(const std::exception& e);

// The message without a backtrace. A failed allocation becomes "out of memory: ..." with the size
// asked for and what to change; an rslora::Error keeps its hint ("\nhint: ...").
std::string errorText(const std::exception& e);

} // namespace rslora::engine
