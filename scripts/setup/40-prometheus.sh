# shellcheck shell=bash
# Sourced by scripts/test. Provides a real Prometheus for analysis-providers' integration tests:
#   * installs Debian's `prometheus` package (server + promtool) when missing; its service is not
#     started (the tests start their own servers on free 127.0.0.1 ports and stop them by PID);
#   * checks that promtool can backfill OpenMetrics into a TSDB (what the tests do with their
#     deterministic data, in a temporary directory each).
# Exports ROLLOUT_PROMETHEUS_BIN and ROLLOUT_PROMTOOL_BIN. With CI=true the tests fail loudly when
# these are missing; elsewhere they print that they skipped.

rollout_prometheus_setup() {
  apt_install prometheus
  export ROLLOUT_PROMETHEUS_BIN="${ROLLOUT_PROMETHEUS_BIN:-$(command -v prometheus)}"
  export ROLLOUT_PROMTOOL_BIN="${ROLLOUT_PROMTOOL_BIN:-$(command -v promtool)}"
  [ -x "$ROLLOUT_PROMETHEUS_BIN" ] || { echo "prometheus: no prometheus binary after install" >&2; return 1; }
  [ -x "$ROLLOUT_PROMTOOL_BIN" ] || { echo "prometheus: no promtool binary after install" >&2; return 1; }

  # Smoke check of the backfill path, once per prometheus version.
  local ver stamp
  ver="$("$ROLLOUT_PROMETHEUS_BIN" --version 2>&1 | awk 'NR==1 {print $3}')"
  stamp="$ROLLOUT_CACHE/prometheus-$ver.backfill-ok"
  if [ ! -f "$stamp" ]; then
    local tmp
    tmp="$(mktemp -d)"
    printf '# TYPE smoke_total counter\nsmoke_total 1 1700000000\nsmoke_total 2 1700000060\n# EOF\n' >"$tmp/smoke.om"
    if "$ROLLOUT_PROMTOOL_BIN" tsdb create-blocks-from openmetrics "$tmp/smoke.om" "$tmp/tsdb" >/dev/null; then
      touch "$stamp"
    else
      rm -rf "$tmp"
      echo "prometheus: promtool could not backfill OpenMetrics" >&2
      return 1
    fi
    rm -rf "$tmp"
  fi
  echo "prometheus: $ver at $ROLLOUT_PROMETHEUS_BIN (tests start their own servers)"
}

rollout_prometheus_setup
