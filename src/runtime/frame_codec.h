#pragma once
// The wire format between the gateway and a worker: u32 little-endian length, then that many
// bytes of UTF-8 JSON. Described in docs/protocol.md.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sprocket::runtime {

inline constexpr std::size_t kFrameHeaderSize = 4;
inline constexpr std::uint32_t kMaxFrameSize = 64u * 1024 * 1024;

// Appends one frame carrying `payload` to `out`.
void append_frame(std::string& out, std::string_view payload);

// Builds a frame in place: write the payload after the 4 reserved bytes, then finish it.
inline std::string begin_frame() { return std::string(kFrameHeaderSize, '\0'); }
void finish_frame(std::string& frame);

// Accumulates bytes from a stream and yields whole frames.
class FrameDecoder {
 public:
  void feed(const char* data, std::size_t size);
  // The next complete payload, if any. Throws std::runtime_error on a frame over kMaxFrameSize.
  std::optional<std::string> next();
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
};

}  // namespace sprocket::runtime
