// A live Worker fed forged frames and output, as hostile user code can write them to fd 3 and
// stdout. The "worker" is a process that never speaks (sleep); this target takes its ends of
// the socket and the pipe (pidfd_getfd) and writes the input there, in one of the states a
// real worker can be in: starting, generic, or loaded with invocations in flight. Whatever it
// writes, the gateway's side never crashes or hangs, every invocation is answered exactly
// once, the instance's exit is reported once, and its start at most once.
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "fuzz_support.h"
#include "runtime/frame_codec.h"
#include "runtime/worker.h"
#include "runtime/worker_launcher.h"
#include "silent_launcher.h"

namespace {
using namespace sprocket;
using namespace std::chrono_literals;

// One of the process's descriptors, taken into this one.
util::UniqueFd take_fd(pid_t pid, int fd) {
  util::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) fuzz::fail("pidfd_open failed");
  util::UniqueFd taken(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (taken.get() < 0) fuzz::fail("pidfd_getfd failed (needs Linux 5.6 and ptrace rights over the child)");
  ::fcntl(taken.get(), F_SETFL, O_NONBLOCK);
  return taken;
}

std::string frame(std::string_view payload) {
  std::string out;
  runtime::append_frame(out, payload);
  return out;
}

// Writes all of `bytes`, letting the worker read meanwhile so that a full socket never blocks.
void write_all(int fd, std::string_view bytes, boost::asio::io_context& io) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return;  // the worker closed its end
    io.run_one_for(10ms);
    if (std::chrono::steady_clock::now() > deadline) fuzz::fail("the worker stopped reading its socket");
  }
}

enum class Scenario { Starting, Generic, OneRunning, ThreePipelined };

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto scenario = static_cast<Scenario>(data[0] % 4);
  std::string_view input = fuzz::as_text(data + 1, size - 1);
  // What follows this separator goes to stdout instead of fd 3.
  constexpr std::string_view kStdoutSeparator = "\xff\xfe\xfd\xfc";
  std::size_t split = input.find(kStdoutSeparator);
  std::string_view control_bytes = input.substr(0, split);
  std::string_view stdout_bytes = split == std::string_view::npos ? std::string_view() : input.substr(split + kStdoutSeparator.size());

  boost::asio::io_context io;
  test_support::SilentLauncher launcher;
  runtime::WorkerImage image;
  int started = 0, exited = 0;
  std::string load_frame = scenario == Scenario::Generic ? std::string() : frame(R"({"type":"load","file":"/f.js"})");
  auto worker = runtime::Worker::launch(
      io, launcher, image, load_frame, nullptr, 128, [&](std::optional<std::string>) { ++started; },
      [&](runtime::Worker&) { ++exited; }, [](std::vector<runtime::LogLine>) {}, 10s);
  util::UniqueFd control = take_fd(worker->pid(), 3);
  util::UniqueFd out = take_fd(worker->pid(), 1);

  std::vector<int> answers;
  if (scenario == Scenario::OneRunning || scenario == Scenario::ThreePipelined) {
    write_all(control.get(), frame(R"({"type":"ready"})") + frame(R"({"type":"loaded"})"), io);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!worker->ready()) {
      io.run_one_for(10ms);
      if (std::chrono::steady_clock::now() > deadline) fuzz::fail("a worker that said ready and loaded is not ready");
    }
    int count = scenario == Scenario::OneRunning ? 1 : 3;
    answers.assign(static_cast<std::size_t>(count), 0);
    for (int i = 0; i < count; ++i) {
      auto invoke = std::make_shared<const std::string>(frame(R"({"type":"invoke"})"));
      worker->invoke(invoke, static_cast<std::uint64_t>(i + 1), 10s, [&answers, i](runtime::InvocationResult) { ++answers[static_cast<std::size_t>(i)]; });
    }
  }
  write_all(control.get(), control_bytes, io);
  write_all(out.get(), stdout_bytes, io);
  io.poll();
  // The process ends as a real one would (or is killed, as the host kills hostile ones): what
  // it wrote is still read, and everything it owed is answered.
  control.reset();
  out.reset();
  ::kill(worker->pid(), SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (exited == 0) {
    io.run_one_for(10ms);
    if (std::chrono::steady_clock::now() > deadline) fuzz::fail("the worker's exit was never handled");
  }
  io.poll();
  if (exited != 1) fuzz::fail("the exit was reported more than once");
  if (started > 1) fuzz::fail("the start was reported more than once");
  for (int count : answers) {
    if (count != 1) fuzz::fail("an invocation was answered " + std::to_string(count) + " times");
  }
  return 0;
}
