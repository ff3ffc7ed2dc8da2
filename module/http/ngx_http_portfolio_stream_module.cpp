// The module definition: directives, configuration create/merge, and the
// per-worker start and exit hooks.

#include <cstdlib>
#include <string>
#include <vector>

#include "namespaces.h"
#include "origin.h"
#include "send_lowat.h"

#include "ngx_ps_fleet.h"
#include "ngx_ps_hub.h"
#include "ngx_ps_module.h"
#include "ngx_ps_stats.h"
#include "ngx_ps_trim.h"

static void* ngx_http_portfolio_stream_create_main_conf(ngx_conf_t* cf);
static char* ngx_http_portfolio_stream_init_main_conf(ngx_conf_t* cf, void* conf);
static ngx_int_t ngx_http_portfolio_stream_postconfiguration(ngx_conf_t* cf);
static char* ngx_http_portfolio_stream_origin_scheme(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
static void* ngx_http_portfolio_stream_create_loc_conf(ngx_conf_t* cf);
static char* ngx_http_portfolio_stream_merge_loc_conf(ngx_conf_t* cf, void* parent, void* child);
static char* ngx_http_portfolio_stream_enable(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
// portfolio_stream_redis and portfolio_stream_redis_cluster (SPEC section 9):
// one handler, told by cmd->post which of the two it parses.
static char* ngx_http_portfolio_stream_redis(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
struct ngx_http_portfolio_stream_redis_mode_t {
  ngx_int_t mode;  // the main conf's redis_set once it is given: 1 single, 2 cluster
  const char* (*parse)(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs, ngx_ps_redis_addr_t* addr);
  const char* conflict;  // when the other directive came first
};
static ngx_http_portfolio_stream_redis_mode_t ngx_http_portfolio_stream_redis_single = {
    1, ngx_ps_redis_parse_addr,
    "cannot be combined with \"portfolio_stream_redis_cluster\" (use one of them)"};
static ngx_http_portfolio_stream_redis_mode_t ngx_http_portfolio_stream_redis_cluster = {
    2, ngx_ps_redis_parse_cluster, "cannot be combined with \"portfolio_stream_redis\" (use one of them)"};
static char* ngx_http_portfolio_stream_origins(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
static char* ngx_http_portfolio_stream_stats_directive(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
static char* ngx_http_portfolio_stream_positive_size(ngx_conf_t* cf, void* post, void* data);
static char* ngx_http_portfolio_stream_nonempty(ngx_conf_t* cf, void* post, void* data);
static ngx_int_t ngx_http_portfolio_stream_init_process(ngx_cycle_t* cycle);
static void ngx_http_portfolio_stream_exit_process(ngx_cycle_t* cycle);

static char* ngx_http_portfolio_stream_positive_num(ngx_conf_t* cf, void* post, void* data);
// nginx's own ngx_conf_check_num_bounds message names neither the directive
// nor the value; this one does ("... directive must be at least 1").
static ngx_conf_post_t ngx_http_portfolio_stream_at_least_one = {ngx_http_portfolio_stream_positive_num};
static ngx_conf_post_t ngx_http_portfolio_stream_positive_size_post = {
    ngx_http_portfolio_stream_positive_size};
static ngx_conf_post_t ngx_http_portfolio_stream_nonempty_post = {ngx_http_portfolio_stream_nonempty};
static char* ngx_http_portfolio_stream_send_lowat(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);

#define PS_LOC_CONF (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF)
static ngx_conf_enum_t ngx_http_portfolio_stream_limit_scopes[] = {
    {ngx_string("instance"), 0}, {ngx_string("fleet"), 1}, {ngx_null_string, 0}};

#define PS_LOC_OFFSET(field) NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_portfolio_stream_loc_conf_t, field)
#define PS_MAIN_OFFSET(field) \
  NGX_HTTP_MAIN_CONF_OFFSET, offsetof(ngx_http_portfolio_stream_main_conf_t, field)

static ngx_command_t ngx_http_portfolio_stream_commands[] = {
    {ngx_string("portfolio_stream"), NGX_HTTP_LOC_CONF | NGX_CONF_FLAG, ngx_http_portfolio_stream_enable,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("portfolio_stream_redis"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE,
     ngx_http_portfolio_stream_redis, NGX_HTTP_MAIN_CONF_OFFSET, 0, &ngx_http_portfolio_stream_redis_single},
    {ngx_string("portfolio_stream_redis_cluster"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE,
     ngx_http_portfolio_stream_redis, NGX_HTTP_MAIN_CONF_OFFSET, 0, &ngx_http_portfolio_stream_redis_cluster},
    {ngx_string("portfolio_stream_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_size_slot,
     PS_MAIN_OFFSET(zone_size), nullptr},
    {ngx_string("portfolio_stream_max_connections"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, PS_MAIN_OFFSET(max_connections), &ngx_http_portfolio_stream_at_least_one},
    {ngx_string("portfolio_stream_limit_scope"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_enum_slot,
     PS_MAIN_OFFSET(limit_scope), ngx_http_portfolio_stream_limit_scopes},
    {ngx_string("portfolio_stream_fleet_lease"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_MAIN_OFFSET(fleet_lease), nullptr},
    {ngx_string("portfolio_stream_control_channel"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, PS_MAIN_OFFSET(control_channel), &ngx_http_portfolio_stream_nonempty_post},
    {ngx_string("portfolio_stream_max_event_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, PS_MAIN_OFFSET(max_event_size), &ngx_http_portfolio_stream_positive_size_post},
    {ngx_string("portfolio_stream_max_connections_per_user"), PS_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, PS_LOC_OFFSET(max_connections_per_user), &ngx_http_portfolio_stream_at_least_one},
    {ngx_string("portfolio_stream_session_cookie"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     PS_LOC_OFFSET(session_cookie), &ngx_http_portfolio_stream_nonempty_post},
    {ngx_string("portfolio_stream_session_secret"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_array_slot,
     PS_LOC_OFFSET(session_secrets), &ngx_http_portfolio_stream_nonempty_post},
    {ngx_string("portfolio_stream_session_prefix"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     PS_LOC_OFFSET(session_prefix), nullptr},
    {ngx_string("portfolio_stream_session_user_field"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     PS_LOC_OFFSET(session_user_field), &ngx_http_portfolio_stream_nonempty_post},
    {ngx_string("portfolio_stream_session_recheck"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_LOC_OFFSET(session_recheck), nullptr},
    {ngx_string("portfolio_stream_channel_prefix"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     PS_LOC_OFFSET(channel_prefix), nullptr},
    {ngx_string("portfolio_stream_broadcast_channel"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     PS_LOC_OFFSET(broadcast_channel), &ngx_http_portfolio_stream_nonempty_post},
    {ngx_string("portfolio_stream_batch_window"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_LOC_OFFSET(batch_window), nullptr},
    {ngx_string("portfolio_stream_heartbeat"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_LOC_OFFSET(heartbeat), nullptr},
    {ngx_string("portfolio_stream_allowed_origins"), PS_LOC_CONF | NGX_CONF_1MORE,
     ngx_http_portfolio_stream_origins, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("portfolio_stream_origin_scheme"), PS_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_portfolio_stream_origin_scheme, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("portfolio_stream_max_message_size"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_size_slot,
     PS_LOC_OFFSET(max_message_size), &ngx_http_portfolio_stream_positive_size_post},
    {ngx_string("portfolio_stream_history"), PS_LOC_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     PS_LOC_OFFSET(history), nullptr},
    {ngx_string("portfolio_stream_history_replay_limit"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_num_slot,
     PS_LOC_OFFSET(history_replay_limit), &ngx_http_portfolio_stream_at_least_one},
    {ngx_string("portfolio_stream_conflate"), PS_LOC_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     PS_LOC_OFFSET(conflate), nullptr},
    {ngx_string("portfolio_stream_close_timeout"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_LOC_OFFSET(close_timeout), nullptr},
    {ngx_string("portfolio_stream_message_timeout"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     PS_LOC_OFFSET(message_timeout), nullptr},
    {ngx_string("portfolio_stream_send_limit"), PS_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_size_slot,
     PS_LOC_OFFSET(send_limit), &ngx_http_portfolio_stream_positive_size_post},
    {ngx_string("portfolio_stream_send_lowat"), PS_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_portfolio_stream_send_lowat, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("portfolio_stream_stats"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_portfolio_stream_stats_directive, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command};

static ngx_http_module_t ngx_http_portfolio_stream_module_ctx = {
    nullptr,                                      // preconfiguration
    ngx_http_portfolio_stream_postconfiguration,  // postconfiguration
    ngx_http_portfolio_stream_create_main_conf,   // create main configuration
    ngx_http_portfolio_stream_init_main_conf,     // init main configuration
    nullptr,                                      // create server configuration
    nullptr,                                      // merge server configuration
    ngx_http_portfolio_stream_create_loc_conf,    // create location configuration
    ngx_http_portfolio_stream_merge_loc_conf      // merge location configuration
};

extern "C" {
ngx_module_t ngx_http_portfolio_stream_module = {NGX_MODULE_V1,
                                                 &ngx_http_portfolio_stream_module_ctx,   // module context
                                                 ngx_http_portfolio_stream_commands,      // module directives
                                                 NGX_HTTP_MODULE,                         // module type
                                                 nullptr,                                 // init master
                                                 nullptr,                                 // init module
                                                 ngx_http_portfolio_stream_init_process,  // init process
                                                 nullptr,                                 // init thread
                                                 nullptr,                                 // exit thread
                                                 ngx_http_portfolio_stream_exit_process,  // exit process
                                                 nullptr,                                 // exit master
                                                 NGX_MODULE_V1_PADDING};
}

// Read once per worker start: nginx hands workers only `env`-declared
// variables, and a reload starts new workers, so "from the next start or
// reload" falls out naturally.
static bool ngx_http_portfolio_stream_env_off;

bool ngx_ps_disabled_by_env() { return ngx_http_portfolio_stream_env_off; }

std::int64_t ngx_ps_now_ms() {
  ngx_time_t* tp = ngx_timeofday();
  return std::int64_t(tp->sec) * 1000 + std::int64_t(tp->msec);
}

// Not nginx's cached time: the stages are shorter than one loop turn.
std::int64_t ngx_ps_now_us() {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

static void* ngx_http_portfolio_stream_create_main_conf(ngx_conf_t* cf) {
  auto* conf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_pcalloc(cf->pool, sizeof(ngx_http_portfolio_stream_main_conf_t)));
  if (conf == nullptr) {
    return nullptr;
  }
  conf->redis_set = NGX_CONF_UNSET;
  conf->zone_size = NGX_CONF_UNSET_SIZE;
  conf->max_connections = NGX_CONF_UNSET;
  conf->max_event_size = NGX_CONF_UNSET_SIZE;
  conf->limit_scope = NGX_CONF_UNSET_UINT;
  conf->fleet_lease = NGX_CONF_UNSET_MSEC;
  conf->namespaces = ngx_array_create(cf->pool, 4, sizeof(ngx_http_portfolio_stream_loc_conf_t*));
  if (conf->namespaces == nullptr) {
    return nullptr;
  }
  return conf;
}

static char* ngx_http_portfolio_stream_init_main_conf(ngx_conf_t* cf, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(c);
  if (conf->redis_set == NGX_CONF_UNSET) {
    static ngx_str_t def_args[] = {ngx_string("127.0.0.1:6379")};
    if (const char* err = ngx_ps_redis_parse_addr(cf, def_args, 1, &conf->redis)) {
      return const_cast<char*>(err);
    }
    conf->redis_set = 1;
  }
  if (conf->zone_size == (ssize_t)NGX_CONF_UNSET_SIZE) {
    conf->zone_size = 1024 * 1024;
  }
  if (conf->zone_size < (ssize_t)(8 * ngx_pagesize)) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"portfolio_stream_zone\" of %z bytes is too small, at least %uz", conf->zone_size,
                       8 * ngx_pagesize);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  ngx_conf_init_value(conf->max_connections, 100);
  ngx_conf_init_size_value(conf->max_event_size, 256 * 1024);
  ngx_conf_init_uint_value(conf->limit_scope, 0);
  ngx_conf_init_msec_value(conf->fleet_lease, 30000);
  conf->limit_fleet = conf->limit_scope == 1;
  if (conf->fleet_lease < 3000) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"portfolio_stream_fleet_lease\" must be at least 3s");
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  return ngx_ps_zone_add(cf, conf);
}

// Issue 15: subscriptions are keyed by the full channel name, so the enabled
// locations' namespaces must not overlap (src/namespaces.h says why). Runs
// after every server and location is merged.
static ngx_int_t ngx_http_portfolio_stream_postconfiguration(ngx_conf_t* cf) {
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_conf_get_module_main_conf(cf, ngx_http_portfolio_stream_module));
  auto* locs = static_cast<ngx_http_portfolio_stream_loc_conf_t**>(pmcf->namespaces->elts);
  const ngx_uint_t n = pmcf->namespaces->nelts;
  try {
    std::vector<std::string> where(n);
    std::vector<ps::NamespaceEntry> entries(n);
    for (ngx_uint_t i = 0; i < n; i++) {
      const ngx_ps_conf_where_t& w = locs[i]->where;
      where[i].append("location \"").append(ngx_ps_sv(w.location)).append("\" at ");
      where[i].append(ngx_ps_sv(w.file)).append(":").append(std::to_string(w.line));
      entries[i] = {ngx_ps_sv(locs[i]->channel_prefix), ngx_ps_sv(locs[i]->broadcast_channel), where[i]};
    }
    if (auto conflict = ps::find_namespace_conflict(entries.data(), n)) {
      const std::string msg = ps::describe_conflict(*conflict, entries.data());
      ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%*s", msg.size(), msg.data());
      return NGX_ERROR;
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "portfolio_stream: out of memory checking channel prefixes");
    return NGX_ERROR;
  }
  return NGX_OK;
}

static void* ngx_http_portfolio_stream_create_loc_conf(ngx_conf_t* cf) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
      ngx_pcalloc(cf->pool, sizeof(ngx_http_portfolio_stream_loc_conf_t)));
  if (conf == nullptr) {
    return nullptr;
  }
  // ngx_pcalloc zeroed the strings: {0, NULL} means "not set".
  conf->enable = NGX_CONF_UNSET;
  conf->stats = NGX_CONF_UNSET;
  conf->max_connections_per_user = NGX_CONF_UNSET;
  conf->session_secrets = static_cast<ngx_array_t*>(NGX_CONF_UNSET_PTR);
  conf->session_recheck = NGX_CONF_UNSET_MSEC;
  conf->batch_window = NGX_CONF_UNSET_MSEC;
  conf->heartbeat = NGX_CONF_UNSET_MSEC;
  conf->close_timeout = NGX_CONF_UNSET_MSEC;
  conf->history = NGX_CONF_UNSET;
  conf->conflate = NGX_CONF_UNSET;
  conf->history_replay_limit = NGX_CONF_UNSET;
  conf->message_timeout = NGX_CONF_UNSET_MSEC;
  conf->allowed_origins = static_cast<ngx_array_t*>(NGX_CONF_UNSET_PTR);
  conf->any_origin = NGX_CONF_UNSET;
  conf->origin_scheme = NGX_CONF_UNSET_UINT;
  conf->max_message_size = NGX_CONF_UNSET_SIZE;
  conf->send_limit = NGX_CONF_UNSET_SIZE;
  conf->send_lowat = NGX_CONF_UNSET_SIZE;
  return conf;
}

static char* ngx_http_portfolio_stream_merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
  auto* prev = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(parent);
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(child);

  // portfolio_stream and portfolio_stream_stats belong to one location only.
  ngx_conf_init_value(conf->enable, 0);
  ngx_conf_init_value(conf->stats, 0);
  ngx_conf_merge_value(conf->max_connections_per_user, prev->max_connections_per_user, 5);
  ngx_conf_merge_str_value(conf->session_cookie, prev->session_cookie, "connect.sid");
  ngx_conf_merge_ptr_value(conf->session_secrets, prev->session_secrets, nullptr);
  ngx_conf_merge_str_value(conf->session_prefix, prev->session_prefix, "sess:");
  ngx_conf_merge_str_value(conf->session_user_field, prev->session_user_field, "userId");
  ngx_conf_merge_msec_value(conf->session_recheck, prev->session_recheck, 60000);
  ngx_conf_merge_str_value(conf->channel_prefix, prev->channel_prefix, "portfolio:user:");
  ngx_conf_merge_str_value(conf->broadcast_channel, prev->broadcast_channel, "");
  if (conf->enable == 1) {
    // Checked once every location is merged (postconfiguration).
    auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_portfolio_stream_module));
    auto* slot = static_cast<ngx_http_portfolio_stream_loc_conf_t**>(ngx_array_push(pmcf->namespaces));
    if (slot == nullptr) {
      return static_cast<char*>(NGX_CONF_ERROR);
    }
    *slot = conf;
  }
  ngx_conf_merge_msec_value(conf->batch_window, prev->batch_window, 250);
  ngx_conf_merge_msec_value(conf->heartbeat, prev->heartbeat, 15000);
  ngx_conf_merge_msec_value(conf->close_timeout, prev->close_timeout, 5000);
  ngx_conf_merge_value(conf->history, prev->history, 0);
  ngx_conf_merge_value(conf->conflate, prev->conflate, 1);
  ngx_conf_merge_value(conf->history_replay_limit, prev->history_replay_limit, 1000);
  if (conf->enable && conf->history) {
    auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_portfolio_stream_module));
    pmcf->history_locations++;  // the command connection checks the library
  }
  ngx_conf_merge_msec_value(conf->message_timeout, prev->message_timeout, 30000);
  if (conf->enable && conf->close_timeout == 0) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"portfolio_stream_close_timeout\" must be greater than 0");
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  ngx_conf_merge_ptr_value(conf->allowed_origins, prev->allowed_origins, nullptr);
  ngx_conf_merge_value(conf->any_origin, prev->any_origin, 0);
  ngx_conf_merge_uint_value(conf->origin_scheme, prev->origin_scheme,
                            ngx_uint_t(ps::OriginScheme::automatic));
  ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size, 64 * 1024);
  ngx_conf_merge_size_value(conf->send_limit, prev->send_limit, 1024 * 1024);
  ngx_conf_merge_size_value(conf->send_lowat, prev->send_lowat, ps::SendLowat::kDefault);

  if (conf->enable && conf->send_limit < 1024) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"portfolio_stream_send_limit\" must be at least 1k");
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  // Pool memory runs no constructors.
  ps::SessionConfig* sc = ::new (&conf->session) ps::SessionConfig();
  sc->heartbeat_ms = std::int64_t(conf->heartbeat);
  sc->close_timeout_ms = std::int64_t(conf->close_timeout);
  sc->message_timeout_ms = std::int64_t(conf->message_timeout);
  sc->send_limit = conf->send_limit;
  sc->max_message_size = conf->max_message_size;
  sc->conflate = conf->conflate != 0;
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_enable(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(c);
  if (conf->enable != NGX_CONF_UNSET) {
    return const_cast<char*>("is duplicate");
  }
  if (conf->stats == 1) {
    return const_cast<char*>("cannot share a location with \"portfolio_stream_stats\"");
  }
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  if (ngx_strcasecmp(value[1].data, (u_char*)"on") == 0) {
    conf->enable = 1;
  } else if (ngx_strcasecmp(value[1].data, (u_char*)"off") == 0) {
    conf->enable = 0;
  } else {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must be \"on\" or \"off\"", &value[1],
                       &cmd->name);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  // Both values make this the endpoint: "off" answers 503 (feature off).
  auto* clcf =
      static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
  clcf->handler = ngx_http_portfolio_stream_handler;
  conf->where.location = clcf->name;
  conf->where.file = cf->conf_file->file.name;
  conf->where.line = cf->conf_file->line;
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_conf_get_module_main_conf(cf, ngx_http_portfolio_stream_module));
  pmcf->stream_locations++;
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_stats_directive(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(c);
  if (conf->stats != NGX_CONF_UNSET) {
    return const_cast<char*>("is duplicate");
  }
  if (conf->enable != NGX_CONF_UNSET) {
    return const_cast<char*>("cannot share a location with \"portfolio_stream\"");
  }
  conf->stats = 1;
  auto* clcf =
      static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
  clcf->handler = ngx_http_portfolio_stream_stats_handler;
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_redis(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(c);
  const auto* how = static_cast<const ngx_http_portfolio_stream_redis_mode_t*>(cmd->post);
  if (conf->redis_set != NGX_CONF_UNSET && conf->redis_set != how->mode) {
    return const_cast<char*>(how->conflict);
  }
  if (conf->redis_set != NGX_CONF_UNSET) {
    return const_cast<char*>("is duplicate");
  }
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  if (const char* err = how->parse(cf, value + 1, cf->args->nelts - 1, &conf->redis)) {
    return const_cast<char*>(err);
  }
  conf->redis_set = how->mode;
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_origins(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(c);
  if (conf->allowed_origins != NGX_CONF_UNSET_PTR || conf->any_origin != NGX_CONF_UNSET) {
    return const_cast<char*>("is duplicate");
  }
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  ngx_uint_t n = cf->args->nelts;
  if (n == 2 && value[1].len == 1 && value[1].data[0] == '*') {
    conf->any_origin = 1;
    conf->allowed_origins = nullptr;
    return NGX_CONF_OK;
  }
  conf->any_origin = 0;
  conf->allowed_origins = ngx_array_create(cf->pool, n - 1, sizeof(ngx_str_t));
  if (conf->allowed_origins == nullptr) {
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  for (ngx_uint_t i = 1; i < n; i++) {
    ngx_str_t& v = value[i];
    bool scheme = (v.len > 7 && ngx_strncasecmp(v.data, (u_char*)"http://", 7) == 0) ||
                  (v.len > 8 && ngx_strncasecmp(v.data, (u_char*)"https://", 8) == 0);
    if (!scheme) {
      ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                         "invalid origin \"%V\" in \"%V\": expected \"*\" alone or origins like "
                         "\"https://app.example.com\"",
                         &v, &cmd->name);
      return static_cast<char*>(NGX_CONF_ERROR);
    }
    auto* slot = static_cast<ngx_str_t*>(ngx_array_push(conf->allowed_origins));
    if (slot == nullptr) {
      return static_cast<char*>(NGX_CONF_ERROR);
    }
    *slot = v;
  }
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_origin_scheme(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(c);
  if (conf->origin_scheme != NGX_CONF_UNSET_UINT) {
    return const_cast<char*>("is duplicate");
  }
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  if (ngx_strcmp(value[1].data, "auto") == 0) {
    conf->origin_scheme = ngx_uint_t(ps::OriginScheme::automatic);
  } else if (ngx_strcmp(value[1].data, "https") == 0) {
    conf->origin_scheme = ngx_uint_t(ps::OriginScheme::https);
  } else if (ngx_strcmp(value[1].data, "any") == 0) {
    conf->origin_scheme = ngx_uint_t(ps::OriginScheme::any);
  } else {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must be \"auto\", \"https\" or \"any\"",
                       &value[1], &cmd->name);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_positive_num(ngx_conf_t* cf, void* post, void* data) {
  if (*static_cast<ngx_int_t*>(data) < 1) {
    ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive must be at least 1, not \"%V\"", &value[0],
                       &value[1]);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_positive_size(ngx_conf_t* cf, void* post, void* data) {
  if (*static_cast<size_t*>(data) == 0) {
    return const_cast<char*>("must be greater than 0");
  }
  return NGX_CONF_OK;
}

static char* ngx_http_portfolio_stream_nonempty(ngx_conf_t* cf, void* post, void* data) {
  // Works for both str slots and the last element of a str array slot: the
  // value just set is the last directive argument.
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  if (value[1].len == 0) {
    return const_cast<char*>("must not be empty");
  }
  return NGX_CONF_OK;
}

// portfolio_stream_send_lowat SIZE | off: a size as nginx writes them, off = 0
// (the kernel's default); checked at the line (src/send_lowat.h).
static char* ngx_http_portfolio_stream_send_lowat(ngx_conf_t* cf, ngx_command_t* cmd, void* c) {
  auto* conf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(c);
  if (conf->send_lowat != NGX_CONF_UNSET_SIZE) {
    return const_cast<char*>("is duplicate");
  }
  ngx_str_t* value = static_cast<ngx_str_t*>(cf->args->elts);
  std::size_t size = 0;
  if (ngx_strcasecmp(value[1].data, (u_char*)"off") != 0) {
    ssize_t n = ngx_parse_size(&value[1]);
    if (n == NGX_ERROR) {
      return const_cast<char*>("invalid value");
    }
    size = std::size_t(n);
  }
  if (const char* err = ps::check_send_lowat(size)) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive %s, not \"%V\"", &cmd->name, err, &value[1]);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  conf->send_lowat = size;
  return NGX_CONF_OK;
}

static ngx_int_t ngx_http_portfolio_stream_init_process(ngx_cycle_t* cycle) {
  const char* env = std::getenv("ENABLE_REALTIME_PORTFOLIO");
  ngx_http_portfolio_stream_env_off =
      env != nullptr && (ngx_strcasecmp((u_char*)env, (u_char*)"false") == 0 || ngx_strcmp(env, "0") == 0 ||
                         ngx_strcasecmp((u_char*)env, (u_char*)"off") == 0);

  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_portfolio_stream_module));
  if (pmcf == nullptr) {
    return NGX_OK;
  }
  if (ngx_ps_zone_init_process(cycle) != NGX_OK || ngx_ps_fleet_init_process(cycle) != NGX_OK) {
    return NGX_ERROR;
  }
  if (pmcf->stream_locations == 0) {
    return NGX_OK;  // no stream location: no Redis connections
  }
  return ngx_ps_hub_init(cycle);
}

static void ngx_http_portfolio_stream_exit_process(ngx_cycle_t* cycle) {
  ngx_ps_fleet_exit_process();  // queues the drop of this edge's fleet places
  ngx_ps_trim_exit();
  ngx_ps_hub_exit(cycle);  // the connections, then Redis (flushing what is queued)
  ngx_ps_zone_exit_process(cycle);
}
