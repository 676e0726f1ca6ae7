# Shared by scripts/asan.sh and scripts/valgrind.sh (sourced, not run). The caller sets ROOT,
# OUT (its build directory), SRC, ADDON, CFLAGS/CXXFLAGS/LDFLAGS and defines log().

# Namespaces a driver run made and could not remove (it crashed): nfct-memcheck-<pid>-<hex>
# whose pid is gone.
cleanup_netns() {
  local n pid
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^nfct-memcheck-[0-9]+-[0-9a-f]{6}$'); do
    pid=${n#nfct-memcheck-}
    pid=${pid%-*}
    kill -0 "$pid" 2>/dev/null || ip netns delete "$n" 2>/dev/null || true
  done
}

# build_addon WHAT: copies binding.gyp and native/ into $SRC (only files whose content changed
# are rewritten, so make rebuilds only what changed) and builds there with the exported flags;
# a change of flags or of binding.gyp configures anew. build/Release is never touched.
build_addon() {
  local what=$1 changed=0 f
  mkdir -p "$SRC"
  while IFS= read -r f; do
    if ! cmp -s "$f" "$SRC/$f"; then
      mkdir -p "$(dirname "$SRC/$f")"
      cp "$f" "$SRC/$f"
      changed=1
    fi
  done < <(find binding.gyp native -type f)
  while IFS= read -r f; do
    [ -e "$f" ] || { rm -f "$SRC/$f"; changed=1; }
  done < <(cd "$SRC" && find native -type f)
  local flags_stamp="$SRC/build/.nfct-flags"
  local want_flags="$CFLAGS|$CXXFLAGS|$LDFLAGS|$(cat binding.gyp)"
  local t0 cmd=""
  t0=$(date +%s)
  if [ ! -f "$SRC/build/Makefile" ] || [ "$(cat "$flags_stamp" 2>/dev/null)" != "$want_flags" ]; then
    log "configuring and building $what in ${SRC#"$ROOT"/}"
    cmd=rebuild
  elif [ "$changed" = 1 ] || [ ! -f "$ADDON" ]; then
    log "rebuilding what changed in native/"
    cmd=build
  fi
  if [ -n "$cmd" ]; then
    npx --no-install node-gyp "$cmd" -C "$SRC" -j "$(nproc)" --loglevel=error >"$OUT/build.log" 2>&1 \
      || { tail -n 40 "$OUT/build.log" >&2; log "build failed (full log: $OUT/build.log)"; exit 1; }
    printf '%s' "$want_flags" >"$flags_stamp"
  fi
  log "addon: ${ADDON#"$ROOT"/} ($(( $(date +%s) - t0 )) s)"
}

# The driver loads dist/: rebuilt when lib/ is newer.
ensure_dist() {
  if [ ! -e dist/index.mjs ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.mjs -type f 2>/dev/null | head -n 1)" ]; then
    log "building the TypeScript for the driver (npm run build:ts)"
    npm run --silent build:ts
  fi
}
