#!/usr/bin/env bash
# Python: `pip install "./bindings/python[test]"` into a fresh virtualenv (pip fetches
# maturin from PyPI and builds the abi3 wheel in release mode), then the
# binding's pytest suite against the installed package, the type stubs
# checked against the native module (mypy stubtest) and the typed tests
# (mypy), and rustfmt + clippy for the binding's Rust code.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_rust_lints
need python3 apt python3
# Debian's own python3 makes virtualenvs with pip only with python3-venv
# (it holds ensurepip).
need --check 'python3 -c "import venv, ensurepip"' 'python3 -m venv' apt python3-venv
py=bindings/python
# Everything this part makes stays in the repository (the binding's
# gitignored target/ folder), except pip's own download cache.
venv="$PWD/$py/target/test-venv"
rm -rf "$venv"
python3 -m venv "$venv"
need --check '"$venv/bin/python" -m pip --version' "pip (in $venv)" \
  manual "python3 -m venv should have put pip in $venv; is python3's ensurepip complete?"
# The [test] extra: pytest, and the HTTP clients and the ASGI server the
# adapters' tests run against loopback servers.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "./$py[test]" "mypy>=1.8"
export PYO3_PYTHON="$venv/bin/python"

# The suite imports the installed wheel: bindings/python/python (the source)
# is not on sys.path, and it has no native module anyway.
(cd "$py" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests)
"$venv/bin/python" -c 'import fusebox, sys; assert "site-packages" in fusebox.__file__, fusebox.__file__'

# The stubs must describe the module as built.
(cd /tmp && "$venv/bin/python" -m mypy.stubtest fusebox \
  --allowlist "$OLDPWD/$py/tests/stubtest-allowlist.txt")
(cd "$py" && "$venv/bin/python" -m mypy --no-incremental --cache-dir=/dev/null tests bench python/fusebox)

cargo fmt --manifest-path "$py/Cargo.toml" -- --check
cargo clippy --manifest-path "$py/Cargo.toml" --all-targets -- -D warnings

if command -v python3.13t >/dev/null 2>&1; then
  echo "note: python3.13t found, but the abi3 wheel does not load on free-threaded builds"
fi
