// The deploy archive reader: what a client uploads to POST /v1/deployments is unpacked into a
// fresh folder. Whatever the bytes, nothing crashes and nothing is written outside that folder.
#include <system_error>

#include "deploy/archive.h"
#include "fuzz_support.h"

namespace {
namespace fs = std::filesystem;
using namespace sprocket;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path root = fuzz::scratch_folder() / "upload";
  const fs::path destination = root / "bundle";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root, ec);
  auto unpacked = deploy::unpack_archive(fuzz::as_text(data, size), destination);
  if (!unpacked && unpacked.error().empty()) fuzz::fail("a refused archive without a reason");
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path != destination && path.string().rfind(destination.string() + "/", 0) != 0) {
      fuzz::fail("the archive wrote outside its folder: " + path.string());
    }
    if (it->is_symlink(ec)) fuzz::fail("the archive made a symbolic link: " + path.string());
  }
  return 0;
}
