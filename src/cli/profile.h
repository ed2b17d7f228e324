#pragma once
// `sprocket login` profiles: a node's admin URL and a token, kept so that remote commands need
// neither --server nor SPROCKET_TOKEN. One file, $XDG_CONFIG_HOME/sprocket/profiles.json
// (~/.config/sprocket without XDG_CONFIG_HOME), 0600 in a 0700 folder; one that others may read
// is refused, as ssh refuses such a key.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/expected.h"

namespace sprocket::cli {

inline constexpr const char* kDefaultProfile = "default";

struct Profile {
  std::string name;
  std::string server;                  // the admin API, http://host:port
  std::string token;                   // never printed, never put in argv
  std::optional<std::int64_t> account; // a scoped token's account: the default --account
};

std::filesystem::path profiles_file();

// The profile commands use: --profile (select_profile), else SPROCKET_PROFILE, else "default".
void select_profile(std::string name);
std::string selected_profile();
bool profile_selected_explicitly();  // --profile or SPROCKET_PROFILE: a missing profile is an error then

// nullopt: no such profile (or no file). The error names the file and what to do.
Expected<std::optional<Profile>, std::string> load_profile(const std::string& name);
// Adds or replaces it; the file is written whole under a temporary name and renamed into place.
Expected<std::filesystem::path, std::string> save_profile(const Profile& profile);
// False when there was no such profile.
Expected<bool, std::string> remove_profile(const std::string& name);

// A remote command's --server and --account, from the selected profile when the command line
// gave neither a server nor a local node (--server, --data-dir, --store): `local_given`. With a
// --server that is the profile's, its account is still the default. The error: a profile asked
// for by name (--profile, SPROCKET_PROFILE) that does not exist, or an unreadable file.
Expected<void*, std::string> apply_profile(bool server_given, bool local_given, std::string& server, bool account_given,
                                           std::int64_t& account);

// "http://HOST:PORT" of a --server URL, for comparing a given URL with a profile's.
std::string normalized_server(const std::string& url);

}  // namespace sprocket::cli
