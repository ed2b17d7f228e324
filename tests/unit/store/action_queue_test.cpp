#include <gtest/gtest.h>

#include "test_dir.h"
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <set>
#include <thread>

#include "store/store.h"
#include "store_engines.h"

using namespace sprocket::store;
namespace fs = std::filesystem;

namespace {

const ActionLease kNodeA{"node-a", 1'000'000};

// What the start of the only node takes back: everything left running.
InterruptedActions everything_running(std::int64_t now_ms, const std::string& why, const std::string& give_up) {
  return InterruptedActions{now_ms, INT64_MAX, why, 3, give_up};
}

class ActionQueueTest : public sprocket::store::testing::OpenStoreTest {
 protected:
  ActionExecutionRecord enqueue(const std::string& callback_id, std::int64_t due_ms) {
    ActionExecutionRecord e;
    e.account_id = 7;
    e.action = "enrich";
    e.callback_id = callback_id;
    e.event_json = "{}";
    e.created_ms = 1;
    e.next_run_ms = due_ms;
    store_->enqueue_action(e);
    return e;
  }
};
SPROCKET_BOTH_STORE_ENGINES(ActionQueueTest);

TEST_P(ActionQueueTest, ClaimsOnlyWhatIsDueAndNeverTwice) {
  auto early = enqueue("ap-1", 100);
  enqueue("ap-2", 500);
  EXPECT_EQ(store_->next_action_due_ms(), 100);
  auto claimed = store_->claim_due_actions(200, 10, kNodeA);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, early.id);
  EXPECT_EQ(claimed[0].state, "running");
  EXPECT_EQ(claimed[0].attempts, 1);
  // Running: not claimed again, however late it gets.
  auto later = store_->claim_due_actions(1000, 10, kNodeA);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].callback_id, "ap-2");
  EXPECT_TRUE(store_->claim_due_actions(5000, 10, kNodeA).empty());
  EXPECT_FALSE(store_->next_action_due_ms().has_value());
  EXPECT_TRUE(store_->claim_due_actions(5000, 0, kNodeA).empty());
}

TEST_P(ActionQueueTest, FinishingSchedulesTheRetryOrEndsTheExecution) {
  enqueue("ap-1", 0);
  auto e = store_->claim_due_actions(10, 1, kNodeA).at(0);
  ActionAttemptRecord attempt{1, 10, 20, "RETRY", "HTTP 429", 5.0, 40, 60'000, {{15, "INFO", "hello"}}};
  e.state = "queued";
  e.next_run_ms = 80;
  e.first_failure_ms = 20;
  e.retries = 1;
  ASSERT_TRUE(store_->finish_action_attempt(e, attempt));
  EXPECT_FALSE(store_->finish_action_attempt(e, attempt)) << "an attempt ends once";
  EXPECT_TRUE(store_->claim_due_actions(79, 1, kNodeA).empty());
  auto again = store_->claim_due_actions(80, 1, kNodeA);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_EQ(again[0].first_failure_ms, 20);
  EXPECT_EQ(again[0].retries, 1);
  auto done = again[0];
  done.state = "succeeded";
  done.finished_ms = 90;
  done.result_json = R"({"outputs":{}})";
  ActionAttemptRecord stale{1, 80, 90, "SUCCEEDED", "", 1.0, 40, 0, {}};
  EXPECT_FALSE(store_->finish_action_attempt(done, stale)) << "only the attempt running may finish it";
  ActionAttemptRecord second{2, 80, 90, "SUCCEEDED", "", 1.0, 40, 0, {}};
  ASSERT_TRUE(store_->finish_action_attempt(done, second));
  auto read = store_->action_execution(done.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->state, "succeeded");
  ASSERT_EQ(read->attempt_list.size(), 2u);
  EXPECT_EQ(read->attempt_list[0].outcome, "RETRY");
  EXPECT_EQ(read->attempt_list[0].retry_delay_ms, 60'000);
  ASSERT_EQ(read->attempt_list[0].lines.size(), 1u);
  EXPECT_EQ(read->attempt_list[0].lines[0].text, "hello");
  EXPECT_EQ(read->attempt_list[1].outcome, "SUCCEEDED");
}

TEST_P(ActionQueueTest, ARestartQueuesWhatWasRunningAgain) {
  enqueue("ap-1", 0);
  auto e = store_->claim_due_actions(10, 1, kNodeA).at(0);
  // A new process opens the same database, as after kill -9.
  store_ = open_store();
  EXPECT_EQ(store_->requeue_interrupted_actions(everything_running(50, "the server stopped", "{}")), 1u);
  auto again = store_->claim_due_actions(50, 1, kNodeA);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
  auto read = store_->action_execution(e.id);
  ASSERT_EQ(read->attempt_list.size(), 2u);
  EXPECT_EQ(read->attempt_list[0].outcome, "INTERRUPTED");
  EXPECT_EQ(read->attempt_list[0].error, "the server stopped");
  EXPECT_EQ(read->attempt_list[1].outcome, "RUNNING");
}

TEST_P(ActionQueueTest, AnExecutionInterruptedTooOftenFailsInsteadOfRunningAgain) {
  auto e = enqueue("ap-1", 0);
  for (int start = 1; start <= 3; ++start) {
    ASSERT_EQ(store_->claim_due_actions(start * 10, 1, kNodeA).size(), 1u) << "start " << start;
    std::size_t requeued = store_->requeue_interrupted_actions(everything_running(start * 10 + 5, "stopped", R"({"failure":"INTERRUPTED"})"));
    EXPECT_EQ(requeued, start < 3 ? 1u : 0u);
  }
  auto read = store_->action_execution(e.id);
  EXPECT_EQ(read->state, "failed");
  EXPECT_EQ(read->result_json, R"({"failure":"INTERRUPTED"})");
  EXPECT_EQ(read->attempt_list.size(), 3u);
}

TEST_P(ActionQueueTest, PruningKeepsWhatIsNotFinished) {
  enqueue("ap-1", 0);
  auto e = store_->claim_due_actions(10, 1, kNodeA).at(0);
  e.state = "failed";
  e.finished_ms = 100;
  ASSERT_TRUE(store_->finish_action_attempt(e, ActionAttemptRecord{1, 10, 100, "FAILED", "no", 1, 1, 0, {}}));
  enqueue("ap-2", 0);
  EXPECT_EQ(store_->prune_action_executions(200), 1u);
  auto left = store_->find_action_executions(ActionExecutionQuery{});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].callback_id, "ap-2");
}

TEST_P(ActionQueueTest, AnotherLiveNodesExecutionsAreNotTakenBackUntilTheirLeaseExpires) {
  auto e = enqueue("ap-1", 0);
  auto claimed = store_->claim_due_actions(10, 1, ActionLease{"node-a", 1000});
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].lease_owner, "node-a");
  EXPECT_EQ(store_->action_execution(e.id)->lease_expires_ms, 1000);
  auto node_b = open_store();
  EXPECT_EQ(node_b->requeue_interrupted_actions(InterruptedActions{500, 500, "node died", 3, "{}"}), 0u) << "node-a is alive";
  EXPECT_EQ(node_b->action_execution(e.id)->state, "running");
  EXPECT_EQ(node_b->requeue_interrupted_actions(InterruptedActions{1500, 1500, "node died", 3, "{}"}), 1u);
  auto read = node_b->action_execution(e.id);
  EXPECT_EQ(read->state, "queued");
  EXPECT_EQ(read->lease_owner, "");
  EXPECT_EQ(read->attempt_list.at(0).outcome, "INTERRUPTED");
  // node-a was only slow: its late result is not taken for the new attempt's.
  claimed[0].state = "succeeded";
  EXPECT_FALSE(store_->finish_action_attempt(claimed[0], ActionAttemptRecord{1, 10, 1600, "SUCCEEDED", "", 1, 1, 0, {}}));
  auto again = node_b->claim_due_actions(1600, 1, ActionLease{"node-b", 5000});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
}

TEST_P(ActionQueueTest, RenewingALeaseKeepsItsExecutionsAndOnlyItsOwn) {
  auto mine = enqueue("ap-1", 0);
  auto theirs = enqueue("ap-2", 0);
  ASSERT_EQ(store_->claim_due_actions(10, 1, ActionLease{"node-a", 1000}).size(), 1u);
  ASSERT_EQ(store_->claim_due_actions(10, 1, ActionLease{"node-b", 1000}).size(), 1u);
  EXPECT_EQ(store_->renew_action_leases(ActionLease{"node-a", 9000}), 1u);
  EXPECT_EQ(store_->requeue_interrupted_actions(InterruptedActions{2000, 2000, "node died", 3, "{}"}), 1u);
  EXPECT_EQ(store_->action_execution(mine.id)->state, "running");
  EXPECT_EQ(store_->action_execution(theirs.id)->state, "queued");
  EXPECT_EQ(store_->renew_action_leases(ActionLease{"node-b", 9000}), 0u) << "taken back: it stays taken";
  // A clean stop lets go at once (expiry 0): the next look takes it back.
  EXPECT_EQ(store_->renew_action_leases(ActionLease{"node-a", 0}), 1u);
  EXPECT_EQ(store_->requeue_interrupted_actions(InterruptedActions{2100, 2100, "stopped", 3, "{}"}), 1u);
}

TEST_P(ActionQueueTest, NodesClaimingAtOnceNeverGetTheSameExecution) {
  constexpr int kExecutions = 60;
  for (int i = 0; i < kExecutions; ++i) enqueue("ap-" + std::to_string(i), 0);
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(open_store());
  std::vector<std::vector<std::int64_t>> got(nodes.size());
  std::vector<std::string> errors(nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    threads.emplace_back([&, n] {
      try {
        for (;;) {
          auto claimed = nodes[n]->claim_due_actions(10, 4, ActionLease{"node-" + std::to_string(n), 1000});
          if (claimed.empty()) break;
          for (const auto& e : claimed) got[n].push_back(e.id);
        }
      } catch (const std::exception& e) {
        errors[n] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    EXPECT_EQ(errors[n], "");
    total += got[n].size();
    all.insert(got[n].begin(), got[n].end());
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kExecutions));
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kExecutions)) << "an execution was claimed twice";
}

}  // namespace
