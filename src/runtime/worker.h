#pragma once
// One long-lived worker process (node or python) speaking the frame protocol on fd 3.
// Single-threaded: every method runs on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/frame_codec.h"
#include "runtime/memory_cgroup.h"
#include "runtime/process.h"
#include "runtime/worker_launcher.h"
#include "runtime/worker_frames.h"

namespace sprocket::runtime {

struct InvocationResult {
  enum class Outcome {
    Answered,  // frame holds "value" and "kind"
    Threw,     // frame holds "error" {name, message, stack}
    TimedOut,  // the time limit passed; the worker was killed
    Crashed,   // the worker died or broke the protocol; `detail` says how
    OutOfMemory,   // the worker went over its memory limit and was killed
    QueueFull,     // never ran: too many requests were already waiting for an instance
    QueueTimeout,  // never ran: no instance became free in time
    NotStarted,    // was waiting inside an instance that died: run it elsewhere
  };
  Outcome outcome = Outcome::Crashed;
  boost::json::object frame;
  std::vector<LogLine> logs;
  std::string detail;
  std::int64_t max_rss_kb = 0;         // the instance's peak resident memory, as the worker saw it
  std::int64_t dropped_log_bytes = 0;  // output the worker dropped past the per-execution limit
  // NotStarted only because the worker said nothing was running (its "exiting" frame): a
  // hostile function could say so mid-invocation, so such re-runs are bounded.
  bool not_started_on_the_workers_word = false;
  double execution_ms = 0;      // from the moment the worker started it to its answer
  double pipeline_wait_ms = 0;  // sent to the worker, waiting behind an earlier invocation
};

class Worker : public std::enable_shared_from_this<Worker> {
 public:
  static constexpr std::size_t kLineOverheadBytes = 64;  // what keeping a line costs beside its text
  using StartedHandler = std::function<void(std::optional<std::string> load_error)>;
  using ResultHandler = std::function<void(InvocationResult)>;
  using LogHandler = std::function<void(std::vector<LogLine>)>;  // output between invocations
  using ExitHandler = std::function<void(Worker&)>;

  // Starts the process and sends `load_frame` once it says it is ready; `on_started` is called
  // once, when the code is loaded or failed to load. Throws std::system_error if it cannot start.
  // `cgroup` (may be null) is the memory cgroup the process joins; `memory_limit_mb` names the
  // limit in messages and bounds RSS when there is no cgroup. With an empty `load_frame` the
  // worker stays generic: `on_started` says it is ready, and specialize() gives it a function.
  // Loading (the function's top-level code) may take at most `load_limit`.
  static std::shared_ptr<Worker> launch(boost::asio::io_context& io, WorkerLauncher& launcher, const WorkerImage& image,
                                        std::string load_frame,
                                        std::unique_ptr<WorkerCgroup> cgroup, int memory_limit_mb,
                                        StartedHandler on_started, ExitHandler on_exit, LogHandler on_stray_logs,
                                        std::chrono::milliseconds load_limit = std::chrono::seconds(30));
  ~Worker();

  // Sends one invocation; `done` is called exactly once. The worker runs one invocation at a
  // time; further ones wait inside it (pipelining saves a round trip each), and the time limit
  // of each runs from the moment the previous one answered.
  // `invocation_id` is the id in the frame: a result with another id is a protocol error.
  void invoke(std::shared_ptr<const std::string> invoke_frame, std::uint64_t invocation_id, std::chrono::milliseconds time_limit,
              ResultHandler done);
  // Turns a generic worker into an instance of one function; the handlers replace the old ones.
  void specialize(std::string load_frame, StartedHandler on_started, ExitHandler on_exit, LogHandler on_stray_logs,
                  std::chrono::milliseconds load_limit);
  bool generic() const { return state_ == State::Generic && !doomed_ && !closing_; }
  void send_frame(std::string frame);  // e.g. an "env" frame; queued behind the load if still starting
  void terminate();  // kills the process; any invocation in flight completes as Crashed/TimedOut
  // Without a cgroup: kill the worker when its resident memory is over the limit.
  void enforce_rss_limit();

  pid_t pid() const { return process_.pid(); }
  const ChildProcess& process() const { return process_; }
  std::size_t depth() const { return pending_.size(); }  // invocations sent and not answered
  bool ready() const { return state_ == State::Ready && !doomed_ && !exiting_ && !closing_; }
  // When the invocation running now started (the epoch when idle).
  std::chrono::steady_clock::time_point running_since() const {
    return pending_.empty() ? std::chrono::steady_clock::time_point{} : pending_.front().started;
  }
  bool dead() const { return state_ == State::Dead || doomed_ || closing_; }  // dead, being killed, or exiting
  std::chrono::steady_clock::time_point last_used() const { return last_used_; }

 private:
  enum class State { Starting, Generic, Loading, Ready, Dead };
  Worker(boost::asio::io_context& io, ChildProcess process, std::unique_ptr<WorkerCgroup> cgroup, int memory_limit_mb);
  bool memory_exceeded() const;
  // Lowers the memory cgroup's limit by what the process maps that the cgroup is not charged
  // for (the runtime's file pages), so that the limit bounds the whole process (once, at ready).
  void fit_cgroup_to_whole_process();

  void read_control();
  void read_pipe(boost::asio::posix::stream_descriptor& pipe, std::array<char, 4096>& chunk, std::string& buffer,
                 const char* level);
  void wait_exit();
  void handle_frame(std::string payload);
  // Reads and handles what the worker has written and this has not read yet; false at end of
  // file or on a socket error.
  bool read_available_frames();
  void feed_frames(const char* data, std::size_t size);
  // A frame that breaks the protocol (docs/protocol.md): logged, and the instance is stopped;
  // its invocation is answered as a crash naming `what`.
  void protocol_error(const std::string& what);
  void expect_exit();
  void handle_exit();
  void time_out_head(std::uint64_t generation);
  void send(std::shared_ptr<const std::string> frame);
  void flush_writes();
  void finish_invocation(InvocationResult result);
  void start_head();
  void abandon_waiting(bool head_on_the_workers_word = false);
  void take_pipe_lines(std::string& buffer, const char* level, bool flush_partial);
  void drain_pipes();

  boost::asio::io_context& io_;
  std::unique_ptr<WorkerCgroup> cgroup_;  // outlives process_, which is reaped first
  int memory_limit_mb_;
  bool rss_exceeded_ = false;
  bool heap_exhausted_ = false;  // V8 said "heap out of memory" on stderr
  ChildProcess process_;
  boost::asio::local::stream_protocol::socket control_;
  boost::asio::posix::stream_descriptor stdout_;
  boost::asio::posix::stream_descriptor stderr_;
  boost::asio::posix::stream_descriptor exit_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer exit_grace_;  // after the socket closed: how long the process may take to exit
  State state_ = State::Starting;
  FrameDecoder decoder_;
  std::vector<char> read_buffer_;
  std::array<char, 4096> stdout_chunk_{}, stderr_chunk_{};
  std::string stdout_buffer_, stderr_buffer_;
  std::deque<std::shared_ptr<const std::string>> write_queue_;
  std::vector<boost::asio::const_buffer> write_buffers_;
  bool writing_ = false;
  bool flush_posted_ = false;  // a flush_writes waits for the end of this turn of the event loop
  std::string load_frame_;
  StartedHandler on_started_;
  ExitHandler on_exit_;
  LogHandler on_stray_logs_;
  struct Pending {
    ResultHandler done;
    std::uint64_t id = 0;
    std::chrono::milliseconds time_limit{0};
    std::chrono::steady_clock::time_point sent;
    std::chrono::steady_clock::time_point started;  // epoch: still waiting behind another
  };
  std::deque<Pending> pending_;     // front: the invocation running now
  std::vector<LogLine> pipe_logs_;  // process output captured while an invocation runs
  // At most this much of it is held: the execution keeps 4 KB by default; the rest is counted.
  static constexpr std::size_t kMaxHeldLogBytes = 256 * 1024;
  // Output between two invocations (nothing to cut it at 4 KB): kept up to this, then counted.
  static constexpr std::size_t kMaxStrayBytes = 16 * 1024;
  std::size_t stray_bytes_ = 0;
  std::int64_t dropped_stray_bytes_ = 0;
  void deliver_stray(std::vector<LogLine> lines);
  void end_stray_gap();  // an invocation starts: the notice of what was dropped, a fresh budget
  std::size_t held_log_bytes_ = 0;
  std::int64_t dropped_held_bytes_ = 0;
  void hold_line(LogLine line);
  bool timed_out_ = false;
  std::string protocol_error_;  // set when the worker broke the protocol
  bool exiting_ = false;         // the process said it is exiting (its code called process.exit)
  bool closing_ = false;         // its socket closed: the process is on its way out
  bool exited_idle_ = false;     // ... with no invocation running: none it was sent had started
  bool doomed_ = false;
  bool load_timed_out_ = false;
  std::chrono::milliseconds load_limit_{30'000};
  std::uint64_t deadline_generation_ = 0;  // tells a stale timer completion from the current one
  void arm_load_deadline();
  std::chrono::steady_clock::time_point last_used_ = std::chrono::steady_clock::now();
};

}  // namespace sprocket::runtime
