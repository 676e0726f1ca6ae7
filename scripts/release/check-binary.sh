#!/usr/bin/env bash
# check-binary.sh FILE.node...: refuses a prebuilt binary that would not load on a bare
# glibc 2.28 system: a GLIBC symbol version above 2.28, any libstdc++ symbol version (GLIBCXX,
# CXXABI: it must be linked in), or a shared library other than the C library's own.
set -euo pipefail
MAX_GLIBC=${NFCT_MAX_GLIBC:-2.28}
ALLOWED='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'
status=0
for f in "$@"; do
  versions=$(readelf -W --dyn-syms "$f" | grep -o '@GLIBC_[0-9.]*' | sed 's/@GLIBC_//' | sort -uV)
  newest=$(printf '%s\n' "$versions" | tail -n 1)
  needed=$(readelf -W -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  cxx=$(readelf -W --dyn-syms "$f" | grep -cE '@(GLIBCXX|CXXABI)_' || true)
  printf '%s: %s, %s bytes\n' "$f" "$(readelf -h "$f" | sed -n 's/ *Machine: *//p')" "$(stat -c %s "$f")"
  printf '  needs: %s\n' "$(echo $needed)"
  printf '  newest GLIBC symbol version: %s (at most %s allowed)\n' "$newest" "$MAX_GLIBC"
  printf '  libstdc++ symbols imported: %s\n' "$cxx"
  if [ "$(printf '%s\n%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    echo "  FAIL: needs GLIBC_$newest:"; readelf -W --dyn-syms "$f" | grep "@GLIBC_$newest" | awk '{print "    " $8}'
    status=1
  fi
  if [ "$cxx" != 0 ]; then echo "  FAIL: imports libstdc++ symbols"; status=1; fi
  for lib in $needed; do
    if ! [[ $lib =~ $ALLOWED ]]; then echo "  FAIL: needs $lib"; status=1; fi
  done
done
exit "$status"
