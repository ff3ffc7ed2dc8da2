#!/usr/bin/env bash
# The addon route, as ops building nginx modules from source do it (and as
# Debian's dh_nginx does): nginx's configure --add-dynamic-module=<repo> on
# nginx-dev's tree with Debian's flags, `make modules` (our .cpp compiled by
# cc with nginx's -W -Wall -Werror), then `nginx -t` loading the produced
# .so, alone and after Debian's nchan.
source "$(dirname "$0")/lib.sh"

[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
[ -f /usr/share/nginx/src/conf_flags ] || ps_skip "nginx-dev not installed"
ps_setup

objs=$T/objs
ps_log "configure --add-dynamic-module=$PS_REPO (builddir $objs)"
if ! "$PS_REPO/scripts/nginx-objs" "$objs" --add-dynamic-module="$PS_REPO"; then
  ps_log "--- configure.log"; tail -40 "$objs/configure.log" 2>/dev/null
  ps_die "nginx configure with the addon config failed"
fi
grep -q 'ngx_http_portfolio_stream_module\.so' "$objs/Makefile" \
  || ps_die "the generated Makefile has no ngx_http_portfolio_stream_module.so target"

ps_log "make -f $objs/Makefile -C /usr/share/nginx/src modules"
if ! make -j"${PS_JOBS:-2}" -f "$objs/Makefile" -C /usr/share/nginx/src modules >"$T/make.log" 2>&1; then
  ps_log "--- make.log (errors)"
  grep -E -A6 '(error|warning):|\*\*\* ' "$T/make.log" | head -120
  ps_die "make modules failed"
fi
so=$objs/ngx_http_portfolio_stream_module.so
[ -f "$so" ] || ps_die "make succeeded but $so is missing"
ps_pass "addon route builds $so with nginx's -Werror flags"

# load_module needs these; hiredis must not leak into the global namespace.
if nm -D --defined-only "$so" | grep -qw ngx_modules && nm -D --defined-only "$so" | grep -qw ngx_module_names; then
  ps_pass "ngx_modules and ngx_module_names are exported"
else
  ps_fail "ngx_modules / ngx_module_names are not exported by $so"
fi
leaked=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -E '^(redis|sds|__redis)' | head -5)
if [ -z "$leaked" ]; then
  ps_pass "no hiredis symbol is exported (static hiredis stays private)"
else
  ps_fail "hiredis symbols exported by the addon .so: $leaked"
fi

NGINX_PORT=$(ps_free_port)
conf=$T/nginx.conf
server='        location /ws/portfolio { portfolio_stream on; }'
ps_write_conf "$conf" "load_module $so;" "" "" "$server"
if ps_nginx_t "$conf"; then
  ps_pass "nginx -t loads the addon-built module with a portfolio_stream location"
else
  ps_fail "nginx -t with the addon-built module:"; cat "$T/t.out"
fi

if [ -f "$NCHAN_MODULE" ]; then
  ps_write_conf "$conf" "load_module $NCHAN_MODULE;
load_module $so;" "" "" "$server"
  if ps_nginx_t "$conf"; then
    ps_pass "nginx -t loads nchan then the addon-built module"
  else
    ps_fail "nginx -t with nchan + the addon-built module:"; cat "$T/t.out"
  fi
fi

ps_finish
