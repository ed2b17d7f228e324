#pragma once
// A child process started with a socketpair on its fd 3 and pipes on stdout/stderr; RAII:
// destroying the handle kills the whole process group.
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace sprocket::runtime {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is the executable path (no PATH search)
  std::vector<std::string> env;   // complete environment, "NAME=value"
  std::filesystem::path cwd;
  std::vector<std::string> cgroup_procs_files;  // cgroups the child joins before it runs anything (at most 2)
};

class ChildProcess {
 public:
  // Starts the process; throws std::system_error when it cannot be created.
  static ChildProcess start(const ProcessSpec& spec);

  ChildProcess() = default;
  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  util::UniqueFd& control_socket() { return control_; }  // our end of the socketpair
  util::UniqueFd& stdout_pipe() { return stdout_; }
  util::UniqueFd& stderr_pipe() { return stderr_; }
  util::UniqueFd& exit_fd() { return pidfd_; }  // readable once the process has exited (a hint: see still_running)

  void kill_group();                // SIGKILL to the process and everything it started
  bool still_running() const;       // the kernel's word (waitid): not exited (an unreaped exit is not running)
  bool reap(int& wait_status);      // true once the exit status has been collected
  bool reaped() const { return reaped_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  util::UniqueFd control_;
  util::UniqueFd stdout_;
  util::UniqueFd stderr_;
  util::UniqueFd pidfd_;
  std::shared_ptr<void> lease_;  // what the process holds while it lives (e.g. its sandbox uid)

 public:
  // Keeps `lease` until this process has been killed and reaped.
  void hold(std::shared_ptr<void> lease) { lease_ = std::move(lease); }
};

std::string describe_wait_status(int wait_status);

// Runs `child(argument)` in a new process that borrows this one's memory until it execs or
// exits (clone with CLONE_VM | CLONE_VFORK, every signal blocked meanwhile, so none of this
// process's handlers runs in it); returns once it has, with its pid (-1 and errno when clone
// fails; std::system_error when no stack can be mapped for it).
// The child may only make system calls: it must not allocate, lock, or return from `child`
// into this process's code except by _exit.
pid_t clone_borrowing_memory(int (*child)(void*), void* argument);

inline constexpr int kExitCannotJoinCgroup = 125;

}  // namespace sprocket::runtime
