#include "deploy/archive.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <vector>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace sprocket::deploy {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "SPROCKET-ARCHIVE-1\n";

bool excluded(const fs::path& relative) {
  for (const auto& part : relative) {
    std::string name = part.string();
    if (name == "node_modules" || (!name.empty() && name.front() == '.')) return true;
  }
  return false;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
bool get(std::string_view& in, std::uint64_t& v, int bytes) {
  if (in.size() < static_cast<std::size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(bytes);
  return true;
}

}  // namespace

Expected<std::string, std::string> pack_folder(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return Unexpected{fmt::format("{} is not a folder", folder.string())};
  std::string out(kMagic);
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::path relative = fs::relative(it->path(), folder, ec);
    if (excluded(relative)) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) files.push_back(relative);
  }
  std::sort(files.begin(), files.end());
  for (const auto& relative : files) {
    std::ifstream in(folder / relative, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    std::string data = content.str();
    struct stat st {};
    ::stat((folder / relative).c_str(), &st);
    std::string name = relative.generic_string();
    put_u32(out, static_cast<std::uint32_t>(name.size()));
    out += name;
    put_u32(out, static_cast<std::uint32_t>(st.st_mode & 0777));
    put_u64(out, data.size());
    out += data;
    if (out.size() > kMaxArchiveBytes) {
      return Unexpected{fmt::format("{} is over {} MB without node_modules; deploy code, not data", folder.string(),
                                    kMaxArchiveBytes / (1024 * 1024))};
    }
  }
  return out;
}

Expected<std::size_t, std::string> unpack_archive(std::string_view in, const fs::path& destination) {
  if (in.substr(0, kMagic.size()) != kMagic) return Unexpected{std::string("the upload is not a sprocket deploy archive")};
  in.remove_prefix(kMagic.size());
  // Even an empty upload makes a folder: validation then says it holds no functions, not that
  // the path does not exist.
  std::error_code created;
  fs::create_directories(destination, created);
  if (created) return Unexpected{fmt::format("cannot make a folder for the upload: {}", created.message())};
  std::size_t count = 0;
  while (!in.empty()) {
    std::uint64_t name_size = 0, mode = 0, size = 0;
    if (!get(in, name_size, 4) || in.size() < name_size) return Unexpected{std::string("the archive is truncated")};
    std::string name(in.substr(0, name_size));
    in.remove_prefix(name_size);
    if (!get(in, mode, 4) || !get(in, size, 8) || in.size() < size) return Unexpected{std::string("the archive is truncated")};
    fs::path relative(name);
    bool unsafe = relative.is_absolute() || name.empty();
    for (const auto& part : relative) unsafe = unsafe || part == "..";
    if (unsafe) return Unexpected{fmt::format("the archive holds an unsafe path \"{}\"", name)};
    fs::path target = destination / relative;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(in.data(), static_cast<std::streamsize>(size));
    if (!out) return Unexpected{fmt::format("cannot write {}", target.string())};
    out.close();
    // Readable by everyone: sandboxed workers run as uids of their own (docs/security.md), and a
    // deployed folder is read-only to them anyway. Execute bits are kept.
    ::chmod(target.c_str(), static_cast<mode_t>((mode & 0755) | 0444));
    in.remove_prefix(size);
    ++count;
  }
  // Folders inside as readable as the files, whatever the umask made them; `destination` itself
  // is the caller's to set (it stays private until it is moved into place).
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(destination, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
  }
  return count;
}

}  // namespace sprocket::deploy
