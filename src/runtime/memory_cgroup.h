#pragma once
// Kernel-enforced limits per worker: one memory cgroup each (and a pids cgroup, bounding the
// processes and threads it may have), under parent cgroups this gateway owns. cgroup v2 where
// its memory controller is available, else v1. Every process a worker starts is in them, so
// all of them end with the worker, and with the gateway at its next start if it was killed.
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
  // `pids_dir`: the worker's cgroup in v1's pids hierarchy; empty on v2 (`dir` has both
  // controllers) and where there is no pids controller.
  WorkerCgroup(std::filesystem::path dir, std::filesystem::path pids_dir, bool v2, std::shared_ptr<MemoryCgroups> parent)
      : dir_(std::move(dir)), pids_dir_(std::move(pids_dir)), v2_(v2), parent_(std::move(parent)) {}
  ~WorkerCgroup();  // kills what is left in it (detached children) and removes it
  WorkerCgroup(const WorkerCgroup&) = delete;
  WorkerCgroup& operator=(const WorkerCgroup&) = delete;

  std::vector<std::string> procs_files() const;  // a process joins by writing its pid into each
  bool oom_killed() const;         // the kernel killed something in it for exceeding the limit
  std::size_t peak_bytes() const;  // highest usage seen
  std::size_t usage_bytes() const;  // what the kernel charges to it now
  std::size_t mapped_file_bytes() const;  // of that, file pages mapped by its processes
  // Moves the limit (no swap either way); false if the kernel refused.
  bool set_limit_bytes(std::size_t limit_bytes);

 private:
  std::filesystem::path dir_;
  std::filesystem::path pids_dir_;
  bool v2_;
  std::shared_ptr<MemoryCgroups> parent_;  // removed after the last of its children
};

class MemoryCgroups : public std::enable_shared_from_this<MemoryCgroups> {
 public:
  // Creates this gateway's parent cgroup (removing ones left by gateways that were killed);
  // nullptr (and `why`) where no writable memory controller is mounted.
  static std::shared_ptr<MemoryCgroups> create(std::string& why);
  ~MemoryCgroups();

  // A cgroup limited to `limit_bytes` (no swap) and, where the pids controller is there, to
  // `max_processes` processes and threads; nullptr if the kernel refused.
  std::unique_ptr<WorkerCgroup> make_worker_cgroup(const std::string& name, std::size_t limit_bytes,
                                                   int max_processes = kDefaultMaxProcesses);
  std::string describe() const;
  bool limits_processes() const { return v2_ ? pids_v2_ : !pids_dir_.empty(); }
  static constexpr int kDefaultMaxProcesses = 256;  // per instance, its threads included
  // A worker cgroup that was still busy when its worker went: removed at a later chance.
  void remove_later(std::filesystem::path dir);

 private:
  void remove_leftovers();
  MemoryCgroups(std::filesystem::path dir, bool v2) : dir_(std::move(dir)), v2_(v2) {}
  void set_up_pids();
  std::filesystem::path dir_;
  std::filesystem::path pids_dir_;  // v1: this gateway's parent in the pids hierarchy
  bool v2_;
  bool pids_v2_ = false;            // v2: the pids controller is enabled for the workers' cgroups
  std::mutex leftovers_mutex_;
  std::vector<std::filesystem::path> leftovers_;
};

}  // namespace sprocket::runtime
