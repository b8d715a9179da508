// Commands the CLI prints for the user to run again ("continue with: ..."): each word quoted so that
// a POSIX shell reads it back as it was.
#pragma once

#include <string>

namespace rslora::cli {

// The word as is when it holds only plain characters (letters, digits, _ . / = : , + - @ %), else in
// single quotes (a quote inside written '\'').
std::string shellWord(const std::string& word);

} // namespace rslora::cli
