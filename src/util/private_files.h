#pragma once
// Files and folders only the user sprocket runs as may read: folders 0700, files 0600, whatever
// the umask (which can only take bits away, and may be 022 or even 0 under a service manager).
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <system_error>

#include "util/unique_fd.h"

namespace sprocket::util {

inline constexpr mode_t kPrivateDirMode = 0700;
inline constexpr mode_t kPrivateFileMode = 0600;

// Creates `dir` and its missing parents; those it creates get 0700.
void create_private_directories(const std::filesystem::path& dir, std::error_code& ec);

// Opens `file` with O_CREAT and `flags`; a file it creates is 0600 (fchmod: the umask does not
// decide). Invalid on failure, with errno set.
UniqueFd open_private_file(const std::filesystem::path& file, int flags);

// Creates `file` (0600) holding `contents`, whole or not at all: written and synced under a
// temporary name of this process's own, then linked into place. A crash at any moment (kill -9,
// a power cut) leaves no file or the complete one, never an empty or partial file that the next
// start would take for the real thing. False, with errno EEXIST, when `file` exists (another
// process made it first: it stays as it is); false with errno set when it cannot be written.
bool create_whole_private_file(const std::filesystem::path& file, std::string_view contents);

// Removes the temporary files create_whole_private_file left in `dir` when its process was
// killed while writing (FILE.partial-PID of a pid no longer running: they may hold a key or a
// token that was never used); returns their names.
std::vector<std::string> remove_abandoned_partial_files(const std::filesystem::path& dir);

// Narrows `path` to `mode` when group or others may use it; the mode it had, when it did.
std::optional<mode_t> tighten_permissions(const std::filesystem::path& path, mode_t mode, std::error_code& ec);

std::string mode_text(mode_t mode);  // "0755"

}  // namespace sprocket::util
