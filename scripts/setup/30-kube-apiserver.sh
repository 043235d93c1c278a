# shellcheck shell=bash
# Sourced by scripts/test. Provides a real Kubernetes control plane for rollout-kube's tests:
#   * etcd from Debian's `etcd-server` package,
#   * kube-apiserver and kube-controller-manager built from Debian's `kubernetes` *source* package
#     (Debian ships no apiserver binary), cached under $ROLLOUT_CACHE/kube-<debian source version>/.
# Exports ROLLOUT_KUBE_BIN (directory holding kube-apiserver, kube-controller-manager and etcd) and
# ROLLOUT_ETCD_BIN. The Rust test harness (rollout-kube, feature `testenv`) starts and stops the servers itself.
#
# Cold build: about 6 minutes on 2 cores; later runs reuse the cache.
# Nothing here is committed: sources and binaries stay in the cache, outside the repository.

rollout_kube_setup() {
  apt_install etcd-server openssl
  # Debian's postinst may have started an etcd on the default ports; the tests use their own ports anyway.
  export ROLLOUT_ETCD_BIN=/usr/bin/etcd

  local w="$ROLLOUT_CACHE/kube-build"
  mkdir -p "$w/apt/lists/partial" "$w/apt/cache/archives/partial" "$w/apt/sources.d" "$w/src"
  # A deb-src list derived from the machine's own apt sources (deb822 or one-line format).
  : >"$w/apt/sources.d/src.sources"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$w/apt/sources.d/src.sources"
  fi
  : >"$w/apt/sources.d/src.list"
  if [ -f /etc/apt/sources.list ]; then
    { grep -E '^deb ' /etc/apt/sources.list || true; } | sed 's/^deb /deb-src /' >"$w/apt/sources.d/src.list"
  fi
  local apto=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$w/apt/sources.d"
    -o "Dir::State::Lists=$w/apt/lists" -o "Dir::Cache=$w/apt/cache")

  local ver=""
  if apt-get "${apto[@]}" update -qq >/dev/null 2>&1; then
    ver="$(apt-cache "${apto[@]}" showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2; exit}')"
  fi
  if [ -z "$ver" ]; then
    # Offline: fall back to the newest build already in the cache.
    local cached
    cached="$(find "$ROLLOUT_CACHE" -maxdepth 1 -type d -name 'kube-[0-9]*' | sort | tail -n 1)"
    if [ -n "$cached" ] && [ -x "$cached/kube-apiserver" ]; then
      export ROLLOUT_KUBE_BIN="$cached"
      echo "kube: apt source index unreachable, using cached $cached"
      return 0
    fi
    echo "kube: cannot determine Debian's kubernetes source version and nothing is cached" >&2
    return 1
  fi

  local out="$ROLLOUT_CACHE/kube-$ver"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ]; then
    echo "kube: using cached kube-apiserver/kube-controller-manager $ver from $out"
  else
    echo "kube: building kube-apiserver and kube-controller-manager $ver from Debian's source package (~6 min cold)"
    apt_install golang-1.19-go rsync golang-github-modern-go-reflect2-dev
    rm -rf "$w/src" && mkdir -p "$w/src"
    (cd "$w/src" && apt-get "${apto[@]}" source --download-only -qq kubernetes >/dev/null)
    local orig
    orig="$(find "$w/src" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n 1)"
    [ -n "$orig" ] || { echo "kube: no orig tarball downloaded for kubernetes $ver" >&2; return 1; }
    tar xf "$orig" -C "$w/src"
    local k
    k="$(find "$w/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
    [ -n "$k" ] || { echo "kube: unexpected layout of $orig" >&2; return 1; }
    # The vendored reflect2 1.0.1 segfaults under Go >= 1.18; Debian's 1.0.2 replaces it.
    local r2="$k/vendor/github.com/modern-go/reflect2"
    rm -rf "$r2" && mkdir -p "$r2"
    cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$r2/"
    cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2/" 2>/dev/null || true
    rm -f "$r2"/*_test.go
    # The Makefile runs code generation (openapi-gen) first; a plain `go build` does not work.
    (
      export GOROOT=/usr/lib/go-1.19 PATH="/usr/lib/go-1.19/bin:$PATH" GOCACHE="$w/gocache" \
        GOPROXY=off CGO_ENABLED=0 HOME="$w/home" GOFLAGS=
      mkdir -p "$w/home"
      cd "$k" && make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$w/build.log" 2>&1
    ) || { echo "kube: build failed, see $w/build.log" >&2; tail -n 30 "$w/build.log" >&2; return 1; }
    local bin
    bin="$(dirname "$(find "$k/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)")"
    local tmp="$out.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    cp "$bin/kube-apiserver" "$bin/kube-controller-manager" "$tmp/"
    rm -rf "$out" && mv "$tmp" "$out"
    rm -rf "$k"   # keep the downloaded tarball and GOCACHE for a warm rebuild, drop the 1 GB tree
  fi
  ln -sf "$ROLLOUT_ETCD_BIN" "$out/etcd"
  export ROLLOUT_KUBE_BIN="$out"
  "$out/kube-apiserver" --version
}

step "kube: etcd + kube-apiserver + kube-controller-manager for rollout-kube tests"
rollout_kube_setup
