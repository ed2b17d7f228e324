#include "util/event_loop.h"

#include <sched.h>

namespace sprocket::util {

void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& keep_polling) {
  while (!io.stopped()) {
    if (io.poll() > 0 || io.stopped()) continue;
    if (keep_polling()) {
      // A worker woken on this core (SCHED_BATCH: it does not preempt) gets it now.
      ::sched_yield();
      continue;
    }
    io.run_one();  // sleeps until there is work
  }
}

}  // namespace sprocket::util
