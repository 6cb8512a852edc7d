# shellcheck shell=bash
# need: every tool a test part calls is either there, installed by the part,
# or the part stops at once with a message naming the tool and how to get it
# (never a time-out, a skipped check or a puzzling error further on).
# Sourced by each scripts/test.d part, from the repository root:
#
#   cd "$(dirname "$0")/../.." && . scripts/lib/need.sh
#   need promtool apt prometheus
#   need cbindgen cargo cbindgen 0.29.4
#   need --check 'cargo clippy --version' 'cargo clippy' component clippy
#
# need [--check CMD] TOOL HOW [ARG...]
#   TOOL   the command looked for (`command -v TOOL`); with --check, the
#          name messages use, and CMD (a shell command, output hidden) says
#          whether it is there.
#   HOW    apt PKG...           apt-get install the Debian packages (root;
#                               one apt-get update per run of the suite)
#          cargo CRATE VERSION  cargo install --locked --version VERSION CRATE;
#                               without --check, TOOL --version must print
#                               VERSION (a pinned tool of another version is
#                               replaced)
#          component NAME       rustup component add NAME
#          toolchain NAME       rustup toolchain install NAME --profile minimal
#          manual TEXT          nothing to run here: TEXT says what to do
# The check runs again after installing. A tool still missing ends the part:
# exit 1, with the message on stderr. A part may set NEED_SKIP="<what does
# not run>" to skip loudly (exit 0) instead, but only outside CI: under CI
# (CI set, and not "false" or "0") a part that cannot run fails.

# cargo install and rustup put their tools here.
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

_need_part=$(basename "$0" .sh)
_need_apt_updated=0

need() {
  local check="" tool how hint log
  if [ "${1:-}" = --check ]; then check=$2; shift 2; fi
  [ $# -ge 2 ] || need_fail "need: usage: need [--check CMD] TOOL HOW [ARG...] (got: $*)"
  tool=$1 how=$2
  shift 2
  if [ -z "$check" ]; then
    check="command -v ${tool@Q}"
    # A pinned cargo tool must be that version.
    if [ "$how" = cargo ]; then check+=" && ${tool@Q} --version | grep -F -- ${2@Q}"; fi
  fi
  if (eval "$check") >/dev/null 2>&1; then return 0; fi

  case $how in
    apt | manual) ;;
    cargo) need_cargo ;;
    component | toolchain) need rustup manual "install Rust with rustup (https://rustup.rs)" ;;
    *) need_fail "need: unknown way to install $tool: $how" ;;
  esac
  hint=$(_need_hint "$how" "$@")
  if [ "$how" = manual ]; then need_fail "missing tool: $tool; to install it: $hint"; fi
  echo "$_need_part: $tool is missing; installing it: $hint"
  log="${TMPDIR:-/tmp}/need-$$-$RANDOM.log"
  if ! _need_install "$how" "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    need_fail "missing tool: $tool; installing it failed (output above); install it with: $hint"
  fi
  rm -f "$log"
  (eval "$check") >/dev/null 2>&1 \
    || need_fail "missing tool: $tool, even after: $hint (checked with: $check)"
}

# Prints the message and ends the part (see NEED_SKIP above).
need_fail() {
  echo "$_need_part: $*" >&2
  if [ -n "${NEED_SKIP:-}" ]; then
    if [ -z "${CI:-}" ] || [ "$CI" = false ] || [ "$CI" = 0 ]; then
      echo
      echo "################################################################"
      echo "##  SKIPPED: $NEED_SKIP:"
      echo "##  $*"
      echo "################################################################"
      echo
      exit 0
    fi
    echo "$_need_part: under CI a part that cannot run fails: $NEED_SKIP" >&2
  fi
  exit 1
}

# cargo and what cargo itself calls: a C compiler as the linker (gcc; the
# C library's development files are only a recommendation of gcc).
need_cargo() {
  need cargo manual "install Rust with rustup (https://rustup.rs)"
  need cc apt gcc libc6-dev
}

# cargo fmt and cargo clippy (rustup components of the default toolchain).
need_rust_lints() {
  need_cargo
  need --check 'cargo fmt --version' 'cargo fmt' component rustfmt
  need --check 'cargo clippy --version' 'cargo clippy' component clippy
}

_need_hint() {
  local how=$1
  shift
  case $how in
    apt) echo "apt-get install $* (Debian, as root)" ;;
    cargo) echo "cargo install --locked --version $2 $1" ;;
    component) echo "rustup component add $*" ;;
    toolchain) echo "rustup toolchain install $* --profile minimal" ;;
    manual) echo "$*" ;;
  esac
}

# Runs one install (what it needs is there: see need), its output on
# stdout/stderr; fails when it cannot.
_need_install() {
  local how=$1
  shift
  case $how in
    apt)
      command -v apt-get >/dev/null 2>&1 || { echo "no apt-get on this machine"; return 1; }
      [ "$(id -u)" = 0 ] || { echo "apt-get needs root (this is uid $(id -u))"; return 1; }
      if [ "$_need_apt_updated" = 0 ] && ! [ -e "${NEED_RUN_DIR:-/nonexistent}/apt-updated" ]; then
        apt-get update -qq || return 1
        _need_apt_updated=1
        if [ -n "${NEED_RUN_DIR:-}" ]; then : >"$NEED_RUN_DIR/apt-updated"; fi
      fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
      ;;
    cargo)
      cargo install --locked --version "$2" "$1"
      ;;
    component)
      rustup component add "$@"
      ;;
    toolchain)
      rustup toolchain install "$@" --profile minimal
      ;;
  esac
}
