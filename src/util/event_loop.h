#pragma once
// Running the event loop with a short spin before sleeping.
#include <boost/asio/io_context.hpp>
#include <functional>

namespace sprocket::util {

// The node's io_context, with a way to end what is still pending while the objects its
// handlers and coroutines refer to still exist. ~io_context does the same, but only after
// everything declared after it (servers, the gateway) is gone: a coroutine destroyed then
// would unregister itself from a server that no longer exists.
class EventLoop : public boost::asio::io_context {
 public:
  using boost::asio::io_context::io_context;
  // Destroys every pending handler and coroutine frame. Call once the loop has stopped, before
  // the objects they refer to are destroyed; nothing runs on the loop afterwards.
  void destroy_pending_work() { shutdown(); }
};

// Runs `io` until it is stopped. While `keep_polling()` says so, the loop polls instead of
// sleeping in the kernel when it runs out of work: on a VM, waking an idle vCPU costs tens of
// microseconds, and a request at low concurrency would pay it twice (the worker's answer, the
// client's next request). Under load there is always work, so it never spins.
void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& keep_polling);

}  // namespace sprocket::util
