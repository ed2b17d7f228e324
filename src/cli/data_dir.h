#pragma once
// The data directory: private to the user sprocket runs as (it holds the secret key, the admin
// token and every log), and served by one server at a time.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/expected.h"
#include "util/unique_fd.h"

namespace sprocket::cli {

// Creates `dir` (0700) or narrows what an earlier version, a copy or a hand left looser: the
// folder and its folders 0700, its files 0600. The notes say what was narrowed, for the log.
Expected<std::vector<std::string>, std::string> prepare_data_dir(const std::filesystem::path& dir);

// How long a server waits for another one's lock: a server killed a moment ago (kill -9) may not
// have let go of it yet.
inline constexpr std::chrono::seconds kDataDirLockPatience{5};

// The flock on DATA_DIR/serve.lock, held while this object lives (and by the kernel only as long
// as the process does, however it ends).
class DataDirLock {
 public:
  // Waits up to `patience` for the lock; `waiting` is told once, with the holder, if it must wait.
  // The error names the holder when it can be known.
  static Expected<DataDirLock, std::string> acquire(const std::filesystem::path& dir, std::chrono::milliseconds patience,
                                                    const std::function<void(const std::string&)>& waiting);

 private:
  explicit DataDirLock(util::UniqueFd fd) : fd_(std::move(fd)) {}
  util::UniqueFd fd_;
};

// Who holds the flock on `lock_file` ("pid 1234 (sprocket serve …)"), from /proc/locks, else from
// the pid the holder wrote into the file; nullopt when neither says.
std::optional<std::string> lock_holder(const std::filesystem::path& lock_file);

}  // namespace sprocket::cli
