// SPEC section 8: the Redis Functions library portfolio_stream, checked on
// every new command connection while some location has history on: its
// version is asked first, and a missing or older library is loaded
// (FUNCTION LOAD REPLACE). Part of the connection's handshake, so no history
// read is sent before the library is there; a Redis that cannot have it
// (< 7.0, an ACL without FUNCTION) still serves sessions, and history reads
// then fail at once (resumes get recovered:false).

#include "history_function.h"

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

namespace {

void handshake_step_done(ps_conn* pc) {
  pc->last_progress = ngx_current_msec;
  if (pc->handshake > 0 && --pc->handshake == 0) {
    conn_ready(pc);
  }
}

void functions_missing(ps_conn* pc, const redisReply* reply, const char* what) {
  worker.functions = ps_redis::functions_state::missing;
  ngx_uint_t skipped = 0;
  if (worker.functions_log.allow(&skipped)) {
    ngx_log_error(
        NGX_LOG_ERR, ps_log(), 0,
        "portfolio_stream_history: %s the Redis Functions library \"portfolio_stream\" on %s failed: "
        "\"%*s\"; history needs Redis >= 7.0 and, with ACLs, +fcall +function|load; resumes get "
        "recovered:false until it is there%s",
        what, worker.where.c_str(), reply ? int(reply->len) : 0, reply ? reply->str : "",
        suppressed_note(skipped).buf);
  }
}

void on_load_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* pc = static_cast<ps_conn*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || ac != pc->ac) {
    return;  // the context is going away
  }
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
    worker.functions = ps_redis::functions_state::ok;
    ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                  "portfolio_stream_history: loaded the Redis Functions library \"portfolio_stream\" "
                  "version %d on %s",
                  ps::kHistoryFunctionVersion, worker.where.c_str());
  } else {
    functions_missing(pc, reply->type == REDIS_REPLY_ERROR ? reply : nullptr, "loading");
  }
  handshake_step_done(pc);
}

void on_version_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* pc = static_cast<ps_conn*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || ac != pc->ac) {
    return;
  }
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= ps::kHistoryFunctionVersion) {
    worker.functions = ps_redis::functions_state::ok;  // ours, or newer (another edge's)
    handshake_step_done(pc);
    return;
  }
  // Missing, older, or FCALL unknown (Redis < 7.0: then the load fails too).
  std::string_view code = ps::history_function_code();
  const char* argv[4] = {"FUNCTION", "LOAD", "REPLACE", code.data()};
  std::size_t lens[4] = {8, 4, 7, code.size()};
  if (redisAsyncCommandArgv(ac, on_load_reply, pc, 4, argv, lens) != REDIS_OK) {
    functions_missing(pc, nullptr, "sending");
    handshake_step_done(pc);
    return;
  }
  pc->last_progress = ngx_current_msec;  // still in the handshake: one more reply due
}

}  // namespace

bool functions_send_check(ps_conn* pc) {
  worker.functions = ps_redis::functions_state::unknown;  // a new connection: maybe a new Redis
  const char* argv[3] = {"FCALL", "portfolio_stream_version", "0"};
  std::size_t lens[3] = {5, 24, 1};
  if (redisAsyncCommandArgv(pc->ac, on_version_reply, pc, 3, argv, lens) != REDIS_OK) {
    return false;
  }
  pc->handshake++;
  return true;
}

}  // namespace ngx_ps_redis_internal
