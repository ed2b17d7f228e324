// serverless.json, as users write it (both formats) and as `serve`, `dev` and deploys read it:
// the positioned JSON parser first, then validation. Nothing may crash, and every error must
// name a position inside the text it came from.
#include <algorithm>

#include "config/json_with_positions.h"
#include "config/serverless_json.h"
#include "fuzz_support.h"

namespace {
namespace fs = std::filesystem;
using namespace sprocket;

// The folder the functions live in, with code files for names the seeds use.
const fs::path& functions_folder() {
  static const fs::path folder =
      fuzz::folder_with_files("site.functions", {"index.js", "a.js", "b.js", "hello.js", "lib/util.js", "main.py"});
  return folder;
}

int line_count(std::string_view text) { return 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  auto doc = config::parse_json_with_positions(text);
  if (doc) {
    for (const auto& [pointer, position] : doc->value_positions) {
      if (position.line < 1 || position.line > line_count(text)) fuzz::fail("a value position past the text: " + pointer);
      (void)config::field_of_pointer(pointer);
      (void)doc->key_position_of(pointer);
    }
  } else if (doc.error().offset > text.size()) {
    fuzz::fail("a syntax error offset past the text");
  }
  for (const char* project : {"", "my-project"}) {
    auto folder = config::parse_serverless_json(functions_folder(), text, project);
    if (folder) continue;
    for (const auto& error : folder.error()) {
      if (error.line > line_count(text)) fuzz::fail("an error on a line past the text: " + error.message);
      if (error.message.empty()) fuzz::fail("an error without a message");
    }
  }
  return 0;
}
