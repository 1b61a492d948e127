#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real, where they are missing: tmux (log-server tail
# --follow in a terminal), nats-server and haproxy (forwarding to JetStream, receivers behind a load balancer),
# and g++ and make (the C++ transcoder that `npm ci` builds). Needs root (or sudo) for apt-get; does nothing
# when everything is there. The README's test command and CI both run it.
set -euo pipefail
packages=(tmux nats-server haproxy g++ make python3 openssl)
missing=()
for pkg in "${packages[@]}"; do
  command -v "$pkg" >/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: everything the tests need is installed"
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
