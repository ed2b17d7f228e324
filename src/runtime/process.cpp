#include "runtime/process.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
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

namespace {

// Everything the child needs, prepared before it exists: between clone and exec it may only
// make system calls (it shares the gateway's memory and must not allocate or take locks).
struct ChildPlan {
  char** argv;
  char** envp;
  const char* cwd;           // may be empty
  const char* cgroup_procs[2];  // the cgroups to join (memory, pids); null where none
  pid_t parent;
  int stdin_fd, stdout_fd, stderr_fd, control_fd;  // become 0, 1, 2 and 3
  // Written by the child when a step fails, read by the parent once the child has exec'd or
  // exited (CLONE_VFORK suspends the parent until then).
  const char* failed_step = nullptr;
  int failed_errno = 0;
};

[[noreturn]] void child_fails(ChildPlan& plan, const char* step, int exit_code) {
  plan.failed_step = step;
  plan.failed_errno = errno;
  ::_exit(exit_code);
}

int run_child(void* arg) {
  ChildPlan& plan = *static_cast<ChildPlan*>(arg);
  // The gateway's signal handlers are not this process's: back to the defaults, then unblock
  // (the parent blocked every signal around clone, so none ran in between).
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler != SIG_IGN && current.sa_handler != SIG_DFL) {
      ::signal(sig, SIG_DFL);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // A worker must not outlive the gateway, even after kill -9 of the gateway.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != plan.parent) ::_exit(127);
  ::setsid();  // own process group: one kill() reaches whatever the function started
  // SCHED_BATCH: a worker woken by a frame does not preempt the gateway that sent it. The
  // gateway then finishes its turn (more frames, more responses) before the worker runs, so
  // one wake-up serves several requests; measured +15-20 % throughput on two cores. Best
  // effort: where the policy cannot be set, the worker runs as before.
  struct sched_param no_priority {};
  ::sched_setscheduler(0, SCHED_BATCH, &no_priority);
  // Join the cgroups before exec, so that not one page or process escapes the limits.
  for (const char* procs : plan.cgroup_procs) {
    if (!procs) continue;
    char digits[24];
    int n = 0;
    for (pid_t v = ::getpid(); v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    char text[24];
    for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
    int fd = ::open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, text, static_cast<std::size_t>(n)) != n) child_fails(plan, "join its cgroups", kExitCannotJoinCgroup);
    ::close(fd);
  }
  // First out of the way (any of them may already be 0-3), then into place: dup2 onto another
  // number also clears close-on-exec, which dup2 of a descriptor onto itself would not.
  int sources[4] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.control_fd};
  int high[4];
  for (int i = 0; i < 4; ++i) {
    high[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) child_fails(plan, "set up its descriptors", 127);
  }
  for (int i = 0; i < 4; ++i) {
    if (::dup2(high[i], i) < 0) child_fails(plan, "set up its descriptors", 127);
  }
  ::close_range(4, ~0U, 0);
  if (plan.cwd[0] != '\0' && ::chdir(plan.cwd) != 0) child_fails(plan, "enter its folder", 126);
  ::execve(plan.argv[0], plan.argv, plan.envp);
  child_fails(plan, "start", 127);
}

// Blocks every signal for its lifetime (the child is created with none able to run).
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

// The child's stack while it shares the gateway's memory (until exec).
class ChildStack {
 public:
  static constexpr std::size_t kSize = 256 * 1024;
  ChildStack() {
    base_ = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base_ == MAP_FAILED) throw_errno("mmap for the child's stack");
  }
  ~ChildStack() { ::munmap(base_, kSize); }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  void* top() const { return static_cast<char*>(base_) + kSize; }  // stacks grow down on x86-64 and arm64

 private:
  void* base_;
};

}  // namespace

pid_t clone_borrowing_memory(int (*child)(void*), void* argument) {
  ChildStack stack;
  AllSignalsBlocked blocked;
  return ::clone(child, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, argument);
}

ChildProcess ChildProcess::start(const ProcessSpec& spec) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw_errno("socketpair");
  util::UniqueFd ours(pair[0]), theirs(pair[1]);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
  util::UniqueFd out_read(out[0]), out_write(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe2");
  util::UniqueFd err_read(err[0]), err_write(err[1]);
  util::UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) throw_errno("open /dev/null");

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::string cwd = spec.cwd.string();
  if (spec.cgroup_procs_files.size() > 2) throw std::invalid_argument("a worker joins at most two cgroups");
  auto procs = [&](std::size_t i) { return i < spec.cgroup_procs_files.size() ? spec.cgroup_procs_files[i].c_str() : nullptr; };
  ChildPlan plan{argv.data(), envp.data(), cwd.c_str(), {procs(0), procs(1)},
                 ::getpid(), devnull.get(), out_write.get(), err_write.get(), theirs.get()};

  // clone(CLONE_VM | CLONE_VFORK) rather than fork(): the child borrows the gateway's memory
  // until it execs, instead of copying its page tables (a cold start must not cost time in
  // proportion to the gateway's size), and the gateway waits only for that short moment.
  pid_t pid = clone_borrowing_memory(run_child, &plan);
  if (pid < 0) throw_errno("clone");
  if (plan.failed_step) {
    int status;
    ::waitpid(pid, &status, 0);
    throw std::system_error(plan.failed_errno, std::generic_category(),
                            fmt::format("the worker process could not {} ({})", plan.failed_step, argv[0]));
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
    lease_ = std::move(other.lease_);
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

bool ChildProcess::still_running() const {
  if (pid_ <= 0 || reaped_) return false;
  siginfo_t info{};
  // WNOHANG leaves si_pid 0 while the child runs; WNOWAIT leaves an exit to be reaped. A failed
  // call (the child is not ours to wait for) is not "running": nothing would ever change that.
  return ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kExitCannotJoinCgroup) {
    return "could not join its cgroups";
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
