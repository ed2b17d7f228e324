#pragma once
// What the fuzz targets share: the input as text, and a scratch folder per process.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unistd.h>

namespace sprocket::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A folder of this process's own under TMPDIR (or /tmp), made once and left for the run.
inline const std::filesystem::path& scratch_folder() {
  static const std::filesystem::path folder = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sprocket-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    return std::filesystem::path(pattern);
  }();
  return folder;
}

// A folder NAME in the scratch folder holding empty files at the relative paths `files`.
inline std::filesystem::path folder_with_files(const std::string& name, std::initializer_list<const char*> files) {
  std::filesystem::path folder = scratch_folder() / name;
  for (const char* file : files) {
    std::filesystem::create_directories((folder / file).parent_path());
    if (std::FILE* f = std::fopen((folder / file).c_str(), "w")) std::fclose(f);
  }
  return folder;
}

// A broken invariant: libFuzzer saves the input that caused it.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace sprocket::fuzz
