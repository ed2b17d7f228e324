#include "util/event_loop.h"

namespace sprocket::util {

void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& keep_polling) {
  while (!io.stopped()) {
    if (io.poll() > 0 || io.stopped() || keep_polling()) continue;
    io.run_one();  // sleeps until there is work
  }
}

}  // namespace sprocket::util
