// actions.json (workflow custom-code action definitions): parsed and validated as `serve`,
// deploys and `actions check` do. Nothing may crash; every error names a position in the text.
#include <algorithm>

#include "config/action_spec.h"
#include "fuzz_support.h"

namespace {
namespace fs = std::filesystem;
using namespace sprocket;

const fs::path& actions_folder() {
  static const fs::path folder = fuzz::folder_with_files("crm.actions", {"enrich.js", "score.py", "a.js", "index.js"});
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  auto actions = config::parse_actions_json(actions_folder(), text);
  if (actions) {
    for (const auto& action : *actions) {
      if (action.input_fields.size() > config::kMaxActionInputFields) fuzz::fail("an action with too many input fields was accepted");
      if (action.file.string().rfind(actions_folder().string(), 0) != 0) fuzz::fail("an action's file outside its folder: " + action.file.string());
    }
    return 0;
  }
  int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  for (const auto& error : actions.error()) {
    if (error.line > lines) fuzz::fail("an error on a line past the text: " + error.message);
    if (error.message.empty()) fuzz::fail("an error without a message");
  }
  return 0;
}
