#include "config/folder_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <stdexcept>

namespace sprocket::config {
namespace fs = std::filesystem;

namespace {
constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB;

bool ignored(const fs::path& dir) {
  std::string name = dir.filename().string();
  return name == "node_modules" || (!name.empty() && name.front() == '.' && name != "." && name != "..");
}
}  // namespace

FolderWatcher::FolderWatcher(boost::asio::io_context& io, std::vector<fs::path> roots, Changed changed, std::chrono::milliseconds settle)
    : stream_(io), settle_timer_(io), settle_(settle), changed_(std::move(changed)) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("inotify is not available");
  stream_.assign(fd_);
  for (const auto& root : roots) add_tree(root);
  read();
}

FolderWatcher::~FolderWatcher() {
  boost::system::error_code ignored;
  stream_.close(ignored);
}

void FolderWatcher::add_tree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || ignored(dir)) return;
  int wd = ::inotify_add_watch(fd_, dir.c_str(), kEvents);
  if (wd >= 0) watches_[wd] = dir;
  for (const auto& entry : fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
    if (entry.is_directory(ec)) add_tree(entry.path());
  }
}

void FolderWatcher::read() {
  stream_.async_read_some(boost::asio::buffer(buffer_), [this](boost::system::error_code ec, std::size_t n) {
    if (ec) return;
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= n;) {
      auto* event = reinterpret_cast<const inotify_event*>(buffer_.data() + offset);
      offset += sizeof(inotify_event) + event->len;
      auto dir = watches_.find(event->wd);
      if (dir == watches_.end()) continue;
      fs::path path = event->len ? dir->second / event->name : dir->second;
      if (ignored(path.filename()) && (event->mask & IN_ISDIR)) continue;
      if ((event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_MOVED_TO))) add_tree(path);
      pending_.insert(path);
    }
    if (!pending_.empty()) {
      settle_timer_.expires_after(settle_);
      settle_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || pending_.empty()) return;
        auto files = std::move(pending_);
        pending_.clear();
        changed_(std::move(files));
      });
    }
    read();
  });
}

}  // namespace sprocket::config
