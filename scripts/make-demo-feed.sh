#!/usr/bin/env bash
# Builds assets/demo-feed: a tiny vendor APT repository that `npm start` serves on loopback,
# so the quick start shows feeds and stock apt clients without the internet. Made with the
# real Debian tools (dpkg-deb, apt-ftparchive, gpg with a throwaway key); its Release has no
# Valid-Until, so the committed snapshot stays usable. Run again only to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/demo-feed
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out/dists/stable/main/binary-amd64/by-hash/SHA256" "$work/gnupg"
chmod 700 "$work/gnupg"
gpg() { command gpg --homedir "$work/gnupg" --batch --pinentry-mode loopback --passphrase '' "$@"; }
gpg --quick-gen-key 'Sluice demo vendor <demo-vendor@example.invalid>' ed25519 sign never 2>/dev/null
for version in 1.0-1 1.1-1; do
  root="$work/hello-$version"
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/hello-sluice"
  printf 'Package: hello-sluice\nVersion: %s\nArchitecture: all\nMaintainer: Sluice demo <demo@example.invalid>\nSection: misc\nPriority: optional\nDescription: a demo package carried by the Sluice quick start\n It installs one README.\n' "$version" > "$root/DEBIAN/control"
  echo "hello from the Sluice demo feed, version $version" > "$root/usr/share/doc/hello-sluice/README"
  mkdir -p "$out/pool/main/h/hello-sluice"
  dpkg-deb --build --root-owner-group "$root" "$out/pool/main/h/hello-sluice/hello-sluice_${version}_all.deb" >/dev/null
done
bin="$out/dists/stable/main/binary-amd64"
(cd "$out" && apt-ftparchive --arch amd64 packages pool) > "$bin/Packages"
xz -k -f "$bin/Packages"
for f in Packages Packages.xz; do cp "$bin/$f" "$bin/by-hash/SHA256/$(sha256sum "$bin/$f" | cut -d' ' -f1)"; done
(cd "$out/dists/stable" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
  -o "APT::FTPArchive::Release::Date=Tue, 01 Dec 2026 00:00:00 UTC" -o APT::FTPArchive::Release::Acquire-By-Hash=yes \
  -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main release .) > "$work/Release"
mv "$work/Release" "$out/dists/stable/Release"
gpg --clearsign -o "$out/dists/stable/InRelease" "$out/dists/stable/Release"
gpg --export > "$out/vendor.gpg"
echo "wrote $out"
