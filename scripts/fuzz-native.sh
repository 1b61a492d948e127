#!/usr/bin/env bash
# Fuzzes the C++ transcoder (src/native/transcode.cc) under AddressSanitizer + UndefinedBehaviorSanitizer:
# builds scripts/fuzz-native.cc, which includes the addon's source and calls Machine::Run directly, seeds it
# with the decoder fixtures, and runs it. Exits non-zero on any finding (a sanitizer report, a bad line, a
# hang, an amplified line, a slow frame).
#
#   bash scripts/fuzz-native.sh [seconds] [seed]      defaults: 60 s, a seed from the clock (printed)
#
# FUZZ_OUT sets where the build, the corpus and any findings go (default /tmp/fuzz-native, outside the repo);
# FUZZ_ITERATIONS caps the iterations (the time limit still holds); FUZZ_PLAIN=1 builds without sanitizers at
# -O3, as binding.gyp does, for production-like timings and memory figures of the adversarial frames;
# FUZZ_OPT=-O0 instruments every access (GCC's -O1 drops some ASan checks it takes for redundant), slower.
# Needs g++, python3 and Node's headers.
set -euo pipefail

seconds="${1:-60}"
seed="${2:-$(date +%s%N)}"
out="${FUZZ_OUT:-/tmp/fuzz-native}"
iterations="${FUZZ_ITERATIONS:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_include="${NODE_INCLUDE:-/usr/include/node}"

if [[ ! "$seconds" =~ ^[0-9]+$ || ! "$seed" =~ ^[0-9]+$ ]]; then
  echo "usage: bash scripts/fuzz-native.sh [seconds] [seed]  (both non-negative integers)" >&2
  exit 2
fi
if [[ ! -f "$node_include/node_api.h" ]]; then
  echo "fuzz-native: no node_api.h in $node_include (set NODE_INCLUDE)" >&2
  exit 2
fi
mkdir -p "$out"

flags=("${FUZZ_OPT:--O1}" -fsanitize=address,undefined -fno-sanitize-recover=all)
binary="$out/fuzz-native${FUZZ_OPT:-}"
if [[ "${FUZZ_PLAIN:-0}" == 1 ]]; then
  flags=(-O3 -ffp-contract=off)
  binary="$out/fuzz-native-plain"
fi

# Rebuilt only when the harness or the transcoder changed.
if [[ ! -x "$binary" || "$root/scripts/fuzz-native.cc" -nt "$binary" ||
      "$root/src/native/transcode.cc" -nt "$binary" ]]; then
  echo "building $binary"
  # The N-API functions are referenced only by the addon's glue, which the harness never calls: left
  # unresolved. -no-pie resolves them to 0 at link time; in a PIE the loader rejects their PLT entries.
  g++ -std=gnu++17 -g -fno-omit-frame-pointer "${flags[@]}" -Wall -Wextra -I"$node_include" \
    "$root/scripts/fuzz-native.cc" -o "$binary.tmp" -no-pie -Wl,--unresolved-symbols=ignore-all
  mv "$binary.tmp" "$binary"
fi

# The seeds: every fixture pickle, as frames of [u32 LE length][pickle][u32 LE length][expected line or nothing].
python3 - "$root/test/fixtures" "$out/corpus.bin" <<'EOF'
import base64, json, struct, sys
fixtures, target = sys.argv[1], sys.argv[2]
with open(target, 'wb') as f:
    for name in ('decoder-cases.json', 'refused-cases.json'):
        for case in json.load(open(f'{fixtures}/{name}')):
            pickle = base64.b64decode(case['pickle'])
            line = case.get('line', '').encode('utf-8')
            f.write(struct.pack('<I', len(pickle)) + pickle + struct.pack('<I', len(line)) + line)
EOF

rm -f "$out"/finding-*.bin "$out/crash.bin" "$out/hang.bin"
# hard_rss_limit_mb: a record that makes the machine take gigabytes is a finding, not a slow swap.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:hard_rss_limit_mb=3072:allocator_may_return_null=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
"$binary" "$out/corpus.bin" "$out" "$seconds" "$seed" $iterations || status=$?
if [[ $status -ne 0 ]]; then
  echo "fuzz-native: FAILED (exit $status, seed $seed); inputs are in $out" >&2
  exit 1
fi
echo "fuzz-native: no findings (seed $seed)"
