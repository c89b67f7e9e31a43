# Sourced by scripts/test: the SSH connector tests run their firewall commands against the real kernel
# (nft and ipset inside a throw-away network namespace) when the machine allows it. As root with apt-get, install
# the two tools when missing; otherwise those tests run against the in-memory model only and say why they skip.
if { ! command -v nft >/dev/null || ! command -v ipset >/dev/null; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing nftables and ipset for the kernel-backed SSH connector tests" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables ipset; } >/dev/null 2>&1; then
    echo "could not install nftables/ipset: kernel-backed tests will be skipped" >&2
  fi
fi
