#!/usr/bin/env bash
# Install Mesa's Vulkan drivers (lavapipe, the CPU Vulkan driver) so Dawn's
# `webgpu` package finds an adapter on machines without a GPU.
#
# Debian bookworm ships Mesa 22.3, whose lavapipe Dawn cannot use; Mesa >= 23
# comes from bookworm-backports. Idempotent: returns at once when a Mesa >= 23
# mesa-vulkan-drivers is already installed. Needs root to install; without it
# (or off Debian) it only says what to do and exits 0, leaving the verdict to
# scripts/check-webgpu.mjs.
#
# Every decision reads its facts through commands on PATH (dpkg-query, dpkg,
# apt-get, id) and two paths that tests may point elsewhere, so
# test/scripts/install-vulkan.test.ts drives each branch with stub commands:
#   KILN_OS_RELEASE  (default /etc/os-release)
#   KILN_APT_ETC     (default /etc/apt)
set -euo pipefail

MIN_MESA=23
PKG=mesa-vulkan-drivers
OS_RELEASE=${KILN_OS_RELEASE:-/etc/os-release}
APT_ETC=${KILN_APT_ETC:-/etc/apt}
say() { echo "install-vulkan: $*"; }

# The installed version, or nothing. dpkg-query exits 1 for a package dpkg has
# never seen: that is "not installed", not a failure of this script.
installed_version() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$PKG" 2>/dev/null || true)
  awk -F'|' '$1 ~ /^ii/ {print $2}' <<<"$status"
}

mesa_ok() {
  local v
  v=$(installed_version)
  [[ -n "$v" ]] && dpkg --compare-versions "$v" ge "$MIN_MESA"
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "not a Debian/apt system; install Mesa >= $MIN_MESA Vulkan drivers (lavapipe) yourself. Skipping."
  exit 0
fi

current=$(installed_version)
if mesa_ok; then
  say "$PKG $current already installed (>= $MIN_MESA); nothing to do."
  exit 0
fi
say "$PKG ${current:-not installed}; need >= $MIN_MESA."

if [[ $(id -u) -ne 0 ]]; then
  say "not root, cannot install. Run as root:  bash scripts/install-vulkan.sh"
  say "WebGPU will be unavailable until then (Kiln falls back to the CPU backend)."
  exit 0
fi

codename=$( . "$OS_RELEASE" 2>/dev/null && echo "${VERSION_CODENAME:-}" || true )
export DEBIAN_FRONTEND=noninteractive

if [[ "$codename" != bookworm ]]; then
  # Later Debian releases carry Mesa >= 23 in main; older ones are unsupported.
  say "Debian '${codename:-unknown}', not bookworm: installing $PKG from the default suites."
  apt-get update -qq
  apt-get install -y "$PKG"
else
  BACKPORTS=$APT_ETC/sources.list.d/backports.sources
  SOURCES=$APT_ETC/sources.list.d/debian.sources
  LIST=$APT_ETC/sources.list

  if grep -rqsE --include='*.list' --include='*.sources' \
       '^[^#]*[[:space:]]bookworm-backports([[:space:]]|$)' "$LIST" "$APT_ETC/sources.list.d/"; then
    say "bookworm-backports already configured."
  else
    uri=""
    if [[ -f "$SOURCES" ]]; then
      # deb822: take URIs from the stanza whose Suites has plain 'bookworm',
      # else the first URIs line in the file.
      uri=$(awk '
        /^[[:space:]]*$/      { if (s && u && !pick) pick = u; s = 0; u = ""; next }
        /^URIs:/              { u = $2; if (!first) first = $2 }
        /^Suites:/            { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
        END { if (s && u && !pick) pick = u; print (pick ? pick : first) }' "$SOURCES")
    elif [[ -f "$LIST" ]]; then
      # one-line format: deb [opts] URI suite components...
      uri=$(awk '
        $1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
          if (!first) first = $i
          if ($(i + 1) == "bookworm" && !pick) pick = $i
        }
        END { print (pick ? pick : first) }' "$LIST")
    fi
    uri=${uri:-http://deb.debian.org/debian}
    say "adding bookworm-backports from $uri -> $BACKPORTS"
    mkdir -p "$(dirname "$BACKPORTS")"
    cat > "$BACKPORTS" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi

  apt-get update -qq
  apt-get install -y -t bookworm-backports "$PKG"
fi

if mesa_ok; then
  say "$PKG $(installed_version) installed."
else
  now=$(installed_version)
  say "ERROR: $PKG is ${now:-not installed} after the install; need >= $MIN_MESA." >&2
  exit 1
fi
