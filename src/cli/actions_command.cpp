#include "cli/actions_command.h"

#include <filesystem>
#include <fmt/format.h>

#include "actions/action_spec.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

int run_actions_check(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> folders;
  if (fs::is_regular_file(fs::path(path) / "actions.json", ec)) {
    folders.push_back(path);
  } else {
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (it->is_directory(ec) && (name == "node_modules" || name.front() == '.')) {
        it.disable_recursion_pending();
        continue;
      }
      if (name == "actions.json") folders.push_back(it->path().parent_path());
    }
  }
  if (folders.empty()) {
    fmt::print(stderr, "sprocket: no actions.json under {}; see docs/actions.md for the format\n", path);
    return 2;
  }
  int status = 0;
  for (const auto& folder : folders) {
    auto actions = actions::load_actions_folder(folder);
    if (!actions) {
      fmt::print(stderr, "{}\n", config::format_errors(actions.error()));
      status = 2;
      continue;
    }
    for (const auto& a : *actions) {
      fmt::print("{}  {}  {}  inputs: {}  outputs: {}\n", a.name, a.language == actions::Language::Node ? "node" : "python",
                 fs::relative(a.file, folder).string(), a.input_fields.size(), a.output_fields.size());
    }
  }
  return status;
}

}  // namespace sprocket::cli
