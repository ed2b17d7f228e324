#pragma once
// `sprocket dev` checks the JavaScript a change touched with `node --check` (which parses and
// runs nothing), so that a syntax error is reported when the file is saved, not at the next
// request that loads it.
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sprocket::cli {

// Node's own report ("FILE:LINE\n<the line>\n   ^\nSyntaxError: …"), or nullopt when it parses.
std::optional<std::string> javascript_syntax_error(const std::filesystem::path& node, const std::filesystem::path& file);

// The reports for the .js, .cjs and .mjs files among `changed` that still exist, node_modules aside.
std::vector<std::string> syntax_errors_in(const std::filesystem::path& node, const std::set<std::filesystem::path>& changed);

}  // namespace sprocket::cli
