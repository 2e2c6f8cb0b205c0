#!/usr/bin/env bash
# Installs, with apt-get, the system tools the test suite runs as real processes:
#   curl        range and resume tests drive curl as a client
#   prometheus  a real Prometheus scrapes test nodes; promtool checks metrics and rules
#   openssl     the TLS tests read the certificate a node presents (openssl s_client)
#   systemd     systemd-analyze verifies the deploy/ units (the deploy rehearsal test)
#   util-linux  script(1) gives "sluice status --watch" a terminal in its test
#   redis-server  sibling nodes of one site share their budget and leases through it
#   nginx-light the shipped load-balancer example runs in front of sibling nodes
#   chromium    the console's browser tests drive Debian's Chromium with playwright-core
#   iproute2    ip and tc build the emulated WAN (network namespaces, tbf) of the background-mode test
#   python3     its foreground download server (Node.js cannot pick a socket's congestion control)
#   dpkg-dev, apt-utils, gnupg, xz-utils
#               the vendor-feed tests build a real APT repository (dpkg-deb, apt-ftparchive,
#               a throwaway gpg key, xz) and drive the real apt-get against the tree
#   rpm, createrepo-c, dnf, zstd
#               the RPM-feed tests build real RPM repositories (rpmbuild, rpmsign, createrepo_c,
#               modifyrepo_c; zstd for zstd-compressed repodata) and drive the real dnf against the tree
# Benchmarks also use wrk and pv (npm run bench names whichever is missing).
set -euo pipefail
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v tc >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v dpkg-deb >/dev/null 2>&1 && command -v dpkg-scanpackages >/dev/null 2>&1 || need+=(dpkg-dev)
command -v apt-ftparchive >/dev/null 2>&1 || need+=(apt-utils)
command -v gpg >/dev/null 2>&1 && command -v gpgv >/dev/null 2>&1 || need+=(gnupg gpgv)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v rpmbuild >/dev/null 2>&1 && command -v rpmsign >/dev/null 2>&1 || need+=(rpm)
command -v createrepo_c >/dev/null 2>&1 && command -v modifyrepo_c >/dev/null 2>&1 || need+=(createrepo-c)
command -v dnf >/dev/null 2>&1 || need+=(dnf)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
