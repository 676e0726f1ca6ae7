#!/usr/bin/env bash
# check-binary.sh FILE...: refuses a prebuilt binary (or a library bundled beside it) that
# asks the C library for more than glibc 2.17 gives: a GLIBC symbol version above 2.17, any libstdc++
# symbol version (GLIBCXX, CXXABI: it must be linked in), or a shared library other than the C
# library's own and those in the same folder (found through an $ORIGIN rpath).
set -euo pipefail
MAX_GLIBC=${NFCT_MAX_GLIBC:-2.17}
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
  rpath=$(readelf -W -d "$f" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
  [ -z "$rpath" ] || printf '  rpath: %s\n' "$rpath"
  for lib in $needed; do
    [[ $lib =~ $ALLOWED ]] && continue
    # Bundled beside it: the addon finds it through its $ORIGIN rpath (a DT_RPATH, which also
    # serves the bundled libraries' own dependencies).
    if [ -e "$(dirname "$f")/$lib" ] && { [ "$rpath" = '$ORIGIN' ] || [[ $f != *.node ]]; }; then continue; fi
    echo "  FAIL: needs $lib"; status=1
  done
done
exit "$status"
