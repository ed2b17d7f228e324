// sprocket-enter: the last step into a worker's sandbox, run by bubblewrap inside the
// namespaces and mounts it set up. It takes the worker's own unprivileged uid, a user namespace
// of its own, resource limits and a seccomp filter, then execs the runtime. Kept apart from the
// sprocket binary (and small) because it runs once per worker start.
//
//   sprocket-enter --uid N [--nproc N] [--nofile N] [--fsize BYTES] -- PROGRAM ARGS…
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// What a function inside the sandbox sees as its uid and gid (the host sees the worker's own).
constexpr unsigned kInsideId = 1000;

[[noreturn]] void fail(const char* step) {
  std::fprintf(stderr, "sprocket-enter: cannot %s: %s\n", step, std::strerror(errno));
  std::_Exit(126);
}

bool write_file(const char* path, const std::string& text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

void set_limit(int resource, rlim_t value, const char* what) {
  rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) fail(what);
}

// System calls no function needs and a hostile one would use to reach past its sandbox:
// debugging other processes, (un)mounting, namespaces, kernel modules and keyrings, BPF and perf.
void refuse_dangerous_syscalls() {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (!filter) fail("set up the seccomp filter");
  static const int refused[] = {
      SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(kcmp),
      SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(move_mount),
      SCMP_SYS(open_tree), SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(fspick),
      SCMP_SYS(mount_setattr), SCMP_SYS(setns), SCMP_SYS(unshare), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
      SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
      SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(userfaultfd), SCMP_SYS(open_by_handle_at),
      SCMP_SYS(name_to_handle_at), SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct),
      SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime),
      SCMP_SYS(adjtimex), SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(lookup_dcookie), SCMP_SYS(vhangup),
      SCMP_SYS(pidfd_getfd), SCMP_SYS(personality),
      // io_uring: a large kernel surface, and a way around any rule here (Docker refuses it too).
      SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
      // Servers: a function answers through sprocket, never on a port of its own. Workers share
      // the host's network (outbound calls), where a listener could catch what clients send to
      // a port sprocket or an operator's tool uses (e.g. the CLI's admin token).
      SCMP_SYS(listen),
  };
  for (int call : refused) {
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), call, 0) != 0) fail("add a seccomp rule");
  }
  // New namespaces through clone(2) too (any CLONE_NEW* flag); clone3 passes its flags in
  // memory the filter cannot read, so it is refused with ENOSYS and the C library falls back to
  // clone(2).
  for (scmp_datum_t flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) != 0) {
      fail("add the clone rule");
    }
  }
  if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0) fail("add the clone3 rule");
  if (seccomp_load(filter) != 0) fail("load the seccomp filter");
  seccomp_release(filter);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long uid = 0, nproc = 256, nofile = 1024, fsize = 64UL << 20;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sprocket-enter: %s needs a value\n", argv[i]);
      return 2;
    }
    unsigned long value = std::strtoul(argv[++i], nullptr, 10);
    if (arg == "--uid") uid = value;
    else if (arg == "--nproc") nproc = value;
    else if (arg == "--nofile") nofile = value;
    else if (arg == "--fsize") fsize = value;
    else {
      std::fprintf(stderr, "sprocket-enter: unknown option %s\n", argv[i - 1]);
      return 2;
    }
  }
  if (uid == 0 || i + 1 >= argc) {
    std::fprintf(stderr, "usage: sprocket-enter --uid N [--nproc N] [--nofile N] [--fsize BYTES] -- PROGRAM ARGS...\n");
    return 2;
  }
  // The worker's own host uid and gid: not root, not the gateway's, not another worker's.
  // Dropping every id clears every capability.
  if (::setgroups(0, nullptr) != 0) fail("drop the supplementary groups");
  if (::setresgid(uid, uid, uid) != 0) fail("set the worker's gid");
  if (::setresuid(uid, uid, uid) != 0) fail("set the worker's uid");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("set no_new_privs");
  // Changing uids made the process undumpable, which leaves /proc/self (and so its uid_map)
  // owned by root; the exec below would make it dumpable again anyway.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail("become dumpable");
  // A user namespace of its own, in which it is an ordinary user.
  if (::unshare(CLONE_NEWUSER) != 0) fail("create the worker's user namespace");
  if (!write_file("/proc/self/setgroups", "deny") || !write_file("/proc/self/uid_map", std::to_string(kInsideId) + " " + std::to_string(uid) + " 1") ||
      !write_file("/proc/self/gid_map", std::to_string(kInsideId) + " " + std::to_string(uid) + " 1")) {
    fail("map the worker's ids");
  }
  // Counted per uid, so per worker: a fork bomb stops at its own limit.
  set_limit(RLIMIT_NPROC, nproc, "limit processes");
  set_limit(RLIMIT_NOFILE, nofile, "limit open files");
  set_limit(RLIMIT_FSIZE, fsize, "limit file sizes");
  set_limit(RLIMIT_CORE, 0, "turn core dumps off");
  refuse_dangerous_syscalls();
  ::execv(argv[i + 1], argv + i + 1);
  fail("start the runtime");
}
