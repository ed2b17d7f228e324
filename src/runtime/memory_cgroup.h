#pragma once
// Kernel-enforced memory limits: one memory cgroup per worker process, under a parent cgroup
// this gateway owns. cgroup v2 where its memory controller is available, else v1.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

namespace sprocket::runtime {

class MemoryCgroups;

class WorkerCgroup {
 public:
  WorkerCgroup(std::filesystem::path dir, bool v2, std::shared_ptr<MemoryCgroups> parent)
      : dir_(std::move(dir)), v2_(v2), parent_(std::move(parent)) {}
  ~WorkerCgroup();  // removes the cgroup (it must be empty by then)
  WorkerCgroup(const WorkerCgroup&) = delete;
  WorkerCgroup& operator=(const WorkerCgroup&) = delete;

  std::string procs_file() const;  // a process joins by writing its pid here
  bool oom_killed() const;         // the kernel killed something in it for exceeding the limit
  std::size_t peak_bytes() const;  // highest usage seen
  std::size_t usage_bytes() const;  // what the kernel charges to it now
  // Moves the limit (no swap either way); false if the kernel refused.
  bool set_limit_bytes(std::size_t limit_bytes);

 private:
  std::filesystem::path dir_;
  bool v2_;
  std::shared_ptr<MemoryCgroups> parent_;  // removed after the last of its children
};

class MemoryCgroups : public std::enable_shared_from_this<MemoryCgroups> {
 public:
  // Creates this gateway's parent cgroup (removing ones left by gateways that were killed);
  // nullptr (and `why`) where no writable memory controller is mounted.
  static std::shared_ptr<MemoryCgroups> create(std::string& why);
  ~MemoryCgroups();

  // A cgroup limited to `limit_bytes` (no swap); nullptr if the kernel refused.
  std::unique_ptr<WorkerCgroup> make_worker_cgroup(const std::string& name, std::size_t limit_bytes);
  std::string describe() const;
  // A worker cgroup that was still busy when its worker went: removed at a later chance.
  void remove_later(std::filesystem::path dir);

 private:
  void remove_leftovers();
  MemoryCgroups(std::filesystem::path dir, bool v2) : dir_(std::move(dir)), v2_(v2) {}
  std::filesystem::path dir_;
  bool v2_;
  std::mutex leftovers_mutex_;
  std::vector<std::filesystem::path> leftovers_;
};

}  // namespace sprocket::runtime
