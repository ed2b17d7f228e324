#pragma once
// `sprocket completion bash`: a bash completion script made from the command tree itself, so
// that a command or option added to main.cpp completes without anyone editing a list.
#include <string>

namespace CLI {
class App;
}

namespace sprocket::cli {

// Completes command names at each level (and the choices of a command's positionals, as
// secrets' add|update|list|delete) and, after "-", that command's options; anything else falls
// back to bash's file names.
std::string bash_completion(const CLI::App& app);

}  // namespace sprocket::cli
