#include "runtime/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <fmt/format.h>
#include <system_error>

namespace sprocket::runtime {
namespace {

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

ChildProcess ChildProcess::start(const ProcessSpec& spec) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw_errno("socketpair");
  util::UniqueFd ours(pair[0]), theirs(pair[1]);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
  util::UniqueFd out_read(out[0]), out_write(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe2");
  util::UniqueFd err_read(err[0]), err_write(err[1]);

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::string cwd = spec.cwd.string();
  const char* cgroup_procs = spec.cgroup_procs_file.empty() ? nullptr : spec.cgroup_procs_file.c_str();
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    // A worker must not outlive the gateway, even after kill -9 of the gateway.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::setsid();  // own process group: one kill() reaches whatever the function started
    // SCHED_BATCH: a worker woken by a frame does not preempt the gateway that sent it. The
    // gateway then finishes its turn (more frames, more responses) before the worker runs, so
    // one wake-up serves several requests; measured +15-20 % throughput on two cores. Best
    // effort: where the policy cannot be set, the worker runs as before.
    struct sched_param no_priority{};
    ::sched_setscheduler(0, SCHED_BATCH, &no_priority);
    if (cgroup_procs) {
      // Join the memory cgroup before exec, so that not one page escapes the limit.
      char digits[24];
      int n = 0;
      for (pid_t v = ::getpid(); v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
      char text[24];
      for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
      int fd = ::open(cgroup_procs, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, text, static_cast<std::size_t>(n)) != n) ::_exit(kExitCannotJoinCgroup);
      ::close(fd);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || ::dup2(devnull, 0) < 0) ::_exit(127);
    if (::dup2(out_write.get(), 1) < 0 || ::dup2(err_write.get(), 2) < 0 || ::dup2(theirs.get(), 3) < 0) ::_exit(127);
    ::close_range(4, ~0U, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }

  ChildProcess child;
  child.pid_ = pid;
  child.control_ = std::move(ours);
  child.stdout_ = std::move(out_read);
  child.stderr_ = std::move(err_read);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int saved = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    child.reaped_ = true;
    throw std::system_error(saved, std::generic_category(), "pidfd_open");
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  child.pidfd_.reset(pidfd);
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !reaped_) {
      kill_group();
      int status;
      ::waitpid(pid_, &status, 0);
    }
    pid_ = std::exchange(other.pid_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    control_ = std::move(other.control_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill_group();
    int status;
    ::waitpid(pid_, &status, 0);  // SIGKILL cannot be ignored: this returns promptly
  }
}

void ChildProcess::kill_group() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
}

bool ChildProcess::reap(int& wait_status) {
  if (reaped_) return true;
  siginfo_t info{};
  // Peek first: while the exited leader is a zombie its pid cannot be reused, so signalling the
  // group is safe, and whatever the function left running in it goes too.
  if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_) return false;
  ::kill(-pid_, SIGKILL);
  if (::waitpid(pid_, &wait_status, 0) != pid_) return false;
  reaped_ = true;
  return true;
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kExitCannotJoinCgroup) {
    return "could not join its memory cgroup";
  }
  if (WIFEXITED(wait_status)) return fmt::format("exited with code {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* name = sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{})", sig, name ? name : "?");
  }
  return "stopped";
}

}  // namespace sprocket::runtime
