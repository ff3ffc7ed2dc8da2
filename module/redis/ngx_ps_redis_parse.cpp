// The arguments of `portfolio_stream_redis` (ngx_ps_redis_parse_addr), at
// configuration time: the address is resolved here, once.

#include "ngx_ps_nginx.h"
#include "ngx_ps_redis.h"

namespace {

ngx_str_t pool_copy(ngx_pool_t* pool, const u_char* p, std::size_t n) {
  ngx_str_t s{0, nullptr};
  auto* d = static_cast<u_char*>(ngx_pnalloc(pool, n + 1));
  if (d != nullptr) {
    ngx_memcpy(d, p, n);
    d[n] = '\0';
    s.len = n;
    s.data = d;
  }
  return s;
}

bool has_prefix(const ngx_str_t& s, std::string_view prefix, ngx_str_t* rest) {
  if (s.len < prefix.size() || ngx_strncmp(s.data, prefix.data(), prefix.size()) != 0) {
    return false;
  }
  rest->data = s.data + prefix.size();
  rest->len = s.len - prefix.size();
  return true;
}

// One address: host:port, [v6]:port, or (allow_unix) unix:/path.
const char* resolve(ngx_conf_t* cf, ngx_str_t arg, ngx_str_t* host, in_port_t* port, ngx_str_t* unix_path,
                    bool allow_unix) {
  ngx_url_t u;
  ngx_memzero(&u, sizeof(ngx_url_t));
  u.url = arg;
  u.default_port = 6379;
  // Resolved here, once, like nginx resolves upstream servers: at run time a
  // blocking getaddrinfo inside hiredis would stall the worker on every retry.
  if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
    if (u.err != nullptr && ngx_strcmp(u.err, "host not found") == 0) {
      return "cannot resolve the Redis host name";
    }
    if (u.err != nullptr && ngx_strcmp(u.err, "invalid port") == 0) {
      return "has an invalid port (expected host:port with port 1..65535)";
    }
    return allow_unix ? "has an invalid address (expected host:port, [ipv6]:port or unix:/path)"
                      : "has an invalid address (expected host:port or [ipv6]:port)";
  }

  if (u.family == AF_UNIX) {
    if (!allow_unix) {
      return "has a unix: address (cluster nodes are reached over TCP: host:port)";
    }
    *unix_path = pool_copy(cf->pool, u.host.data, u.host.len);
    if (unix_path->data == nullptr) {
      return "failed: out of memory";
    }
    return nullptr;
  }
  if (u.naddrs == 0 || u.addrs == nullptr) {
    return "cannot resolve the Redis host name";
  }
  // Redis usually listens on 127.0.0.1 only, while "localhost" may resolve
  // to ::1 first.
  ngx_addr_t* a = &u.addrs[0];
  for (ngx_uint_t i = 0; i < u.naddrs; i++) {
    if (u.addrs[i].sockaddr->sa_family == AF_INET) {
      a = &u.addrs[i];
      break;
    }
  }
  u_char text[NGX_SOCKADDR_STRLEN];
  std::size_t n = ngx_sock_ntop(a->sockaddr, a->socklen, text, NGX_SOCKADDR_STRLEN, 0);
  *host = pool_copy(cf->pool, text, n);
  if (host->data == nullptr) {
    return "failed: out of memory";
  }
  *port = ngx_inet_get_port(a->sockaddr);
  return nullptr;
}

// db=, password=, username=, connect_timeout= (after the address or seeds).
const char* parse_options(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs, ngx_ps_redis_addr_t* addr,
                          bool allow_db) {
  bool seen_db = false, seen_timeout = false;
  for (ngx_uint_t i = 0; i < nargs; i++) {
    ngx_str_t v;
    if (has_prefix(args[i], "db=", &v)) {
      if (!allow_db) {
        return "has db= (a Redis Cluster has database 0 only)";
      }
      ngx_int_t db = ngx_atoi(v.data, v.len);
      if (seen_db) {
        return "has db= twice";
      }
      if (db == NGX_ERROR || db > 0x7fffffff) {
        return "has an invalid db= (expected a number 0..2147483647)";
      }
      addr->db = db;
      seen_db = true;
    } else if (has_prefix(args[i], "password=", &v)) {
      if (addr->password.data != nullptr) {
        return "has password= twice";
      }
      if (v.len == 0) {
        return "has an empty password=";
      }
      addr->password = pool_copy(cf->pool, v.data, v.len);
      if (addr->password.data == nullptr) {
        return "failed: out of memory";
      }
    } else if (has_prefix(args[i], "username=", &v)) {
      if (addr->username.data != nullptr) {
        return "has username= twice";
      }
      if (v.len == 0) {
        return "has an empty username=";
      }
      addr->username = pool_copy(cf->pool, v.data, v.len);
      if (addr->username.data == nullptr) {
        return "failed: out of memory";
      }
    } else if (has_prefix(args[i], "connect_timeout=", &v)) {
      if (seen_timeout) {
        return "has connect_timeout= twice";
      }
      ngx_int_t t = ngx_parse_time(&v, 0);
      if (t == NGX_ERROR || t <= 0) {
        return "has an invalid connect_timeout= (expected a time > 0 such as 2s or 500ms)";
      }
      addr->connect_timeout = static_cast<ngx_msec_t>(t);
      seen_timeout = true;
    } else {
      return allow_db ? "has an unknown parameter (expected db=, password=, username= or connect_timeout=)"
                      : "has an unknown parameter (expected host:port seeds, then password=, username= or "
                        "connect_timeout=)";
    }
  }
  if (addr->username.len != 0 && addr->password.len == 0) {
    return "has username= without password=";
  }
  return nullptr;
}

}  // namespace

// ---- public interface ------------------------------------------------------

const char* ngx_ps_redis_parse_addr(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs,
                                    ngx_ps_redis_addr_t* addr) {
  if (nargs == 0 || args[0].len == 0) {
    return "needs an address (host:port or unix:/path)";
  }
  ngx_memzero(addr, sizeof(ngx_ps_redis_addr_t));
  addr->connect_timeout = 2000;

  if (const char* err = resolve(cf, args[0], &addr->host, &addr->port, &addr->unix_path, true)) {
    return err;
  }

  return parse_options(cf, args + 1, nargs - 1, addr, true);
}

const char* ngx_ps_redis_parse_cluster(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs,
                                       ngx_ps_redis_addr_t* addr) {
  ngx_memzero(addr, sizeof(ngx_ps_redis_addr_t));
  addr->connect_timeout = 2000;
  ngx_uint_t nseeds = 0;
  while (nseeds < nargs &&
         ngx_strlchr(args[nseeds].data, args[nseeds].data + args[nseeds].len, '=') == nullptr) {
    nseeds++;
  }
  if (nseeds == 0) {
    return "needs at least one seed address (host:port)";
  }
  addr->seeds =
      static_cast<ngx_ps_redis_seed_t*>(ngx_pcalloc(cf->pool, nseeds * sizeof(ngx_ps_redis_seed_t)));
  if (addr->seeds == nullptr) {
    return "failed: out of memory";
  }
  for (ngx_uint_t i = 0; i < nseeds; i++) {
    ngx_str_t unused{0, nullptr};
    if (args[i].len == 0) {
      return "has an empty seed address";
    }
    if (const char* err = resolve(cf, args[i], &addr->seeds[i].host, &addr->seeds[i].port, &unused, false)) {
      return err;
    }
  }
  addr->nseeds = nseeds;
  return parse_options(cf, args + nseeds, nargs - nseeds, addr, false);
}
