// LogSink prints on its own thread: what the event loop gives it must come out in call order,
// execution records as serve prints them, and the records must reach the store, even when
// nobody reads stderr.
#include "logs/log_sink.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "store/store_executor.h"
#include "test_dir.h"

namespace sprocket::logs {
namespace {

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

store::ExecutionRecord execution(std::string request_id) {
  store::ExecutionRecord r;
  r.request_id = std::move(request_id);
  r.account_id = 7;
  r.function = "hello";
  r.method = "GET";
  r.path = "/_hcms/api/hello";
  r.status = "SUCCESS";
  r.http_status = 200;
  r.execution_ms = 1.25;
  r.queue_ms = 0.5;
  r.memory_mb = 12;
  r.started_ms = 1619637561666;  // 2021-04-28T19:19:21.666Z
  r.lines.push_back({1619637561667, "INFO", "inside"});
  return r;
}

// A pipe whose read end the test reads only when it says so.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe(fds) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    }
  }
  ~Pipe() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
};

class LogSinkTest : public ::testing::Test {
 protected:
  std::vector<store::ExecutionRecord> stored() {
    executor_.flush();
    std::promise<std::vector<store::ExecutionRecord>> found;
    executor_.post([&](store::Store& s) {
      store::ExecutionQuery all;
      all.limit = 100000;
      found.set_value(s.find_executions(all));
    });
    return found.get_future().get();
  }

  // A file standing in for stderr; closed with the test.
  int open_output() {
    output_fd_ = ::open(output_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return output_fd_;
  }
  void TearDown() override {
    if (output_fd_ >= 0) ::close(output_fd_);
  }

  testing::TestDir dir_{"log-sink"};
  std::filesystem::path output_ = dir_.path() / "stderr.txt";
  int output_fd_ = -1;
  store::StoreExecutor executor_{store::open_sqlite_store(dir_.path() / "t.db")};
  boost::asio::io_context io_;
};

TEST_F(LogSinkTest, PrintsLinesAndExecutionsInCallOrderThenStoresTheRecords) {
  int fd = open_output();
  ASSERT_GE(fd, 0);
  {
    LogSink log(io_, fd);
    log.write_line("first");
    log.write_execution(execution("req-1"), &executor_);
    log.write_line("between");
    io_.poll();  // the end of the turn hands everything to the writer thread
    log.write_execution(execution("req-2"), &executor_);
    log.write_line("last");
    log.flush();  // without a turn of the loop: flush hands over and waits
    EXPECT_EQ(read_file(output_),
              "first\n"
              "2021-04-28T19:19:21.666Z - SUCCESS - GET /_hcms/api/hello - Execution Time: 1ms\n"
              "2021-04-28T19:19:21.667Z    INFO   inside\n"
              "REPORT RequestId: req-1 Duration: 1.25 ms Queue: 0.50 ms Max Memory Used: 12 MB Cold Start: no\n"
              "between\n"
              "2021-04-28T19:19:21.666Z - SUCCESS - GET /_hcms/api/hello - Execution Time: 1ms\n"
              "2021-04-28T19:19:21.667Z    INFO   inside\n"
              "REPORT RequestId: req-2 Duration: 1.25 ms Queue: 0.50 ms Max Memory Used: 12 MB Cold Start: no\n"
              "last\n");
  }
  auto records = stored();
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.request_id < b.request_id; });
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request_id, "req-1");
  EXPECT_EQ(records[1].request_id, "req-2");
  EXPECT_EQ(records[0].lines.at(0).text, "inside");
}

TEST_F(LogSinkTest, DestructionWritesWhatWasCollected) {
  int fd = open_output();
  ASSERT_GE(fd, 0);
  {
    LogSink log(io_, fd);
    log.write_line("never handed over by the loop");
  }
  EXPECT_EQ(read_file(output_), "never handed over by the loop\n");
}

TEST_F(LogSinkTest, StderrNobodyReadsNeitherBlocksNorLosesRecords) {
  Pipe pipe;
  ASSERT_GE(pipe.read_end, 0);
  constexpr int kRecords = 2000;  // far more than the pipe holds (64 KB, about 250 records)
  {
    LogSink log(io_, pipe.write_end, false, /*max_backlog_bytes=*/4096);
    for (int i = 0; i < kRecords; ++i) {
      log.write_execution(execution("req-" + std::to_string(i)), &executor_);
      io_.restart();
      io_.poll();  // each turn hands over: this loop must never block on the full pipe
    }
    // Now read: the writer gets going again and says what it could not print.
    std::string seen;
    char chunk[65536];
    while (seen.find("were not printed") == std::string::npos) {
      ssize_t n = ::read(pipe.read_end, chunk, sizeof chunk);
      ASSERT_GT(n, 0);
      seen.append(chunk, static_cast<std::size_t>(n));
    }
    std::thread drain([fd = pipe.read_end] {
      char rest[65536];
      while (::read(fd, rest, sizeof rest) > 0) {
      }
    });
    log.flush();
    ::close(std::exchange(pipe.write_end, -1));
    drain.join();
  }
  EXPECT_EQ(stored().size(), static_cast<std::size_t>(kRecords));
}

TEST_F(LogSinkTest, AfterStoredRunsOnceTheRecordsAreWithTheStore) {
  int null_fd = ::open("/dev/null", O_WRONLY);
  LogSink log(io_, null_fd);
  log.write_execution(execution("req-1"), &executor_);
  log.write_execution(execution("req-2"), &executor_);
  std::size_t seen = 0;
  bool called = false;
  // A query made from the callback, as the admin API makes it, finds both records.
  log.after_stored([&] {
    called = true;
    seen = stored().size();
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!called && std::chrono::steady_clock::now() < deadline) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(called);
  EXPECT_EQ(seen, 2u);
  ::close(null_fd);
}

TEST_F(LogSinkTest, FlushGivesUpOnAStderrNobodyReadsButStoresEverything) {
  Pipe pipe;
  ASSERT_GE(pipe.read_end, 0);
  constexpr int kRecords = 600;  // more than the pipe holds, less than the backlog allowed
  {
    LogSink log(io_, pipe.write_end);
    for (int i = 0; i < kRecords; ++i) log.write_execution(execution("req-" + std::to_string(i)), &executor_);
    log.flush();  // nobody ever reads the pipe: this must come back, not block for good
  }
  EXPECT_EQ(stored().size(), static_cast<std::size_t>(kRecords));
}

TEST_F(LogSinkTest, OtherWritersToThePipeNeverLandInsideALine) {
  Pipe pipe;
  ASSERT_GE(pipe.read_end, 0);
  std::string seen;
  std::thread reader([&] {
    char chunk[65536];
    ssize_t n;
    while ((n = ::read(pipe.read_end, chunk, sizeof chunk)) > 0) seen.append(chunk, static_cast<std::size_t>(n));
  });
  const std::string long_line(300, 'x');
  std::size_t markers_expected = 0;
  {
    LogSink log(io_, pipe.write_end);
    // The event loop's own messages go straight to stderr, as fmt::print(stderr, …) does,
    // all the while the sink writes its lines.
    std::atomic<bool> done{false};
    std::size_t written_markers = 0;
    std::thread other([&, fd = pipe.write_end] {
      while (!done) {
        if (::write(fd, "MARKER\n", 7) != 7) return;
        ++written_markers;
      }
    });
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 200; ++i) log.write_line(long_line);
      log.flush();
    }
    done = true;
    other.join();
    markers_expected = written_markers;
  }
  ::close(std::exchange(pipe.write_end, -1));
  reader.join();
  std::istringstream lines(seen);
  std::size_t markers = 0, longs = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line == "MARKER") {
      ++markers;
    } else {
      ASSERT_EQ(line, long_line);
      ++longs;
    }
  }
  EXPECT_EQ(markers, markers_expected);
  EXPECT_EQ(longs, 4000u);
}

}  // namespace
}  // namespace sprocket::logs
