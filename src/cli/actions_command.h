#pragma once
// `sprocket actions check [PATH]`: validates workflow custom-code action definitions.
#include <string>

namespace sprocket::cli {

int run_actions_check(const std::string& path);

}  // namespace sprocket::cli
