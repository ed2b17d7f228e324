#pragma once
// Running the event loop with a short spin before sleeping.
#include <boost/asio/io_context.hpp>
#include <functional>

namespace sprocket::util {

// Runs `io` until it is stopped. While `keep_polling()` says so, the loop polls instead of
// sleeping in the kernel when it runs out of work: on a VM, waking an idle vCPU costs tens of
// microseconds, and a request at low concurrency would pay it twice (the worker's answer, the
// client's next request). Under load there is always work, so it never spins.
void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& keep_polling);

}  // namespace sprocket::util
