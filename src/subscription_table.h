// Per-worker bookkeeping of the Redis channels subscribed on the worker's
// single pub/sub connection, reference-counted by local connections.
// Sans-I/O: the caller sends the commands this table asks for and feeds back
// the replies; nothing here touches Redis.
//
// Per channel the table keeps one Entry (stable address until erased) with
//   refs       local connections holding it (acquire/release),
//   confirmed  Redis's state for the channel as of the last reply
//              (true after a subscribe confirmation),
//   in_flight  one command for it has been sent and not yet answered: a
//              SUBSCRIBE when !confirmed, an UNSUBSCRIBE when confirmed.
// At most ONE command per channel is ever in flight: a change of mind while
// a command is in flight is acted upon when its reply arrives. Replies for a
// channel therefore always answer the command the table expects, whatever
// the interleaving (Redis answers in command order anyway).
//
// States (link up; refs>0 means "wanted"):
//
//   Idle ----acquire----> Subscribing ----on_subscribed----> Live
//   (erased)   [SUB]       !conf, in_flight   refs>0: returns entry       conf, !in_flight
//                                            refs==0: [UNSUB] -> Unsubscribing
//   Live ---last release---> Unsubscribing ----on_unsubscribed----> erased (refs==0)
//         [UNSUB]           conf, in_flight   refs>0: [SUB] -> Subscribing
//
// live() == confirmed && !in_flight: Redis is subscribed and no UNSUBSCRIBE
// is queued, so every message published from now on reaches this worker.
// Only live entries should get messages; a connection that joins a non-live
// entry waits until on_subscribed returns that entry (then it may send its
// "connected" message). Messages for a non-live entry (e.g. while its
// UNSUBSCRIBE is in flight) are to be dropped.
//
// Link down (initially, and after on_connection_lost()): no command is
// issued; acquire only creates/counts entries; entries with refs==0 are
// erased at once. resubscribe_all(), called when the pub/sub connection is
// ready -- the FIRST time too -- marks the link up and returns every wanted
// channel (each is then Subscribing); calling it again while up returns
// only wanted channels that are neither subscribed nor in flight (none in
// normal operation), so a duplicate call is harmless.
//
// Invariants: an entry exists iff refs>0 or a command is in flight (or, link
// up, Redis has it confirmed); after all releases and all replies the table
// is empty; at quiescence (link up, no reply outstanding) Redis is
// subscribed to exactly the channels with refs>0, and all of them are live.
//
// Entry pointers are stable until the entry is erased, which happens only
// inside release() (when it returns Command::none and refs reached 0),
// on_unsubscribed() and on_connection_lost(); an entry with refs>0 is never
// erased. Not thread-safe (one nginx worker). Throws std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ps {

template <class Local>  // the glue's per-channel state; default-constructible
class SubscriptionTable {
 public:
  enum class Command { none, subscribe, unsubscribe };

  class Entry {
   public:
    Local local{};

    const std::string& channel() const { return channel_; }
    bool live() const { return confirmed_ && !in_flight_; }
    std::size_t refs() const { return refs_; }
    bool in_flight() const { return in_flight_; }
    bool confirmed() const { return confirmed_; }

    explicit Entry(std::string_view channel) : channel_(channel) {}
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    friend class SubscriptionTable;
    std::string channel_;
    std::size_t refs_ = 0;
    bool confirmed_ = false;
    bool in_flight_ = false;
  };

  // What a subscribe confirmation means for the caller.
  struct SubscribedResult {
    Entry* became_live = nullptr;     // set when the entry just became live (refs>0)
    Command command = Command::none;  // Command::unsubscribe when nobody wants it anymore
  };

  SubscriptionTable() = default;
  SubscriptionTable(const SubscriptionTable&) = delete;
  SubscriptionTable& operator=(const SubscriptionTable&) = delete;

  // A local connection wants `channel`: creates the entry if needed and
  // counts the reference. The command to send now, if any (subscribe only
  // when the link is up and nothing is subscribed or in flight); live() of
  // the entry says whether messages already flow. Throws std::bad_alloc
  // (a new channel only); then the table is unchanged.
  std::pair<Entry*, Command> acquire(std::string_view channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) {
      auto owned = std::make_unique<Entry>(channel);
      std::string_view key = owned->channel_;  // points into the entry: stable
      it = entries_.emplace(key, std::move(owned)).first;
    }
    Entry* e = it->second.get();
    ++e->refs_;
    if (link_up_ && !e->confirmed_ && !e->in_flight_) {
      e->in_flight_ = true;
      return {e, Command::subscribe};
    }
    return {e, Command::none};
  }

  // A local connection let go of e (which it acquired). Returns
  // Command::unsubscribe when the last reference went from a live entry. When
  // the last reference goes and nothing has to be sent or awaited, e is
  // erased (do not touch e after release() anyway).
  Command release(Entry* e) {
    if (!e || e->refs_ == 0) return Command::none;
    if (--e->refs_ != 0) return Command::none;
    if (e->in_flight_) return Command::none;  // decided when the reply arrives
    if (e->confirmed_) {                      // live, link up
      e->in_flight_ = true;
      --live_;
      return Command::unsubscribe;
    }
    erase(e);  // link down: nothing to undo
    return Command::none;
  }

  // The entry for channel, or nullptr. Dispatch messages only when live().
  Entry* find(std::string_view channel) const {
    auto it = entries_.find(channel);
    return it == entries_.end() ? nullptr : it->second.get();
  }

  // Redis confirmed a SUBSCRIBE of channel. A reply the table did not ask
  // for (unknown channel, or no SUBSCRIBE in flight) is ignored and counted.
  SubscribedResult on_subscribed(std::string_view channel) {
    Entry* e = find(channel);
    if (!e || !e->in_flight_ || e->confirmed_) {
      ++unexpected_replies_;
      return {};
    }
    e->confirmed_ = true;
    if (e->refs_ == 0) {                       // everybody left meanwhile
      return {nullptr, Command::unsubscribe};  // stays in flight
    }
    e->in_flight_ = false;
    ++live_;
    return {e, Command::none};
  }

  // Redis confirmed an UNSUBSCRIBE of channel. Returns Command::subscribe
  // when somebody wants the channel again (a reconnect raced the
  // unsubscribe); otherwise erases the entry. Unexpected replies are ignored
  // and counted.
  Command on_unsubscribed(std::string_view channel) {
    Entry* e = find(channel);
    if (!e || !e->in_flight_ || !e->confirmed_) {
      ++unexpected_replies_;
      return Command::none;
    }
    e->confirmed_ = false;
    if (e->refs_ > 0) return Command::subscribe;  // stays in flight
    erase(e);
    return Command::none;
  }

  // The pub/sub connection is gone (replies of commands in flight will never
  // come): nothing is live or in flight anymore; entries with refs==0 are
  // erased. Commands stop until resubscribe_all().
  void on_connection_lost() {
    link_up_ = false;
    live_ = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = *it->second;
      e.confirmed_ = false;
      e.in_flight_ = false;
      if (e.refs_ == 0) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The pub/sub connection is ready (first connect and every reconnect):
  // marks the link up and returns the channels to SUBSCRIBE now, each marked
  // in flight (the caller may pack them into commands of a few hundred).
  // Throws std::bad_alloc; then nothing has changed (the link is still
  // down, nothing is in flight) and a later call returns every channel.
  std::vector<std::string> resubscribe_all() {
    auto wanted = [](const Entry& e) { return e.refs_ > 0 && !e.confirmed_ && !e.in_flight_; };
    std::vector<std::string> out;
    for (auto& kv : entries_) {
      if (wanted(*kv.second)) out.push_back(kv.second->channel_);
    }
    // Only now that the list exists: marked in flight, sent by the caller.
    link_up_ = true;
    for (auto& kv : entries_) {
      if (wanted(*kv.second)) kv.second->in_flight_ = true;
    }
    return out;
  }

  bool link_up() const { return link_up_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t live_count() const { return live_; }  // entries with live()
  std::uint64_t unexpected_replies() const { return unexpected_replies_; }

  // Visits every entry (e.g. to tell all connections the link state).
  template <class F>
  void for_each(F&& f) {
    for (auto& kv : entries_) f(*kv.second);
  }

 private:
  void erase(Entry* e) {
    auto it = entries_.find(std::string_view(e->channel_));
    if (it != entries_.end()) entries_.erase(it);
  }

  // Keys are views of the entries' own channel strings.
  std::unordered_map<std::string_view, std::unique_ptr<Entry>> entries_;
  bool link_up_ = false;
  std::size_t live_ = 0;
  std::uint64_t unexpected_replies_ = 0;
};

}  // namespace ps
