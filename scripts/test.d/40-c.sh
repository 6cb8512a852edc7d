#!/usr/bin/env bash
# C ABI (bindings/c): the committed header matches cbindgen's output; the C
# and C++ tests pass linked statically and dynamically; the C test is clean
# under valgrind memcheck; the README example and the bench build and run.
# (The crate's Rust tests run in 10-rust.sh with the rest of the workspace.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_cargo
need c++ apt g++
need valgrind apt valgrind
need nm apt binutils
need ldd apt libc-bin
need diff apt diffutils
need mktemp apt coreutils
# The header is compared with this version's output: pinned.
need cbindgen cargo cbindgen 0.29.4

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== include/fusebox.h is cbindgen's output"
cbindgen --quiet --config bindings/c/cbindgen.toml --crate fusebox-ffi --output "$tmp/fusebox.h" bindings/c
if ! diff -u include/fusebox.h "$tmp/fusebox.h"; then
  echo "include/fusebox.h is stale; regenerate it with:" >&2
  echo "  cbindgen --quiet --config bindings/c/cbindgen.toml --crate fusebox-ffi --output include/fusebox.h bindings/c" >&2
  exit 1
fi

echo "== build libfusebox (release)"
cargo build --release -p fusebox-ffi --lib
lib="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
test -f "$lib/libfusebox.a" && test -f "$lib/libfusebox.so"

cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -O2 -Iinclude)
cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -O2 -Iinclude)
static=("$lib/libfusebox.a" -lpthread -ldl -lm)
dynamic=(-L"$lib" -lfusebox -Wl,-rpath,"$lib" -lpthread)

echo "== compile (cc $(cc -dumpversion), c++ $(c++ -dumpversion))"
cc "${cflags[@]}" bindings/c/tests/test_c.c "${static[@]}" -o "$tmp/test_c_static"
cc "${cflags[@]}" bindings/c/tests/test_c.c "${dynamic[@]}" -o "$tmp/test_c_dynamic"
c++ "${cxxflags[@]}" bindings/c/tests/test_cpp.cpp "${static[@]}" -o "$tmp/test_cpp_static"
c++ "${cxxflags[@]}" bindings/c/tests/test_cpp.cpp "${dynamic[@]}" -o "$tmp/test_cpp_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_bulkhead.c "${static[@]}" -o "$tmp/test_bulkhead_static"
cc "${cflags[@]}" bindings/c/tests/test_bulkhead.c "${dynamic[@]}" -o "$tmp/test_bulkhead_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_keyed.c "${static[@]}" -o "$tmp/test_keyed_static"
cc "${cflags[@]}" bindings/c/tests/test_keyed.c "${dynamic[@]}" -o "$tmp/test_keyed_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_shared.c "${static[@]}" -o "$tmp/test_shared_static"
cc "${cflags[@]}" bindings/c/tests/test_shared.c "${dynamic[@]}" -o "$tmp/test_shared_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_retry.c "${static[@]}" -o "$tmp/test_retry_static"
cc "${cflags[@]}" bindings/c/tests/test_retry.c "${dynamic[@]}" -o "$tmp/test_retry_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_hedge.c "${static[@]}" -o "$tmp/test_hedge_static"
cc "${cflags[@]}" bindings/c/tests/test_hedge.c "${dynamic[@]}" -o "$tmp/test_hedge_dynamic"
cc "${cflags[@]}" bindings/c/tests/test_admin.c "${static[@]}" -o "$tmp/test_admin_static"
cc "${cflags[@]}" bindings/c/tests/test_admin.c "${dynamic[@]}" -o "$tmp/test_admin_dynamic"
cc "${cflags[@]}" bindings/c/examples/quickstart.c "${static[@]}" -o "$tmp/quickstart"
cc "${cflags[@]}" bindings/c/examples/bench.c "${static[@]}" -o "$tmp/bench"

# The dynamic builds load libfusebox.so; the static ones carry the library.
# (Output goes to files first: `grep -q` in a pipe would SIGPIPE ldd.)
for t in test_c_dynamic test_cpp_dynamic; do
  ldd "$tmp/$t" >"$tmp/$t.ldd"
  grep -q "libfusebox.so => $lib/libfusebox.so" "$tmp/$t.ldd" || { echo "$t: not linked to libfusebox.so" >&2; exit 1; }
done
for t in test_c_static test_cpp_static; do
  ldd "$tmp/$t" >"$tmp/$t.ldd"
  nm "$tmp/$t" >"$tmp/$t.nm"
  if grep -q libfusebox "$tmp/$t.ldd"; then echo "$t: linked to libfusebox.so" >&2; exit 1; fi
  grep -q " T fb_breaker_acquire$" "$tmp/$t.nm" || { echo "$t: fb_breaker_acquire not linked in" >&2; exit 1; }
done

echo "== run (4 threads x 1,000,000 calls in the stress)"
for t in test_c_static test_c_dynamic test_cpp_static test_cpp_dynamic; do
  echo "-- $t"
  "$tmp/$t" 1000000
done
for t in test_bulkhead_static test_bulkhead_dynamic test_keyed_static test_keyed_dynamic test_retry_static test_retry_dynamic test_hedge_static test_hedge_dynamic; do
  echo "-- $t"
  "$tmp/$t" 200000
done

for t in test_shared_static test_shared_dynamic; do
  echo "-- $t (forked processes on one shared-memory breaker)"
  "$tmp/$t" 200000
done

# The admin endpoint over loopback (not under valgrind: tiny_http's
# connection threads end on their own after the server stops).
for t in test_admin_static test_admin_dynamic; do
  echo "-- $t"
  "$tmp/$t"
done

echo "== README example"
"$tmp/quickstart" >"$tmp/quickstart.out"
cat "$tmp/quickstart.out"
grep -q "call 2: failed" "$tmp/quickstart.out"
grep -q "call 3: fail fast, retry in 30 s" "$tmp/quickstart.out"

echo "== bench builds and runs (timings: bash bindings/c/bench.sh)"
"$tmp/bench" 10000 2 >/dev/null
"$tmp/bench" 10000 1 manual >/dev/null

echo "== valgrind memcheck (4 threads x 100,000 calls)"
# valgrind.supp holds one entry: the core's clock thread, alive at exit.
for t in test_c_static test_c_dynamic test_bulkhead_static test_keyed_static test_retry_static test_hedge_static test_shared_static; do
  echo "-- $t"
  # Forked children exit without freeing what they inherited: only the
  # parent is checked (--child-silent-after-fork).
  n=100000; [ "$t" = test_shared_static ] && n=2000; [ "$t" = test_keyed_static ] && n=20000; [ "$t" = test_retry_static ] && n=20000; [ "$t" = test_hedge_static ] && n=20000
  valgrind --leak-check=full --error-exitcode=1 --child-silent-after-fork=yes \
    --suppressions=bindings/c/tests/valgrind.supp \
    "$tmp/$t" "$n" 2>"$tmp/$t.vg" || { cat "$tmp/$t.vg" >&2; exit 1; }
  grep -E "ERROR SUMMARY|definitely lost|possibly lost|All heap" "$tmp/$t.vg" || true
  grep -q "ERROR SUMMARY: 0 errors" "$tmp/$t.vg"
done
echo "C ABI: all passed"
