#include "runtime/worker.h"
#include "util/clock.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace sprocket::runtime {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPipeLine = 4096;

}  // namespace

Worker::Worker(asio::io_context& io, ChildProcess process, std::unique_ptr<WorkerCgroup> cgroup, int memory_limit_mb)
    : io_(io), cgroup_(std::move(cgroup)), memory_limit_mb_(memory_limit_mb), process_(std::move(process)), control_(io), stdout_(io), stderr_(io), exit_(io), deadline_(io), exit_grace_(io),
      read_buffer_(64 * 1024) {
  control_.assign(asio::local::stream_protocol(), process_.control_socket().release());
  stdout_.assign(process_.stdout_pipe().release());
  stderr_.assign(process_.stderr_pipe().release());
  exit_.assign(process_.exit_fd().release());
}

std::shared_ptr<Worker> Worker::launch(asio::io_context& io, WorkerLauncher& launcher, const WorkerImage& image, std::string load_frame,
                                       std::unique_ptr<WorkerCgroup> cgroup, int memory_limit_mb, StartedHandler on_started,
                                       ExitHandler on_exit, LogHandler on_stray_logs, std::chrono::milliseconds load_limit) {
  auto process = launcher.start(image, cgroup ? cgroup->procs_files() : std::vector<std::string>());
  auto worker = std::shared_ptr<Worker>(new Worker(io, std::move(process), std::move(cgroup), memory_limit_mb));
  worker->load_frame_ = std::move(load_frame);
  worker->load_limit_ = load_limit;
  worker->on_started_ = std::move(on_started);
  worker->on_exit_ = std::move(on_exit);
  worker->on_stray_logs_ = std::move(on_stray_logs);
  worker->read_control();
  worker->read_pipe(worker->stdout_, worker->stdout_chunk_, worker->stdout_buffer_, "INFO");
  worker->read_pipe(worker->stderr_, worker->stderr_chunk_, worker->stderr_buffer_, "ERROR");
  worker->wait_exit();
  return worker;
}

Worker::~Worker() {
  boost::system::error_code ignored;
  control_.close(ignored);
  stdout_.close(ignored);
  stderr_.close(ignored);
  exit_.close(ignored);
  // process_ kills and reaps the process group if it is still there.
}

void Worker::read_control() {
  // Wait for readability, then read with non-blocking recv: unread bytes stay in the kernel
  // until this code reads them, never in a buffer of a read asio has already made. So a read
  // at a deadline or at the process's exit (read_available_frames) sees every frame the worker
  // wrote that has not been handled, in order.
  control_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state_ == State::Dead) return;  // closed: the exit is handled on the pidfd
    bool open = self->read_available_frames();
    if (self->state_ == State::Dead || !self->protocol_error_.empty()) return;
    if (!open) {
      // End of file: the worker is unusable; its exit is handled on the pidfd.
      self->expect_exit();
      return;
    }
    self->read_control();
  });
}

void Worker::feed_frames(const char* data, std::size_t size) {
  decoder_.feed(data, size);
  try {
    while (auto payload = decoder_.next()) {
      handle_frame(std::move(*payload));
      if (state_ == State::Dead || !protocol_error_.empty()) return;
    }
  } catch (const std::exception& e) {
    protocol_error(e.what());  // a frame over the size limit
  }
}

bool Worker::read_available_frames() {
  if (!control_.is_open()) return false;
  while (protocol_error_.empty() && state_ != State::Dead) {
    ssize_t n = ::recv(control_.native_handle(), read_buffer_.data(), read_buffer_.size(), MSG_DONTWAIT);
    if (n > 0) {
      feed_frames(read_buffer_.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);  // 0: end of file; else an error
  }
  return true;
}

void Worker::expect_exit() {
  // The process is ending (its runtime closed the socket as it went). Under a launcher the
  // runtime's exit reaches us a moment later, through the launcher's own exit: a kill now would
  // turn "exited with code 3" into "killed by signal 9". Kill only a process that lingers.
  // Not doomed_: what it wrote before it went (an answer, its "exiting" frame) still counts.
  closing_ = true;
  exit_grace_.expires_after(std::chrono::seconds(1));
  exit_grace_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec && self->state_ != State::Dead) self->process_.kill_group();
  });
}

void Worker::protocol_error(const std::string& what) {
  if (!protocol_error_.empty()) return;
  protocol_error_ = what;
  fmt::print(stderr, "sprocket: worker {} broke the frame protocol ({}); its instance is stopped\n", pid(), what);
  terminate();
}

void Worker::read_pipe(asio::posix::stream_descriptor& pipe, std::array<char, 4096>& chunk, std::string& buffer,
                       const char* level) {
  pipe.async_read_some(asio::buffer(chunk), [self = shared_from_this(), &pipe, &chunk, &buffer, level](
                                                boost::system::error_code ec, std::size_t n) {
    if (ec) {
      self->take_pipe_lines(buffer, level, true);
      return;
    }
    buffer.append(chunk.data(), n);
    self->take_pipe_lines(buffer, level, false);
    self->read_pipe(pipe, chunk, buffer, level);
  });
}

void Worker::take_pipe_lines(std::string& buffer, const char* level, bool flush_partial) {
  std::vector<LogLine> lines;
  std::size_t start = 0;
  while (true) {
    std::size_t nl = buffer.find('\n', start);
    if (nl == std::string::npos) {
      if (buffer.size() - start >= kMaxPipeLine || (flush_partial && buffer.size() > start)) nl = buffer.size();
      else break;
    }
    lines.push_back(LogLine{util::unix_now_ms(), level, buffer.substr(start, nl - start)});
    const std::string& text = lines.back().text;
    if (text.find("heap out of memory") != std::string::npos || text.find("Reached heap limit") != std::string::npos) {
      heap_exhausted_ = true;
    }
    start = std::min(nl + 1, buffer.size());
    if (start >= buffer.size()) break;
  }
  buffer.erase(0, start);
  if (lines.empty()) return;
  // Output while starting or loading belongs to the load (its error message, if it fails).
  if (!pending_.empty() || state_ == State::Starting || state_ == State::Loading) {
    for (auto& l : lines) hold_line(std::move(l));
  } else {
    deliver_stray(std::move(lines));
  }
}

namespace {

// Takes `line` into a budget of `limit` bytes: a line costs its text and its own keeping (a
// flood of empty lines must be bounded too). What does not fit is counted in `dropped`.
bool fits_in_budget(const LogLine& line, std::size_t& used, std::size_t limit, std::int64_t& dropped) {
  const std::size_t cost = line.text.size() + Worker::kLineOverheadBytes;
  if (used + cost > limit) {
    dropped += static_cast<std::int64_t>(line.text.size()) + 1;  // with its newline
    return false;
  }
  used += cost;
  return true;
}

}  // namespace

void Worker::hold_line(LogLine line) {
  // Output waits here until its invocation ends, and only its first few KB are kept then
  // (docs/limits.md): a function that writes gigabytes must not make the gateway hold them.
  if (fits_in_budget(line, held_log_bytes_, kMaxHeldLogBytes, dropped_held_bytes_)) pipe_logs_.push_back(std::move(line));
}

void Worker::deliver_stray(std::vector<LogLine> lines) {
  // Output between invocations has no execution to be cut at 4 KB in: it is bounded per gap
  // between two invocations, and what is dropped is said once, when the next one starts.
  if (!on_stray_logs_) return;
  std::vector<LogLine> kept;
  for (auto& line : lines) {
    if (fits_in_budget(line, stray_bytes_, kMaxStrayBytes, dropped_stray_bytes_)) kept.push_back(std::move(line));
  }
  if (!kept.empty()) on_stray_logs_(std::move(kept));
}

void Worker::end_stray_gap() {
  stray_bytes_ = 0;
  if (dropped_stray_bytes_ == 0 || !on_stray_logs_) return;
  std::vector<LogLine> notice{LogLine{util::unix_now_ms(), "WARN",
                                      fmt::format("Output between invocations truncated: {} bytes dropped (at most {} bytes are kept "
                                                  "between two invocations)",
                                                  std::exchange(dropped_stray_bytes_, 0), kMaxStrayBytes)}};
  on_stray_logs_(std::move(notice));
}

void Worker::drain_pipes() {
  // The process is gone, so whatever it wrote is already in the pipes: read it synchronously so
  // that a dying message (a fatal error, an out-of-memory report) reaches the invocation's logs.
  for (auto [pipe, buffer, level] : {std::tuple{&stdout_, &stdout_buffer_, "INFO"}, std::tuple{&stderr_, &stderr_buffer_, "ERROR"}}) {
    if (!pipe->is_open()) continue;
    char chunk[4096];
    while (true) {
      ssize_t n = ::read(pipe->native_handle(), chunk, sizeof chunk);
      if (n <= 0) break;
      buffer->append(chunk, static_cast<std::size_t>(n));
      if (buffer->size() > 1024 * 1024) break;
    }
    take_pipe_lines(*buffer, level, true);
  }
}

void Worker::wait_exit() {
  exit_.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    // The pidfd's readiness is only a hint. Asio's epoll reactor keeps each descriptor's ready
    // events in a state object that it recycles: one closed in this turn while its events were
    // still queued hands them to the next descriptor registered, and a wait (unlike a read,
    // which would find nothing and wait on) completes. A cold start right after another
    // worker's exit (a deploy ends a generation under traffic) thus saw its live process "exit"
    // and failed its requests with a load error. Ask the kernel, and wait on if it is running.
    if (!ec && self->process_.still_running()) return self->wait_exit();
    // A read of the control socket may have completed in the same turn: let it run first.
    asio::post(self->io_, [self] { self->handle_exit(); });
  });
}

void Worker::handle_exit() {
  int status = 0;
  std::string detail = process_.reap(status) ? describe_wait_status(status) : "stopped answering";
  // What it wrote before it exited still counts: "sendResponse(…); process.exit(0)" answered.
  if (!doomed_) read_available_frames();
  if (stdout_.is_open()) stdout_.non_blocking(true);
  if (stderr_.is_open()) stderr_.non_blocking(true);
  drain_pipes();
  end_stray_gap();
  // Closing aborts the pending reads, which release their hold on this object.
  boost::system::error_code ignored;
  control_.close(ignored);
  stdout_.close(ignored);
  stderr_.close(ignored);
  State previous = state_;
  state_ = State::Dead;
  deadline_.cancel();
  exit_grace_.cancel();
  if (previous == State::Starting || previous == State::Loading) {
    std::string message = load_timed_out_ ? fmt::format("loading the function took longer than {:.2f} seconds, so its process was stopped",
                                                        load_limit_.count() / 1000.0)
                          : !protocol_error_.empty() ? fmt::format("the worker process broke the frame protocol ({})", protocol_error_)
                                                     : fmt::format("the worker process {} before the function was loaded", detail);
    for (const auto& line : pipe_logs_) message += "\n" + line.text;
    if (auto started = std::exchange(on_started_, nullptr)) started(message);
  }
  if (!pending_.empty() && exited_idle_ && !timed_out_ && protocol_error_.empty()) {
    // It ended itself between invocations: what it was sent after its last answer never ran.
    // The one at the head runs again only on the worker's word, which could be forged.
    abandon_waiting(true);
  } else if (!pending_.empty()) {
    InvocationResult result;
    if (timed_out_) {
      result.outcome = InvocationResult::Outcome::TimedOut;
    } else if (memory_exceeded()) {
      result.outcome = InvocationResult::Outcome::OutOfMemory;
      detail = fmt::format("Memory limit of {} MB exceeded", memory_limit_mb_);
    } else {
      result.outcome = InvocationResult::Outcome::Crashed;
    }
    if (result.outcome == InvocationResult::Outcome::OutOfMemory) {
      result.detail = detail;
      // Stopped at the limit: Max Memory Used is the limit, as Lambda reports it (what the
      // worker said it had reached could be anything).
      result.max_rss_kb = static_cast<std::int64_t>(memory_limit_mb_) * 1024;
    } else if (!protocol_error_.empty()) {
      result.detail = fmt::format("the worker process broke the frame protocol ({}) and was stopped", protocol_error_);
    } else {
      result.detail = fmt::format("the worker process {}", detail);
    }
    finish_invocation(std::move(result));
    abandon_waiting();
  }
  if (auto on_exit = std::exchange(on_exit_, nullptr)) on_exit(*this);
}

void Worker::handle_frame(std::string payload) {
  if (doomed_) return;  // being stopped (a time-out, a kill): what it still says is moot
  boost::system::error_code ec;
  json::value message = parse_worker_json(payload, ec);
  if (ec == json::error::too_deep) return protocol_error(fmt::format("a frame nested more than {} levels deep", kMaxWorkerJsonDepth));
  if (ec || !message.is_object()) return protocol_error("a frame that is not a JSON object");
  auto& object = message.get_object();
  const json::value* type = object.if_contains("type");
  std::string_view kind = type && type->is_string() ? std::string_view(type->get_string()) : std::string_view();
  if (kind == "result") {
    if (pending_.empty() || pending_.front().started == std::chrono::steady_clock::time_point{}) {
      return protocol_error("a result with no invocation running");
    }
    auto fields = read_result_fields(object);
    if (!fields) return protocol_error("result: " + fields.error());
    // Results come in order: one for another invocation would answer the wrong request.
    if (static_cast<std::uint64_t>(fields->id) != pending_.front().id) {
      return protocol_error(fmt::format("a result for invocation {} while {} runs", fields->id, pending_.front().id));
    }
    if (fields->max_rss_kb > static_cast<std::int64_t>(memory_limit_mb_) * 1024) {
      // The process was larger than an instance may be (part of what it maps, the runtime's
      // shared code, is charged to no cgroup of ours): the execution fails as it would have on
      // Lambda, whose limit is on the whole environment. Its output still reaches its log.
      for (auto& line : fields->logs) hold_line(std::move(line));
      rss_exceeded_ = true;
      terminate();
      return;
    }
    InvocationResult result;
    result.outcome = object.contains("error") ? InvocationResult::Outcome::Threw : InvocationResult::Outcome::Answered;
    result.logs = std::move(fields->logs);
    result.max_rss_kb = fields->max_rss_kb;
    result.dropped_log_bytes = fields->dropped_log_bytes;
    result.frame = std::move(object);
    finish_invocation(std::move(result));
    if (!pending_.empty() && pending_.front().started == std::chrono::steady_clock::time_point{}) start_head();
  } else if (kind == "log") {
    auto lines = read_log_lines(object.if_contains("logs"));
    if (!lines) return protocol_error("log: " + lines.error());
    if (!pending_.empty()) {
      for (auto& l : *lines) hold_line(std::move(l));
    } else if (!lines->empty()) {
      deliver_stray(std::move(*lines));
    }
  } else if (kind == "exiting") {
    const json::value* running = object.if_contains("running");
    if (!running || !running->is_bool()) return protocol_error("exiting: running must be true or false");
    exiting_ = true;
    exited_idle_ = !running->get_bool();
    expect_exit();  // it must now exit: one that says so and lingers is stopped
  } else if (kind == "ready" && state_ == State::Starting) {
    fit_cgroup_to_whole_process();
    if (load_frame_.empty()) {
      state_ = State::Generic;
      if (auto started = std::exchange(on_started_, nullptr)) started(std::nullopt);
      return;
    }
    state_ = State::Loading;
    arm_load_deadline();
    send(std::make_shared<const std::string>(std::move(load_frame_)));
  } else if (kind == "loaded" && state_ == State::Loading) {
    state_ = State::Ready;
    ++deadline_generation_;
    deadline_.cancel();
    if (!pipe_logs_.empty()) deliver_stray(std::exchange(pipe_logs_, {}));
    pipe_logs_.clear();
    held_log_bytes_ = 0;
    if (auto started = std::exchange(on_started_, nullptr)) started(std::nullopt);
  } else if (kind == "load_error" && state_ == State::Loading) {
    const json::value* m = object.if_contains("message");
    std::string message = m && m->is_string() ? std::string(m->get_string()) : "the function failed to load";
    if (auto started = std::exchange(on_started_, nullptr)) started(message);
    terminate();
  } else {
    protocol_error(kind.empty() ? std::string("a frame without a type") : fmt::format("an unexpected \"{}\" frame", kind));
  }
}

void Worker::invoke(std::shared_ptr<const std::string> invoke_frame, std::uint64_t invocation_id, std::chrono::milliseconds time_limit,
                    ResultHandler done) {
  if (!ready()) {
    InvocationResult result;
    result.outcome = InvocationResult::Outcome::NotStarted;
    result.detail = "the worker was not ready for an invocation";
    done(std::move(result));
    return;
  }
  pending_.push_back(Pending{std::move(done), invocation_id, time_limit, std::chrono::steady_clock::now(), {}});
  send(std::move(invoke_frame));
  if (pending_.size() == 1) start_head();
}

void Worker::arm_load_deadline() {
  // Top-level code that never finishes would hold an instance in Loading for ever.
  std::uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(load_limit_);
  deadline_.async_wait([weak = weak_from_this(), generation](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || generation != self->deadline_generation_ || self->state_ != State::Loading) return;
    self->load_timed_out_ = true;
    self->terminate();
  });
}

void Worker::start_head() {
  // The worker starts an invocation the moment it has answered the one before: so does its clock.
  Pending& head = pending_.front();
  head.started = std::chrono::steady_clock::now();
  timed_out_ = false;
  end_stray_gap();
  std::uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(head.time_limit);
  deadline_.async_wait([weak = weak_from_this(), generation](boost::system::error_code ec) {
    auto self = weak.lock();
    // cancel() cannot recall a completion already queued: the generation tells a stale one.
    if (ec || !self || self->pending_.empty() || generation != self->deadline_generation_) return;
    // The answer may be in the socket, or read in this same turn and not handled yet: post,
    // then read what is there before deciding that the invocation ran out of time.
    asio::post(self->io_, [self, generation] { self->time_out_head(generation); });
  });
}

void Worker::time_out_head(std::uint64_t generation) {
  if (pending_.empty() || generation != deadline_generation_ || doomed_) return;
  // An answer found now ends the invocation; the next one (if any) has only just started,
  // since the worker writes a result before it starts the next invocation.
  read_available_frames();
  if (!protocol_error_.empty() || generation != deadline_generation_ || pending_.empty()) return;
  timed_out_ = true;
  terminate();  // the only way to stop code that ignores the deadline
  InvocationResult result;
  result.outcome = InvocationResult::Outcome::TimedOut;
  result.detail = fmt::format("Task timed out after {:.2f} seconds", pending_.front().time_limit.count() / 1000.0);
  finish_invocation(std::move(result));
  abandon_waiting();
}

void Worker::abandon_waiting(bool head_on_the_workers_word) {
  // Invocations queued inside a dying worker never started: they are run elsewhere.
  auto waiting = std::move(pending_);
  pending_.clear();
  // Newest first: each goes back to the front of its pool's queue, so the oldest ends in front.
  for (auto it = waiting.rbegin(); it != waiting.rend(); ++it) {
    auto& p = *it;
    InvocationResult result;
    result.outcome = InvocationResult::Outcome::NotStarted;
    result.detail = "its instance stopped before running it";
    result.not_started_on_the_workers_word = head_on_the_workers_word && it == std::prev(waiting.rend());
    p.done(std::move(result));
  }
}

void Worker::finish_invocation(InvocationResult result) {
  ++deadline_generation_;
  deadline_.cancel();
  auto now = std::chrono::steady_clock::now();
  last_used_ = now;
  Pending head = std::move(pending_.front());
  pending_.pop_front();
  result.execution_ms = std::chrono::duration<double, std::milli>(now - head.started).count();
  result.pipeline_wait_ms = std::chrono::duration<double, std::milli>(head.started - head.sent).count();
  result.dropped_log_bytes += std::exchange(dropped_held_bytes_, 0);
  held_log_bytes_ = 0;
  if (!pipe_logs_.empty()) {
    // Lines sent early (and raw process output) come before those in the result; then order
    // by time, keeping arrival order among lines written in the same millisecond.
    pipe_logs_.insert(pipe_logs_.end(), std::make_move_iterator(result.logs.begin()), std::make_move_iterator(result.logs.end()));
    result.logs = std::move(pipe_logs_);
    pipe_logs_.clear();
    std::stable_sort(result.logs.begin(), result.logs.end(),
                     [](const LogLine& a, const LogLine& b) { return a.timestamp_ms < b.timestamp_ms; });
  }
  head.done(std::move(result));
}

bool Worker::memory_exceeded() const {
  return rss_exceeded_ || heap_exhausted_ || (cgroup_ && cgroup_->oom_killed());
}

namespace {

// Calls `visit` with `pid` and every process below it (16 levels at most): the runtime may run
// under a launcher (bubblewrap), and what it starts counts against its limits too.
template <typename Visit>
void for_each_in_tree(pid_t pid, Visit&& visit, int depth = 0) {
  visit(pid);
  if (depth >= 16) return;
  std::ifstream children(fmt::format("/proc/{}/task/{}/children", pid, pid));
  pid_t child = 0;
  while (children >> child) for_each_in_tree(child, visit, depth + 1);
}

// Resident memory of `pid` and every process below it, as a memory cgroup would count it.
std::size_t tree_resident_bytes(pid_t pid) {
  std::size_t pages = 0;
  for_each_in_tree(pid, [&](pid_t p) {
    std::ifstream statm(fmt::format("/proc/{}/statm", p));
    std::size_t size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages) pages += resident_pages;
  });
  return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// The file-backed resident memory (RssFile) of the process below `pid` that has the most: the
// runtime. The launcher's processes share the same libraries, so a sum would count them twice.
std::size_t largest_file_resident_bytes(pid_t pid) {
  std::size_t largest = 0;
  for_each_in_tree(pid, [&](pid_t p) {
    std::ifstream status(fmt::format("/proc/{}/status", p));
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("RssFile:", 0) == 0) {
        std::size_t kb = 0;
        std::istringstream(line.substr(8)) >> kb;
        largest = std::max(largest, kb * 1024);
        break;
      }
    }
  });
  return largest;
}

}  // namespace

void Worker::fit_cgroup_to_whole_process() {
  if (!cgroup_) return;
  // A memory cgroup is charged for the pages its processes fault in first; the runtime's code
  // (node's binary and libraries, ~35 MB, docs/limits.md) is usually in memory already, charged
  // to whoever read it first, so the cgroup alone would let a function use 128 MB on top of
  // it. The limit is on the whole process, as on Lambda: the cgroup's share is what the limit
  // leaves after the runtime's file pages charged elsewhere. Measured once, when the runtime
  // is up and before any user code ran: what a function maps later (and may unmap) is its own,
  // and the peak check on each result covers it.
  const std::size_t limit = static_cast<std::size_t>(memory_limit_mb_) * 1024 * 1024;
  const std::size_t file_resident = largest_file_resident_bytes(pid());
  const std::size_t file_charged = cgroup_->mapped_file_bytes();
  const std::size_t charged = cgroup_->usage_bytes();
  const std::size_t elsewhere = file_resident > file_charged ? file_resident - file_charged : 0;
  constexpr std::size_t kHeadroom = 4 * 1024 * 1024;  // never below what it holds now and a little
  const std::size_t fitted = std::max(limit > elsewhere ? limit - elsewhere : 0, charged + kHeadroom);
  cgroup_->set_limit_bytes(std::min(fitted, limit));
}

void Worker::enforce_rss_limit() {
  if (dead()) return;
  if (tree_resident_bytes(pid()) > static_cast<std::size_t>(memory_limit_mb_) * 1024 * 1024) {
    rss_exceeded_ = true;
    terminate();
  }
}

void Worker::terminate() {
  if (state_ == State::Dead) return;
  doomed_ = true;
  process_.kill_group();
}

void Worker::specialize(std::string load_frame, StartedHandler on_started, ExitHandler on_exit, LogHandler on_stray_logs,
                        std::chrono::milliseconds load_limit) {
  on_started_ = std::move(on_started);
  on_exit_ = std::move(on_exit);
  on_stray_logs_ = std::move(on_stray_logs);
  load_limit_ = load_limit;
  state_ = State::Loading;
  arm_load_deadline();
  send(std::make_shared<const std::string>(std::move(load_frame)));
}

void Worker::send_frame(std::string frame) {
  if (state_ == State::Dead || doomed_) return;
  if (state_ == State::Starting) {
    // Not listening yet: the load frame (built from the old recipe) must go first.
    load_frame_ += frame;
    return;
  }
  send(std::make_shared<const std::string>(std::move(frame)));
}

void Worker::send(std::shared_ptr<const std::string> frame) {
  write_queue_.push_back(std::move(frame));
  if (writing_ || flush_posted_) return;
  // The write waits until the handlers already queued have run (requests read in the same
  // turn of the event loop): their frames leave in the same write, and the worker wakes once.
  flush_posted_ = true;
  asio::post(control_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (!self->writing_) self->flush_writes();
  });
}

void Worker::flush_writes() {
  if (write_queue_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  // Everything queued goes in one gathered write: one syscall for a burst of frames.
  std::size_t count = write_queue_.size();
  write_buffers_.clear();
  for (const auto& frame : write_queue_) write_buffers_.push_back(asio::buffer(*frame));
  asio::async_write(control_, write_buffers_, [self = shared_from_this(), count](boost::system::error_code ec, std::size_t) {
    self->write_queue_.erase(self->write_queue_.begin(), self->write_queue_.begin() + static_cast<long>(count));
    if (ec) {
      // The worker closed its end: it is exiting (e.g. process.exit() right after answering).
      // Its exit, and what it wrote before, are handled as it comes.
      self->write_queue_.clear();
      self->writing_ = false;
      self->expect_exit();
      return;
    }
    self->flush_writes();
  });
}

}  // namespace sprocket::runtime
