#pragma once
// The bundle `sprocket deploy` uploads: every file of a functions folder or project, but not
// node_modules (installed on the server), hidden files and folders, or .env files (local
// secrets stay local).
#include <filesystem>
#include <string>
#include <string_view>

#include "util/expected.h"

namespace sprocket::deploy {

Expected<std::string, std::string> pack_folder(const std::filesystem::path& folder);
// Writes the files under `destination`; refuses entries that would land outside it.
Expected<std::size_t, std::string> unpack_archive(std::string_view archive, const std::filesystem::path& destination);

inline constexpr std::size_t kMaxArchiveBytes = 64 * 1024 * 1024;

}  // namespace sprocket::deploy
