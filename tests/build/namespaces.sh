#!/usr/bin/env bash
# Issue 15 as `nginx -t` sees it: the channel namespaces of the enabled
# portfolio_stream locations (in any servers) must not mix users, and the
# Origin scheme directive. No Redis needed: nginx -t never connects.
#   namespaces.sh   good configurations pass; overlapping prefixes and a broadcast
#                   channel inside a user namespace fail with the exact [emerg]
source "$(dirname "$0")/lib.sh"

[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
ps_need_module
ps_setup

NGINX_PORT=$(ps_free_port)
PORT2=$(ps_free_port)
conf=$T/nginx.conf
loads="load_module $PS_MODULE;"
http='    portfolio_stream_redis 127.0.0.1:6379;'

# Line number of the line holding MARK in the written config.
line_of() { grep -n -- "$1" "$conf" | head -1 | cut -d: -f1; }

# ok NAME HTTP SERVER: nginx -t exits 0, without [emerg].
ok() {
  ps_write_conf "$conf" "$loads" '' "$2" "$3"
  if ps_nginx_t "$conf" && ! grep -q '\[emerg\]' "$T/t.out"; then
    ps_pass "accepted: $1"
  else
    ps_fail "rejected: $1"; sed 's/^/    /' "$T/t.out"
  fi
}

# bad NAME HTTP SERVER MESSAGE: nginx -t exits 1 and prints exactly
# "nginx: [emerg] MESSAGE" (@A@, @B@ in MESSAGE: line numbers of the lines
# marked "# A" and "# B").
bad() {
  local name=$1 msg=$4 rc a b want
  ps_write_conf "$conf" "$loads" '' "$2" "$3"
  a=$(line_of '# A'); b=$(line_of '# B')
  want=${msg//@A@/$a}; want=${want//@B@/$b}; want=${want//@CONF@/$conf}
  ps_nginx_t "$conf"; rc=$?
  if [ "$rc" -eq 1 ] && grep -qxF -- "nginx: [emerg] $want" "$T/t.out" && grep -q 'test failed' "$T/t.out"; then
    ps_pass "rejected: $name"
  else
    ps_fail "$name: want status 1 and: nginx: [emerg] $want"; ps_log "    got status $rc:"; sed 's/^/    /' "$T/t.out"
  fi
}

# ---- accepted ----------------------------------------------------------------
ok "the default namespace" "$http" '        location /ws { portfolio_stream on; }'
ok "identical prefixes share one namespace (two servers)" "$http" \
'        location /a { portfolio_stream on; portfolio_stream_broadcast_channel portfolio:broadcast; }
    }
    server {
        listen 127.0.0.1:'"$PORT2"';
        location /b { portfolio_stream on; portfolio_stream_broadcast_channel portfolio:broadcast; }'
ok "disjoint prefixes, broadcasts outside them" "$http
    portfolio_stream_broadcast_channel portfolio:all;" \
'        location /a { portfolio_stream on; portfolio_stream_channel_prefix t:u:; }
        location /b { portfolio_stream on; portfolio_stream_channel_prefix t:v:; portfolio_stream_broadcast_channel t:all; }
        location /c { portfolio_stream on; }'
ok "a broadcast that is only a prefix of user channels" "$http" \
'        location /a { portfolio_stream on; portfolio_stream_broadcast_channel portfolio:user; }'
ok "an overlapping prefix where portfolio_stream is off or absent" "$http
    portfolio_stream_channel_prefix t:u:1;
    portfolio_stream_broadcast_channel portfolio:user:all;" \
'        location /a { portfolio_stream on; portfolio_stream_channel_prefix t:u:; portfolio_stream_broadcast_channel t:b; }
        location /off { portfolio_stream off; }
        location /stats { portfolio_stream_stats; }
        location /plain { return 204; }'
ok "server-level values inherited by one location only" "$http" \
'        portfolio_stream_channel_prefix s:u:;
        portfolio_stream_broadcast_channel s:u:all;
        location /a { portfolio_stream on; portfolio_stream_channel_prefix x:; portfolio_stream_broadcast_channel y; }'

# ---- rejected: prefixes ---------------------------------------------------------
bad "t:u: and t:u:1 in one server" "$http" \
'        location /a { portfolio_stream on; portfolio_stream_channel_prefix t:u:; } # A
        location /b { portfolio_stream on; portfolio_stream_channel_prefix t:u:1; } # B' \
'portfolio_stream_channel_prefix "t:u:" (location "/a" at @CONF@:@A@) and "t:u:1" (location "/b" at @CONF@:@B@) overlap: channel "t:u:12" would be user "12" of the first and user "2" of the second; give each location a prefix that does not start with the other'"'"'s'
bad "the longer prefix first, in another server, inherited from the server level" "$http" \
'        portfolio_stream_channel_prefix portfolio:user:vip:;
        location = /vip {
            portfolio_stream on; # B
        }
    }
    server {
        listen 127.0.0.1:'"$PORT2"';
        location /ws { portfolio_stream on; } # A' \
'portfolio_stream_channel_prefix "portfolio:user:" (location "/ws" at @CONF@:@A@) and "portfolio:user:vip:" (location "/vip" at @CONF@:@B@) overlap: channel "portfolio:user:vip:2" would be user "vip:2" of the first and user "2" of the second; give each location a prefix that does not start with the other'"'"'s'
# The location's line is that of its "portfolio_stream" directive.
bad "an empty prefix contains every other namespace" "$http" \
'        location /ws { portfolio_stream on; } # B
        location /raw {
            portfolio_stream_channel_prefix "";
            portfolio_stream on; # A
        }' \
'portfolio_stream_channel_prefix "" (location "/raw" at @CONF@:@A@) and "portfolio:user:" (location "/ws" at @CONF@:@B@) overlap: channel "portfolio:user:2" would be user "portfolio:user:2" of the first and user "2" of the second; give each location a prefix that does not start with the other'"'"'s'

# ---- rejected: broadcast channels -------------------------------------------------
bad "portfolio:user:all under the default prefix" "$http" \
'        location /ws { portfolio_stream on; portfolio_stream_broadcast_channel portfolio:user:all; } # A' \
'portfolio_stream_broadcast_channel "portfolio:user:all" (location "/ws" at @CONF@:@A@) starts with the portfolio_stream_channel_prefix "portfolio:user:" of the same location: it is also the channel of user "all", whose private events would go to every connection; use a broadcast channel outside every user namespace'
bad "a broadcast inherited from http level, inside another location's namespace" "$http
    portfolio_stream_broadcast_channel acct:everyone;" \
'        location /ws { portfolio_stream on; } # A
        location /acct { portfolio_stream on; portfolio_stream_channel_prefix acct:; portfolio_stream_broadcast_channel acct-all; } # B' \
'portfolio_stream_broadcast_channel "acct:everyone" (location "/ws" at @CONF@:@A@) starts with the portfolio_stream_channel_prefix "acct:" (location "/acct" at @CONF@:@B@): it is also the channel of user "everyone", whose private events would go to every connection; use a broadcast channel outside every user namespace'
bad "a broadcast equal to a prefix" "$http" \
'        location /ws { portfolio_stream on; portfolio_stream_broadcast_channel portfolio:user:; } # A' \
'portfolio_stream_broadcast_channel "portfolio:user:" (location "/ws" at @CONF@:@A@) starts with the portfolio_stream_channel_prefix "portfolio:user:" of the same location: it is the channel of an empty user id; use a broadcast channel outside every user namespace'

# ---- portfolio_stream_origin_scheme ---------------------------------------------------
ok "origin_scheme in every context" "$http
    portfolio_stream_origin_scheme https;" \
'        portfolio_stream_origin_scheme any;
        location /a { portfolio_stream on; portfolio_stream_origin_scheme auto; }
        location /b { portfolio_stream on; }'
ps_write_conf "$conf" "$loads" '' "$http" '        location /a { portfolio_stream on; portfolio_stream_origin_scheme http; } # A'
ps_nginx_t "$conf"; rc=$?
want="nginx: [emerg] invalid value \"http\" in \"portfolio_stream_origin_scheme\" directive, it must be \"auto\", \"https\" or \"any\" in $conf:$(line_of '# A')"
if [ "$rc" -eq 1 ] && grep -qxF -- "$want" "$T/t.out"; then
  ps_pass "rejected: portfolio_stream_origin_scheme http"
else
  ps_fail "portfolio_stream_origin_scheme http: want status 1 and: $want"; sed 's/^/    /' "$T/t.out"
fi

ps_finish
