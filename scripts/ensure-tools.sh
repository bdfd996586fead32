#!/usr/bin/env bash
# Makes sure the command-line tools some tests need are present, installing only the missing ones with apt-get
# (root, Debian). The test bed's own tools are scripts/testbed.sh's business; this is for the rest.
#
# Usage: ensure-tools.sh TOOL...      known tools: the keys of PACKAGE_OF below
# Exit 0 when every tool is present afterwards; 1 with the reason otherwise (not root, apt failed, unknown tool).
set -euo pipefail

readonly -A PACKAGE_OF=([tshark]=tshark [tcpdump]=tcpdump [ping]=iputils-ping [ip]=iproute2 [iptables]=iptables [sysctl]=procps)

die() { echo "ensure-tools: $*" >&2; exit 1; }
find_tool() { PATH=$PATH:/usr/sbin:/sbin command -v "$1" >/dev/null 2>&1; }

(($#)) || die "usage: ensure-tools.sh TOOL... (known: ${!PACKAGE_OF[*]})"
missing=()
for tool in "$@"; do
  [[ -n ${PACKAGE_OF[$tool]:-} ]] || die "unknown tool '$tool' (known: ${!PACKAGE_OF[*]})"
  find_tool "$tool" || missing+=("${PACKAGE_OF[$tool]}")
done
((${#missing[@]})) || exit 0
[[ $EUID -eq 0 ]] || die "missing ${missing[*]}; installing needs root (apt-get install ${missing[*]})"

echo "ensure-tools: installing ${missing[*]}" >&2
# Non-interactive: wireshark-common asks whether non-root users may capture; the default (no) is what we want.
# Wait for another apt/dpkg instead of failing on its lock; a clean machine may have no package lists yet.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2; then
  "${apt[@]}" update >&2 && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
fi
for tool in "$@"; do
  find_tool "$tool" || die "$tool is still missing after installing ${PACKAGE_OF[$tool]}"
done
