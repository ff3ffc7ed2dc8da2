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
#include <cstring>
#include <functional>
#include <new>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ps {

template <class Local>  // the glue's per-channel state; default-constructible
class SubscriptionTable {
 public:
  class Entry;

 private:
  struct EntryFree {
    void operator()(Entry* e) const noexcept {
      e->~Entry();
      ::operator delete(static_cast<void*>(e));
    }
  };
  using EntryPtr = std::unique_ptr<Entry, EntryFree>;

 public:
  enum class Command { none, subscribe, unsubscribe };

  // One heap block per channel: the entry, its chain link and the channel's
  // bytes right after it (a worker holds one per connected user, so the map
  // node and string block of a std::unordered_map<std::string, ...> are
  // saved).
  class Entry {
   public:
    Local local{};

    std::string_view channel() const { return {reinterpret_cast<const char*>(this + 1), len_}; }
    bool live() const { return confirmed_ && !in_flight_; }
    std::size_t refs() const { return refs_; }
    bool in_flight() const { return in_flight_; }
    bool confirmed() const { return confirmed_; }

    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    friend class SubscriptionTable;
    friend struct EntryFree;
    explicit Entry(std::uint32_t len) : len_(len) {}
    ~Entry() = default;

    EntryPtr next_;  // the bucket's chain
    std::uint32_t refs_ = 0;
    std::uint32_t len_;
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
  ~SubscriptionTable() {
    for (auto& head : buckets_) {
      while (head) head = std::move(head->next_);  // iteratively: no deep recursion
    }
  }

  // A local connection wants `channel`: creates the entry if needed and
  // counts the reference. The command to send now, if any (subscribe only
  // when the link is up and nothing is subscribed or in flight); live() of
  // the entry says whether messages already flow. Throws std::bad_alloc
  // (a new channel only); then the table is unchanged.
  std::pair<Entry*, Command> acquire(std::string_view channel) {
    Entry* e = find(channel);
    if (e == nullptr) e = insert(channel);
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
    if (buckets_.empty()) return nullptr;
    for (Entry* e = buckets_[bucket(channel, buckets_.size())].get(); e != nullptr; e = e->next_.get()) {
      if (e->channel() == channel) return e;
    }
    return nullptr;
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
    for (auto& head : buckets_) {
      for (EntryPtr* link = &head; *link;) {
        Entry& e = **link;
        e.confirmed_ = false;
        e.in_flight_ = false;
        if (e.refs_ == 0) {
          *link = std::move(e.next_);  // frees e
          --size_;
        } else {
          link = &e.next_;
        }
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
    for_each([&](Entry& e) {
      if (wanted(e)) out.emplace_back(e.channel());
    });
    // Only now that the list exists: marked in flight, sent by the caller.
    link_up_ = true;
    for_each([&](Entry& e) {
      if (wanted(e)) e.in_flight_ = true;
    });
    return out;
  }

  bool link_up() const { return link_up_; }
  std::size_t size() const { return size_; }
  std::size_t live_count() const { return live_; }  // entries with live()
  std::uint64_t unexpected_replies() const { return unexpected_replies_; }

  // Visits every entry (e.g. to tell all connections the link state). f must
  // not acquire or release.
  template <class F>
  void for_each(F&& f) {
    for (auto& head : buckets_) {
      for (Entry* e = head.get(); e != nullptr; e = e->next_.get()) f(*e);
    }
  }

 private:
  static std::size_t bucket(std::string_view channel, std::size_t n) {
    return std::hash<std::string_view>{}(channel) & (n - 1);  // n: a power of two
  }

  // Strong guarantee: the entry is made, then the buckets grown, then it is
  // linked; a throw in between leaves the table as it was.
  Entry* insert(std::string_view channel) {
    if (channel.size() > UINT32_MAX) throw std::bad_alloc();
    void* mem = ::operator new(sizeof(Entry) + channel.size());
    EntryPtr owned(::new (mem) Entry(static_cast<std::uint32_t>(channel.size())));
    if (!channel.empty())
      std::memcpy(reinterpret_cast<char*>(owned.get() + 1), channel.data(), channel.size());
    if (size_ + 1 > buckets_.size()) grow();
    EntryPtr& head = buckets_[bucket(channel, buckets_.size())];
    owned->next_ = std::move(head);
    head = std::move(owned);
    ++size_;
    return head.get();
  }

  // Load factor <= 1. Throws std::bad_alloc before moving anything.
  void grow() {
    std::vector<EntryPtr> bigger(buckets_.empty() ? 16 : buckets_.size() * 2);
    for (auto& head : buckets_) {
      while (head) {
        EntryPtr e = std::move(head);
        head = std::move(e->next_);
        EntryPtr& to = bigger[bucket(e->channel(), bigger.size())];
        e->next_ = std::move(to);
        to = std::move(e);
      }
    }
    buckets_.swap(bigger);
  }

  void erase(Entry* e) {
    for (EntryPtr* link = &buckets_[bucket(e->channel(), buckets_.size())]; *link; link = &(*link)->next_) {
      if (link->get() == e) {
        *link = std::move(e->next_);  // frees e
        --size_;
        return;
      }
    }
  }

  std::vector<EntryPtr> buckets_;  // chains; size a power of two (or empty)
  std::size_t size_ = 0;
  bool link_up_ = false;
  std::size_t live_ = 0;
  std::uint64_t unexpected_replies_ = 0;
};

}  // namespace ps
