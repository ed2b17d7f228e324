#include "secrets/secrets_service.h"
#include "util/clock.h"

#include <boost/asio/post.hpp>
#include <chrono>
#include <fmt/format.h>
#include <future>

namespace sprocket::secrets {
namespace asio = boost::asio;

namespace {
}  // namespace

std::optional<std::string> invalid_secret_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return "a secret name must have 1 to 256 characters";
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return "a secret name starts with a letter or '_'";
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return "a secret name holds only letters, digits and '_' (it becomes an environment variable)";
    }
  }
  return std::nullopt;
}

store::SecretRecord seal_secret(std::int64_t account_id, const std::string& name, std::string_view value, const SecretBox& box) {
  auto sealed = box.seal(value);
  std::int64_t now = util::unix_now_ms();
  return store::SecretRecord{account_id, name, std::move(sealed.nonce), std::move(sealed.ciphertext), now, now};
}

SecretsService::SecretsService(asio::io_context& io, store::StoreExecutor& executor, SecretBox box, OnChange on_change)
    : io_(io), executor_(executor), box_(std::move(box)), on_change_(std::move(on_change)) {}

void SecretsService::load_now() {
  std::promise<std::vector<store::SecretRecord>> loaded;
  executor_.post([&](store::Store& s) {
    try {
      loaded.set_value(s.secrets());
    } catch (...) {
      loaded.set_exception(std::current_exception());
    }
  });
  auto records = loaded.get_future().get();
  std::vector<std::string> problems;
  values_ = decrypt_all(records, box_, problems);
  for (const auto& p : problems) fmt::print(stderr, "sprocket: {}\n", p);
  on_change_(values_);
}

void SecretsService::reload(std::function<void()> then) {
  executor_.post([this, then = std::move(then)](store::Store& s) mutable {
    std::vector<store::SecretRecord> records;
    try {
      records = s.secrets();
    } catch (const std::exception& e) {
      fmt::print(stderr, "sprocket: cannot read secrets: {}\n", e.what());
      if (then) asio::post(io_, std::move(then));
      return;
    }
    asio::post(io_, [this, records = std::move(records), then = std::move(then)] {
      std::vector<std::string> problems;
      auto values = decrypt_all(records, box_, problems);
      if (values != values_) {
        values_ = std::move(values);
        on_change_(values_);
      }
      if (then) then();
    });
  });
}

void SecretsService::put(std::int64_t account_id, std::string name, std::string value, Done done) {
  bool created = !exists(account_id, name);
  auto record = seal_secret(account_id, name, value, box_);
  executor_.post([this, record = std::move(record), created, done = std::move(done)](store::Store& s) mutable {
    try {
      s.put_secret(record);
    } catch (const std::exception& e) {
      asio::post(io_, [done = std::move(done), why = std::string(e.what())]() mutable { done(why, false); });
      return;
    }
    asio::post(io_, [this, created, done = std::move(done)]() mutable {
      reload([created, done = std::move(done)] { done(std::nullopt, created); });
    });
  });
}

void SecretsService::remove(std::int64_t account_id, std::string name, Done done) {
  executor_.post([this, account_id, name = std::move(name), done = std::move(done)](store::Store& s) mutable {
    bool existed = false;
    try {
      existed = s.delete_secret(account_id, name);
    } catch (const std::exception& e) {
      asio::post(io_, [done = std::move(done), why = std::string(e.what())]() mutable { done(why, false); });
      return;
    }
    asio::post(io_, [this, existed, done = std::move(done)]() mutable {
      reload([existed, done = std::move(done)] { done(std::nullopt, existed); });
    });
  });
}

void SecretsService::list(std::int64_t account_id, std::function<void(std::optional<std::string>, std::vector<SecretInfo>)> done) {
  executor_.post([this, account_id, done = std::move(done)](store::Store& s) mutable {
    std::vector<SecretInfo> infos;
    std::optional<std::string> error;
    try {
      for (const auto& r : s.secrets()) {
        if (r.account_id == account_id) infos.push_back({r.name, r.created_ms, r.updated_ms});
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    asio::post(io_, [error, infos = std::move(infos), done = std::move(done)]() mutable { done(error, std::move(infos)); });
  });
}

std::size_t SecretsService::count(std::int64_t account_id) const {
  auto it = values_.find(account_id);
  return it == values_.end() ? 0 : it->second.size();
}

bool SecretsService::exists(std::int64_t account_id, const std::string& name) const {
  auto it = values_.find(account_id);
  return it != values_.end() && it->second.count(name) > 0;
}

}  // namespace sprocket::secrets
