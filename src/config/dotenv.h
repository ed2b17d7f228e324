#pragma once
// `.env` files: KEY=VALUE lines, as the dotenv package reads them.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace sprocket::config {

std::map<std::string, std::string> parse_dotenv(std::string_view text);
// Empty when the file does not exist.
std::map<std::string, std::string> read_dotenv_file(const std::filesystem::path& file);

}  // namespace sprocket::config
