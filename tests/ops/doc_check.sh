#!/usr/bin/env bash
# docs/operator.md against the module (no Docker):
#  1. directives: every example of the reference passes `nginx -t` in the first
#     context of its row (a row marked "not yet built" must fail with unknown
#     directive), and every directive of the module's command table has a row
#  2. nginx -t messages: each documented line, in its context, fails with
#     exactly the documented [emerg] message, at the documented place
#  3. stats: the documented JSON fields and Prometheus metrics are exactly what
#     a running module answers (nginx + redis-server on loopback)
source "$(dirname "$0")/lib.sh"

[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
ps_need_module
ps_setup
DOC=$PS_REPO/docs/operator.md
[ -f "$DOC" ] || ps_die "no $DOC"
table() { node "$PS_OPS_DIR/doc_tables.mjs" "$DOC" "$1" || ps_die "cannot read the $1 table of $DOC"; }
unquote() { local v=$1; v=${v#\`}; v=${v%\`}; printf '%s' "$v"; }

mkdir -p "$T/modules"
ln -s "$PS_MODULE" "$T/modules/ngx_http_portfolio_stream_module.so"   # load_module modules/... as on Debian
LOAD='load_module modules/ngx_http_portfolio_stream_module.so;'
NGINX_PORT=$(ps_free_port)
conf=$T/nginx.conf

# conf_with WHERE LINE: writes $conf with LINE (marked "# CASE") in WHERE; sets CASE_LINE,
# HTTP_END (the line of http's closing brace) and LOC_END (the /case location's).
conf_with() {
  local where=$1 line=$2 loads=$LOAD main='' http='' server marked="$2 # CASE"
  server='        location /ws/portfolio { portfolio_stream on; }'
  case $where in
    main) main=$marked ;;
    http) http="    $marked" ;;
    server) server="$server
        $marked" ;;
    location|noload)
      [ "$where" = noload ] && { loads=''; server='        location /ws/portfolio { }'; }
      server="$server
        location /case {
            $marked
        }" ;;
    late) ;;
    *) ps_die "unknown context $where" ;;
  esac
  if [ "$where" = late ]; then
    ps_write_conf "$conf" '' '' '' "$server"
    # load_module after events { }: insert it right after the events line
    sed -i "/^events /a $marked" "$conf"
  else
    ps_write_conf "$conf" "$loads" "$main" "$http" "$server"
  fi
  CASE_LINE=$(grep -n '# CASE' "$conf" | head -1 | cut -d: -f1)
  HTTP_END=$(grep -n '^}' "$conf" | tail -1 | cut -d: -f1)
  LOC_END=$(awk '/location \/case \{/ { on = 1 } on && /^        \}/ { print NR; exit }' "$conf")
}

ps_step "1. the directive reference"
table directives >"$T/directives.tsv"
documented=()
while IFS=$'\t' read -r syntax contexts default example meaning; do
  name=$(unquote "$syntax"); name=${name%% *}; name=${name%;}
  documented+=("$name")
  ex=$(unquote "$example")
  ctx=${contexts%%,*}
  conf_with "$ctx" "$ex"
  ps_nginx_t "$conf"; rc=$?
  if [[ $meaning == *"not yet built"* ]]; then
    if [ "$rc" -ne 0 ] && grep -qF "unknown directive \"$name\"" "$T/t.out"; then
      ps_pass "$name: not yet built, as documented (unknown directive)"
    elif [ "$rc" -eq 0 ]; then
      ps_fail "$name is marked 'not yet built' but nginx -t accepts '$ex': update docs/operator.md"
    else
      ps_fail "$name ($ex): $(grep -m1 emerg "$T/t.out")"
    fi
  elif [ "$rc" -eq 0 ]; then
    ps_pass "$name: '$ex' accepted in $ctx"
  else
    ps_fail "$name: the documented example '$ex' is rejected in $ctx: $(grep -m1 emerg "$T/t.out")"
  fi
done <"$T/directives.tsv"
# every directive the module defines (its command table in module/) is documented
mapfile -t defined < <(grep -rhoE 'ngx_string\("portfolio_stream[a-z_]*"\)' "$PS_REPO/module" \
  | sed -E 's/ngx_string\("(.*)"\)/\1/' | sort -u)
[ "${#defined[@]}" -gt 10 ] || ps_die "found no directives in $PS_REPO/module"
for d in "${defined[@]}"; do
  # "portfolio_stream" is also the zone's name; the directive is documented anyway
  if printf '%s\n' "${documented[@]}" | grep -qx -- "$d"; then :; else
    ps_fail "directive $d (module/) has no row in the reference of docs/operator.md"
  fi
done
ps_pass "the reference has a row for each of the module's ${#defined[@]} directives"

ps_step "2. what nginx -t says"
table nginx-t-messages >"$T/messages.tsv"
n=0
while IFS=$'\t' read -r kind where line at msg; do
  n=$((n + 1))
  line=$(unquote "$line"); msg=$(unquote "$msg")
  conf_with "$where" "$line"
  ps_nginx_t "$conf"; rc=$?
  got=$(grep -m1 '^nginx: \[emerg\] ' "$T/t.out")
  if [ "$rc" -eq 0 ] || [ -z "$got" ]; then
    ps_fail "$kind: nginx -t did not fail with [emerg] on '$line' ($(head -2 "$T/t.out" | tr '\n' ' '))"
    continue
  fi
  body=${got#nginx: \[emerg\] }
  suffix=${body##* in }
  file=${suffix%:*}; lno=${suffix##*:}
  text=${body% in *}
  if [ "$file" != "$conf" ]; then
    ps_fail "$kind: the message names $file, not the configuration file"
    continue
  fi
  case $lno in
    "$CASE_LINE") place='the line' ;;
    "$LOC_END") place='the end of the location' ;;
    "$HTTP_END") place='the end of http' ;;
    *) place="line $lno" ;;
  esac
  if [ "$text" = "$msg" ] && [ "$place" = "$at" ]; then
    ps_pass "$kind: $text (at $place)"
  else
    [ "$text" = "$msg" ] || ps_fail "$kind: nginx -t says: $text
        the doc says:    $msg"
    [ "$place" = "$at" ] || ps_fail "$kind: reported at $place, the doc says $at"
  fi
done <"$T/messages.tsv"
[ "$n" -ge 10 ] || ps_fail "only $n rows in the nginx -t table"

ps_step "3. stats fields and Prometheus metrics"
ps_start_redis
ps_write_conf "$conf" "$LOAD" '' "    portfolio_stream_redis 127.0.0.1:$REDIS_PORT;" \
'        location /ws/portfolio { portfolio_stream on; }
        location = /stats { portfolio_stream_stats; }'
ps_start_nginx "$conf" || ps_die "nginx did not start"
curl -s "http://127.0.0.1:$NGINX_PORT/stats" >"$T/stats.json"
curl -s "http://127.0.0.1:$NGINX_PORT/stats?format=prometheus" >"$T/stats.prom"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const out = [];
  const walk = (o, p) => { for (const [k, v] of Object.entries(o)) {
    const q = p ? `${p}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) walk(v, q); else out.push(q); } };
  walk(s, "");
  console.log(out.join("\n"));' "$T/stats.json" | sort -u >"$T/live-fields"
table stats-fields | cut -f1 | grep -o '`[^`]*`' | tr -d '`' | sort -u >"$T/doc-fields"
sed -n 's/^# TYPE \([a-z_0-9]*\) .*/\1/p' "$T/stats.prom" | sort -u >"$T/live-metrics"
table prometheus-metrics | cut -f1 | grep -o '`[a-z_0-9]*' | tr -d '`' | grep -v '^$' | sort -u >"$T/doc-metrics"
for kind in fields metrics; do
  missing=$(comm -23 "$T/live-$kind" "$T/doc-$kind" | tr '\n' ' ')
  extra=$(comm -13 "$T/live-$kind" "$T/doc-$kind" | tr '\n' ' ')
  if [ -z "$missing$extra" ]; then
    ps_pass "stats $kind: the $(wc -l <"$T/live-$kind") the module answers are the ones documented"
  else
    [ -z "$missing" ] || ps_fail "stats $kind the module answers but docs/operator.md lacks: $missing"
    [ -z "$extra" ] || ps_fail "stats $kind documented but not answered by the module: $extra"
  fi
done
ps_finish
