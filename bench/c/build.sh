#!/bin/sh
# Builds the bench C tools into bench/c/out/. Usage: bench/c/build.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-std=c11 -O2 -Wall -Wextra"}
libs=$(pkg-config --cflags --libs libmnl libnetfilter_conntrack libnfnetlink)
for tool in ct_fill ct_rawwalk ct_lnfct_parse ct_flush ct_churn ct_events runstat udp_flood; do
	# shellcheck disable=SC2086
	$CC $CFLAGS -o "$out/$tool" "$here/$tool.c" $libs
done
loglibs=$(pkg-config --cflags --libs libmnl libnetfilter_log libnfnetlink)
# shellcheck disable=SC2086
$CC $CFLAGS -o "$out/nflog_recv" "$here/nflog_recv.c" $loglibs
echo "built: $(cd "$out" && echo ct_fill ct_rawwalk ct_lnfct_parse ct_flush ct_churn ct_events runstat udp_flood nflog_recv) -> $out"
