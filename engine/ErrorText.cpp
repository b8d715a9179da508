// Messages of exceptions (see ErrorText.h).
#include "engine/ErrorText.h"

#include "common/Error.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <filesystem>
#include <new>
#include <regex>

namespace rslora::engine {

namespace {

std::string withoutBacktrace(const std::exception& e)
{
    if (const auto* c = dynamic_cast<const c10::Error*>(&e))
        return c->what_without_backtrace();
    std::string what = e.what();
    // Errors that passed through another exception type keep LibTorch's frames after the message.
    for (const char* marker : {"\nException raised from ", "\nframe #0"})
        if (const size_t at = what.find(marker); at != std::string::npos)
            what.erase(at);
    return what;
}

std::string sizeText(double bytes)
{
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 5) {
        bytes /= 1024.0;
        ++u;
    }
    char text[48];
    std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return text;
}

} // namespace

bool isOutOfMemory(const std::exception& e)
{
    if (dynamic_cast<const std::bad_alloc*>(&e) || dynamic_cast<const c10::OutOfMemoryError*>(&e))
        return true;
    const std::string what = e.what();
    return what.find("out of memory") != std::string::npos || what.find("Out of memory") != std::string::npos
        || what.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos;
}

std::string errorText(const std::exception& e)
{
    if (const auto* own = dynamic_cast<const Error*>(&e))
        return own->fullMessage();
    // The library's "filesystem error: status: Too many levels of symbolic links [/x]": the path first,
    // then the reason, as the program's own messages say it.
    if (const auto* fs = dynamic_cast<const std::filesystem::filesystem_error*>(&e)) {
        std::string text = fs->path1().empty() ? std::string() : fs->path1().string() + ": ";
        text += fs->code().message();
        if (fs->code() == std::errc::too_many_symbolic_link_levels)
            text += " (a symbolic link that leads back to itself)";
        if (!fs->path2().empty())
            text += " (and " + fs->path2().string() + ")";
        return text;
    }
    std::string text = withoutBacktrace(e);
    if (!isOutOfMemory(e))
        return text;
    static const std::regex asked("tried to allocate ([0-9]+) bytes");
    std::smatch m;
    std::string what = "out of memory";
    if (std::regex_search(text, m, asked))
        what += ": could not allocate " + sizeText(std::stod(m[1].str())) + " more";
    if (text.find("DefaultCPUAllocator") != std::string::npos)
        what += " (main memory)";
    else if (text.rfind("out of memory", 0) != 0)
        what += " (" + text.substr(0, text.find('\n')) + ")";
    return what + "\nhint: lower training.batch_size or data.max_seq_len, turn on training.gradient_checkpointing, "
                  "or hold the base in 4 bits (model.quantization nf4)";
}

} // namespace rslora::engine
