// The module's Redis Functions libraries, checked on every new command
// connection while their feature is on: portfolio_stream (history, SPEC
// section 8) and portfolio_stream_fleet (limit_scope fleet, section 9). Each
// library's version is asked first, and a missing or older one is loaded
// (FUNCTION LOAD REPLACE). Part of the connection's handshake, so no call
// is sent before its library is there; a Redis that cannot have them
// (< 7.0, an ACL without FUNCTION) still serves sessions, and the calls then
// fail at once (history: recovered:false; fleet: 503).

#include "fleet_function.h"
#include "history_function.h"

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

namespace {

struct library_t {
  const char* name;
  const char* version_function;
  int version;
  std::string_view (*code)() noexcept;
  bool ps_redis::*wanted;
  functions_state ps_node::*state;
  const char* directive;  // for the log line
};

const library_t kLibraries[] = {
    {"portfolio_stream", "portfolio_stream_version", ps::kHistoryFunctionVersion, ps::history_function_code,
     &ps_redis::history, &ps_node::functions,
     "portfolio_stream_history: resumes get recovered:false until it is there"},
    {"portfolio_stream_fleet", "portfolio_stream_fleet_version", ps::kFleetFunctionVersion,
     ps::fleet_function_code, &ps_redis::fleet, &ps_node::fleet_functions,
     "portfolio_stream_limit_scope fleet: handshakes get 503 until it is there"},
};

// The command connection whose reply this is, or nullptr when the context
// is going away (ev_cleanup reports why).
ps_conn* conn_of(redisAsyncContext* ac, void* reply) {
  auto* pc = static_cast<ps_conn*>(ac->data);
  return (reply == nullptr || pc == nullptr || pc->ac != ac) ? nullptr : pc;
}

void handshake_step_done(ps_conn* pc) {
  pc->last_progress = ngx_current_msec;
  if (pc->handshake > 0 && --pc->handshake == 0) {
    conn_ready(pc);
  }
}

void functions_missing(ps_node* node, const library_t* lib, const redisReply* reply, const char* what) {
  node->*(lib->state) = functions_state::missing;
  ngx_uint_t skipped = 0;
  if (worker.functions_log.allow(&skipped)) {
    ngx_log_error(
        NGX_LOG_ERR, ps_log(), 0,
        "portfolio_stream: %s the Redis Functions library \"%s\" on %s failed: \"%*s\"; it needs Redis "
        ">= 7.0 and, with ACLs, +fcall +function|load; %s%s",
        what, lib->name, node->where.c_str(), reply ? int(reply->len) : 0, reply ? reply->str : "",
        lib->directive, suppressed_note(skipped).buf);
  }
}

void on_load_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* lib = static_cast<const library_t*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  ps_conn* pc = conn_of(ac, reply);
  if (pc == nullptr) {
    return;  // the context is going away
  }
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
    pc->node->*(lib->state) = functions_state::ok;
    ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                  "portfolio_stream: loaded the Redis Functions library \"%s\" version %d on %s", lib->name,
                  lib->version, pc->node->where.c_str());
  } else {
    functions_missing(pc->node, lib, reply->type == REDIS_REPLY_ERROR ? reply : nullptr, "loading");
  }
  handshake_step_done(pc);
}

void on_version_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* lib = static_cast<const library_t*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  ps_conn* pc = conn_of(ac, reply);
  if (pc == nullptr) {
    return;
  }
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= lib->version) {
    pc->node->*(lib->state) = functions_state::ok;  // ours, or newer (another edge's)
    handshake_step_done(pc);
    return;
  }
  // Missing, older, or FCALL unknown (Redis < 7.0: then the load fails too).
  std::string_view code = lib->code();
  const char* argv[4] = {"FUNCTION", "LOAD", "REPLACE", code.data()};
  std::size_t lens[4] = {8, 4, 7, code.size()};
  if (redisAsyncCommandArgv(ac, on_load_reply, const_cast<library_t*>(lib), 4, argv, lens) != REDIS_OK) {
    functions_missing(pc->node, lib, nullptr, "sending");
    handshake_step_done(pc);
    return;
  }
  pc->last_progress = ngx_current_msec;  // still in the handshake: one more reply due
}

void on_reload_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* lib = static_cast<const library_t*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  ps_conn* pc = conn_of(ac, reply);
  if (pc == nullptr) {
    return;
  }
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
    pc->node->*(lib->state) = functions_state::ok;
    ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                  "portfolio_stream: the Redis Functions library \"%s\" was gone from %s: loaded it again",
                  lib->name, pc->node->where.c_str());
  } else {
    functions_missing(pc->node, lib, reply->type == REDIS_REPLY_ERROR ? reply : nullptr, "reloading");
  }
}

}  // namespace

void functions_lost(ps_node* node, bool fleet) {
  const library_t* lib = &kLibraries[fleet ? 1 : 0];
  if (node->*(lib->state) != functions_state::ok || node->cmd.state != conn_state::ready) {
    return;
  }
  node->*(lib->state) = functions_state::unknown;  // calls fail at once until it is back
  std::string_view code = lib->code();
  const char* argv[4] = {"FUNCTION", "LOAD", "REPLACE", code.data()};
  std::size_t lens[4] = {8, 4, 7, code.size()};
  if (redisAsyncCommandArgv(node->cmd.ac, on_reload_reply, const_cast<library_t*>(lib), 4, argv, lens) !=
      REDIS_OK) {
    node->*(lib->state) = functions_state::missing;
  }
}

bool functions_send_check(ps_conn* pc) {
  for (const library_t& lib : kLibraries) {
    if (!(worker.*(lib.wanted))) {
      continue;
    }
    pc->node->*(lib.state) = functions_state::unknown;  // a new connection: maybe a new Redis
    const char* argv[3] = {"FCALL", lib.version_function, "0"};
    std::size_t lens[3] = {5, std::strlen(lib.version_function), 1};
    if (redisAsyncCommandArgv(pc->ac, on_version_reply, const_cast<library_t*>(&lib), 3, argv, lens) !=
        REDIS_OK) {
      return false;
    }
    pc->handshake++;
  }
  return true;
}

}  // namespace ngx_ps_redis_internal
