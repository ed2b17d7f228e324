// The gateway's side of a worker, against a process that never speaks (the test plays the
// worker, or plays the event loop around it).
#include "runtime/worker.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <csignal>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/frame_codec.h"
#include "silent_launcher.h"

namespace sprocket::runtime {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string load_frame() {
  std::string out;
  append_frame(out, R"({"type":"load","file":"/f.js"})");
  return out;
}

// A pipe whose read end the loop waits on, made readable at once so that its event is due.
struct ReadyPipe {
  template <class Handler>
  ReadyPipe(asio::io_context& io, Handler handler) : descriptor(io) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    descriptor.assign(fds[0]);
    write_end.reset(fds[1]);
    descriptor.async_wait(asio::posix::stream_descriptor::wait_read, std::move(handler));
    if (::write(write_end.get(), "x", 1) != 1) throw std::runtime_error("write");
  }
  asio::posix::stream_descriptor descriptor;
  util::UniqueFd write_end;
};

// The soak's load error: a deploy ends a generation, and in the same turn of the loop a cold
// start begins. Asio recycles the state objects of descriptors closed in that turn, still
// queued with their ready events, for the new worker's descriptors; the new pidfd's wait then
// completed though the process ran, and the worker was taken for dead: "stopped answering
// before the function was loaded". Its exit must be the kernel's word, not the readiness.
TEST(Worker, ReadinessLeftByDescriptorsClosedInTheSameTurnIsNotAnExit) {
  asio::io_context io;
  test_support::SilentLauncher launcher;
  WorkerImage image;
  std::shared_ptr<Worker> worker;
  std::optional<std::string> start_failure;
  int started = 0, exited = 0;
  std::vector<std::unique_ptr<ReadyPipe>> ending;  // the old generation's descriptors
  // Ready first, so handled first: its handler ends the others while their events are queued.
  ReadyPipe trigger(io, [&](boost::system::error_code) {
    for (auto& pipe : ending) pipe->descriptor.close();
    worker = Worker::launch(
        io, launcher, image, load_frame(), nullptr, 128,
        [&](std::optional<std::string> failure) {
          ++started;
          start_failure = std::move(failure);
        },
        [&](Worker&) { ++exited; }, [](std::vector<LogLine>) {}, 60s);
  });
  for (int i = 0; i < 8; ++i) ending.push_back(std::make_unique<ReadyPipe>(io, [](boost::system::error_code) {}));

  // Everything due runs; nothing blocks (the silent worker never answers its load).
  for (int i = 0; i < 10; ++i) io.poll();
  ASSERT_TRUE(worker);
  EXPECT_EQ(started, 0) << "the worker was reported " << start_failure.value_or("started");
  EXPECT_EQ(exited, 0);
  EXPECT_EQ(::kill(worker->pid(), 0), 0);

  // A real exit is still seen, once.
  ::kill(worker->pid(), SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (exited == 0 && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  io.poll();
  EXPECT_EQ(exited, 1);
  ASSERT_EQ(started, 1);
  ASSERT_TRUE(start_failure);
  EXPECT_NE(start_failure->find("killed by signal 9"), std::string::npos) << *start_failure;
}

}  // namespace
}  // namespace sprocket::runtime
