// Starting worker processes: descriptors 0-3 in place whatever numbers they had here, failures
// reported as errors that name the step.
#include "runtime/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <string>
#include <system_error>

namespace sprocket::runtime {
namespace {

// Everything `fd` delivers until end of file (the child exits), with a generous deadline.
std::string read_all(util::UniqueFd& fd) {
  std::string out;
  char buffer[256];
  while (true) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) break;
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

ProcessSpec shell(std::string script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", std::move(script)};
  spec.env = {"PATH=/usr/bin:/bin"};
  return spec;
}

TEST(ChildProcess, ChildHasStdoutStderrAndTheControlSocketOnFd3) {
  auto child = ChildProcess::start(shell("printf out; printf err >&2; printf control >&3; read x || printf eof"));
  EXPECT_EQ(read_all(child.stdout_pipe()), "outeof");  // stdin is /dev/null
  EXPECT_EQ(read_all(child.stderr_pipe()), "err");
  EXPECT_EQ(read_all(child.control_socket()), "control");
  int status = 0;
  ASSERT_TRUE(::waitpid(child.pid(), &status, 0) == child.pid() || child.reap(status));
}

// Moves a descriptor out of the way for its lifetime, and puts it back.
class FdSetAside {
 public:
  explicit FdSetAside(int fd) : fd_(fd), saved_(::fcntl(fd, F_DUPFD_CLOEXEC, 100)) {
    if (saved_ >= 0) ::close(fd_);
  }
  ~FdSetAside() {
    if (saved_ >= 0) {
      ::dup2(saved_, fd_);
      ::close(saved_);
    }
  }

 private:
  int fd_;
  int saved_;
};

TEST(ChildProcess, ControlSocketReachesFd3EvenWhenItIsFd3Already) {
  // Free fds 0 and 3 so that the socketpair is (0, 3): the child's end is already number 3,
  // and dup2(3, 3) would leave it close-on-exec, closed by the exec.
  std::string received;
  {
    FdSetAside stdin_aside(0), fd3_aside(3);
    auto child = ChildProcess::start(shell("printf reached >&3"));
    ASSERT_EQ(child.control_socket().get(), 0);  // the layout this test is about
    received = read_all(child.control_socket());  // before fd 0 is put back over our end
  }
  EXPECT_EQ(received, "reached");
}

TEST(ChildProcess, AnExecutableThatCannotStartIsAnErrorNamingIt) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/node"};
  try {
    ChildProcess::start(spec);
    FAIL() << "expected an error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/node"), std::string::npos) << e.what();
  }
}

TEST(ChildProcess, AFolderThatCannotBeEnteredIsAnError) {
  ProcessSpec spec = shell("true");
  spec.cwd = "/nonexistent-folder";
  EXPECT_THROW(ChildProcess::start(spec), std::system_error);
}

}  // namespace
}  // namespace sprocket::runtime
