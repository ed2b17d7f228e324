#include "cli/dependency_progress.h"

#include <unistd.h>

#include <fmt/format.h>
#include <optional>

#include "runtime/dependencies.h"

namespace sprocket::cli {

namespace {

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;  // a closed stderr: progress is not worth failing for
    done += static_cast<std::size_t>(n);
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ProgressLine::ProgressLine(std::string what, int fd)
    : what_(std::move(what)), fd_(fd), terminal_(::isatty(fd) == 1), started_(std::chrono::steady_clock::now()) {
  if (terminal_) {
    spinner_ = std::thread([this] { turn(); });
  } else {
    write_all(fd_, fmt::format("sprocket: {}…\n", what_));
  }
}

ProgressLine::~ProgressLine() {
  if (!done_) finish("stopped");
}

void ProgressLine::finish(const std::string& outcome) {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
  }
  wake_.notify_all();
  if (spinner_.joinable()) spinner_.join();
  // "\r\x1b[K": back to the start of the turning line and clear it, so the outcome replaces it.
  write_all(fd_, fmt::format("{}sprocket: {}: {} ({:.1f} s)\n", terminal_ ? "\r\x1b[K" : "", what_, outcome, seconds_since(started_)));
}

void ProgressLine::turn() {
  static constexpr const char* kFrames[] = {"|", "/", "-", "\\"};
  std::unique_lock lock(mutex_);
  for (unsigned frame = 0; !done_; ++frame) {
    write_all(fd_, fmt::format("\r\x1b[K{} sprocket: {}… {:.0f} s", kFrames[frame % 4], what_, seconds_since(started_)));
    // A frame every 125 ms, or at once when the install ends.
    wake_.wait_for(lock, std::chrono::milliseconds(125), [this] { return done_; });
  }
}

Expected<void*, std::string> install_node_dependencies(const config::Catalog& catalog) {
  for (const auto& folder : config::node_code_folders(catalog)) {
    std::optional<ProgressLine> progress;
    auto installed = runtime::install_dependencies(folder, "/usr/bin/npm", [&] {
      progress.emplace(fmt::format("installing the dependencies of {} (npm install)", folder.string()));
    });
    if (!installed) {
      if (progress) progress->finish("failed");
      return Unexpected{installed.error()};
    }
    if (progress) progress->finish("installed");
  }
  return nullptr;
}

}  // namespace sprocket::cli
