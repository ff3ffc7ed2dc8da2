#!/usr/bin/env bash
# The .deb that scripts/package-deb makes, checked without installing it:
# Debian's libnginx-mod-* layout, control fields (the nginx ABI of nginx-dev,
# the shared libraries the .so really needs, no libhiredis), maintainer
# scripts, md5sums, a reproducible build, and lintian (no error, no warning
# that is not overridden). lintian is installed when missing.
source "$(dirname "$0")/lib.sh"

ps_setup
pkg=libnginx-mod-portfolio-stream
command -v dpkg-deb >/dev/null || ps_skip "not a Debian system (no dpkg-deb)"

ps_step "build the package"
ps_build_deb
deb=$PS_DEB
ps_pass "built $(basename "$deb")"
field() { dpkg-deb -f "$deb" "$1"; }

ps_step "control fields"
[ "$(field Package)" = "$pkg" ] && ps_pass "Package: $pkg" || ps_fail "Package is $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] && ps_pass "Architecture: $(field Architecture)" || ps_fail "Architecture is $(field Architecture)"
version=$(dpkg-parsechangelog -l "$PS_REPO/packaging/debian/changelog" -S Version)
[ "$(field Version)" = "$version" ] && ps_pass "Version: $version (packaging/debian/changelog)" || ps_fail "Version $(field Version) is not the changelog's $version"
[ "$(basename "$deb")" = "${pkg}_${version}_$(dpkg --print-architecture).deb" ] && ps_pass "file name ${pkg}_<version>_<arch>.deb" \
  || ps_fail "file name $(basename "$deb")"
[ "$(field Section)" = httpd ] && ps_pass "Section: httpd (as Debian's libnginx-mod-*)" || ps_fail "Section is $(field Section)"
depends=$(field Depends)
abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars 2>/dev/null)
provided=$(dpkg-query -W -f='${Provides}' nginx 2>/dev/null | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p')
if [ -n "$abi" ] && [[ ", $depends," == *", $abi,"* ]] && [ "$abi" = "$provided" ]; then
  ps_pass "Depends on $abi: nginx-dev's nginx:abi, which the installed nginx provides"
else
  ps_fail "Depends ($depends) lacks the ABI $abi of nginx-dev (nginx provides '$provided')"
fi
# every shared library the .so needs (NEEDED) comes from a package in Depends
for soname in $(readelf -d "${PS_DEB_BUILD:-${PS_BUILD:-$PS_REPO/build}/package-deb}/ngx_http_portfolio_stream_module.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$soname" '$1 == l && /x86-64|x86_64|64bit/ { print $NF; exit }')
  [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$soname" '$1 == l { print $NF; exit }')
  owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
  if [ -n "$owner" ] && [[ ", $depends," == *", $owner "* || ", $depends," == *", $owner,"* ]]; then
    ps_pass "NEEDED $soname: its package $owner is in Depends"
  else
    ps_fail "NEEDED $soname (package '${owner:-?}') is not in Depends: $depends"
  fi
done
[[ $depends == *hiredis* ]] && ps_fail "Depends names hiredis, but the module links it statically: $depends" \
  || ps_pass "no hiredis in Depends (linked statically, hidden)"

ps_step "contents"
dpkg-deb -c "$deb" >"$T/contents"
x=$T/x
dpkg-deb -R "$deb" "$x"
so=usr/lib/nginx/modules/ngx_http_portfolio_stream_module.so
for f in "$so" usr/share/nginx/modules-available/mod-portfolio-stream.conf \
         usr/share/doc/$pkg/copyright usr/share/doc/$pkg/changelog.Debian.gz \
         usr/share/doc/$pkg/examples/portfolio-stream.conf usr/share/lintian/overrides/$pkg; do
  grep -q " \./$f\$" "$T/contents" && ps_pass "ships /$f" || ps_fail "does not ship /$f"
done
grep -E ' \./etc/' "$T/contents" && ps_fail "ships files in /etc (the symlink belongs to postinst)" \
  || ps_pass "nothing in /etc: the modules-enabled link is made by postinst, as Debian does"
grep " \./$so\$" "$T/contents" | grep -q '^-rw-r--r-- root/root' && ps_pass "the .so is 0644 root:root" \
  || ps_fail "the .so mode/owner: $(grep " \./$so\$" "$T/contents")"
[ "$(cat "$x/usr/share/nginx/modules-available/mod-portfolio-stream.conf")" = 'load_module modules/ngx_http_portfolio_stream_module.so;' ] \
  && ps_pass "mod-portfolio-stream.conf is the load_module line" || ps_fail "mod-portfolio-stream.conf: $(cat "$x/usr/share/nginx/modules-available/mod-portfolio-stream.conf")"
needed=$(readelf -d "$x/$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[[ $needed == *hiredis* ]] && ps_fail "the .so needs libhiredis: $needed" || ps_pass "NEEDED: $needed(no libhiredis)"
nm -D --defined-only "$x/$so" >"$T/syms"
grep -qw ngx_modules "$T/syms" && grep -qw ngx_module_names "$T/syms" && ps_pass "exports ngx_modules and ngx_module_names" \
  || ps_fail "ngx_modules / ngx_module_names are not exported"
grep -q redisAsync "$T/syms" && ps_fail "exports hiredis symbols" || ps_pass "exports no hiredis symbols"
readelf -S "$x/$so" | grep -q '\.debug_info' && ps_fail "the .so is not stripped" || ps_pass "the .so is stripped"
readelf -d "$x/$so" | grep -q 'BIND_NOW' && ps_pass "hardened: BIND_NOW (relro + now)" || ps_fail "no BIND_NOW: built without Debian's hardening flags"
(cd "$x" && md5sum --quiet -c DEBIAN/md5sums) && ps_pass "DEBIAN/md5sums matches" || ps_fail "DEBIAN/md5sums does not match"
for s in postinst prerm postrm; do
  if [ -x "$x/DEBIAN/$s" ] && sh -n "$x/DEBIAN/$s" && head -1 "$x/DEBIAN/$s" | grep -qx '#!/bin/sh'; then
    ps_pass "$s: executable /bin/sh script, syntax ok"
  else
    ps_fail "$s is missing, not executable or not valid sh"
  fi
done

ps_step "reproducible"
first=$(sha256sum "$deb" | cut -d' ' -f1)
mv "$deb" "$T/first.deb"
ps_build_deb
second=$(sha256sum "$PS_DEB" | cut -d' ' -f1)
[ "$first" = "$second" ] && ps_pass "two builds give the same bytes ($first)" || ps_fail "two builds differ ($first vs $second)"

ps_step "lintian"
if ! command -v lintian >/dev/null; then
  # shellcheck source=../../scripts/lib/deps.sh
  source "$PS_REPO/scripts/lib/deps.sh"
  ps_deps_install lintian >&2 || true
fi
if command -v lintian >/dev/null; then
  lintian --pedantic --show-overrides "$PS_DEB" >"$T/lintian.out" 2>&1
  sed 's/^/    /' "$T/lintian.out"
  if grep -qE '^[EW]: ' "$T/lintian.out"; then
    ps_fail "lintian reports errors or warnings (see above; docs/operator.md lists the accepted ones)"
  else
    ps_pass "lintian --pedantic: no error, no warning ($(grep -c '^O: ' "$T/lintian.out") overridden)"
  fi
else
  ps_fail "lintian could not be installed"
fi
ps_finish
