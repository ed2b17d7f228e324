// What user code can write to its worker's fd 3, read as the host reads it: the frame decoder
// (fed in arbitrary pieces), the JSON of each frame, the checked fields of "result" and "log"
// frames, and what an action's answer means (its outputs against HubSpot's rules).
// worker_fuzz drives the same frames through a live Worker; this target is the fast one.
#include <boost/json.hpp>

#include "actions/attempt_outcome.h"
#include "fuzz_support.h"
#include "runtime/frame_codec.h"
#include "runtime/worker_frames.h"

namespace {
using namespace sprocket;
namespace json = boost::json;

const config::ActionSpec& action() {
  static const config::ActionSpec spec = [] {
    config::ActionSpec a;
    a.name = "enrich";
    a.output_fields = {{"score", {config::OutputType::Number, {}}},
                       {"label", {config::OutputType::String, {}}},
                       {"ok", {config::OutputType::Boolean, {}}},
                       {"when", {config::OutputType::Datetime, {}}},
                       {"day", {config::OutputType::Date, {}}},
                       {"tier", {config::OutputType::Enumeration, {"gold", "silver"}}},
                       {"phone", {config::OutputType::PhoneNumber, {}}}};
    return a;
  }();
  return spec;
}

void read_frame(const std::string& payload) {
  boost::system::error_code ec;
  json::value message = runtime::parse_worker_json(payload, ec);
  if (ec || !message.is_object()) return;
  const json::object& frame = message.get_object();
  (void)runtime::read_log_lines(frame.if_contains("logs"));
  auto fields = runtime::read_result_fields(frame);
  if (!fields) return;
  if (fields->max_rss_kb < 0 || fields->dropped_log_bytes < 0 || fields->id < 0) fuzz::fail("a negative count was accepted");
  runtime::InvocationResult result;
  result.outcome = frame.contains("error") ? runtime::InvocationResult::Outcome::Threw : runtime::InvocationResult::Outcome::Answered;
  result.frame = frame;
  result.max_rss_kb = fields->max_rss_kb;
  auto outcome = actions::interpret_attempt(action(), result);
  (void)actions::outcome_to_json(outcome);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks the size of the pieces the stream arrives in (1 to 256 bytes).
  std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
  std::string_view stream = fuzz::as_text(data + 1, size - 1);
  runtime::FrameDecoder decoder;
  std::size_t offset = 0;  // where the next frame starts, decoded the plain way
  try {
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      std::string_view chunk = stream.substr(at, piece);
      decoder.feed(chunk.data(), chunk.size());
      while (auto payload = decoder.next()) {
        std::uint32_t length = 0;
        for (int i = 0; i < 4; ++i) length |= static_cast<std::uint32_t>(static_cast<unsigned char>(stream[offset + i])) << (8 * i);
        if (stream.substr(offset + 4, length) != *payload) fuzz::fail("the decoder yielded another payload than the stream holds");
        offset += 4 + length;
        read_frame(*payload);
      }
    }
  } catch (const std::runtime_error&) {
    // A frame over kMaxFrameSize: the instance is stopped (Worker::feed_frames).
  }
  return 0;
}
