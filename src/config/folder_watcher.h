#pragma once
// Watches folders (recursively, node_modules and hidden folders aside) with inotify and reports
// a burst of changes once it has settled, so that an editor's save-rename-chmod is one change.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace sprocket::config {

class FolderWatcher {
 public:
  // `changed` receives the files that changed (paths may repeat no more than once).
  using Changed = std::function<void(std::set<std::filesystem::path> files)>;

  FolderWatcher(boost::asio::io_context& io, std::vector<std::filesystem::path> roots, Changed changed,
                std::chrono::milliseconds settle = std::chrono::milliseconds(60));
  ~FolderWatcher();

 private:
  void add_tree(const std::filesystem::path& dir);
  void read();

  int fd_ = -1;
  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer settle_timer_;
  std::chrono::milliseconds settle_;
  Changed changed_;
  std::map<int, std::filesystem::path> watches_;
  std::set<std::filesystem::path> pending_;
  std::array<char, 16384> buffer_{};
};

}  // namespace sprocket::config
