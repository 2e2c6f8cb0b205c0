#!/usr/bin/env bash
# Rehearses deploy/README.md on one machine: the same commands, in the same order, with the
# paths of a real host moved under a scratch ROOT and the three sites on loopback ports.
#   deploy/rehearse.sh build/sluice-VERSION.tgz [ROOT]
# It installs the artefact, creates keys and certificates (and each ring's APT key), writes
# each site's secrets from sluice.env.example, starts hq, paris and lyon over mutual TLS,
# publishes a package, lets an endpoint at lyon install it with the agent unit's command line,
# checks the report; follows a vendor's APT feed (a small signed repository served on
# loopback stands for deb.debian.org) and sets up a second endpoint at lyon with stock apt as
# configuration management would (the .sources file from "sluice apt-source", apt's CA, the
# dpkg report hook from the artefact), which installs and upgrades the vendor's package with
# the real apt-get and dpkg in a scratch root once approved for its ring, its reports showing;
# moves the tree to root version 2 (an offline root key, a new online key), backs the primary
# up, loses it, restores the older backup and recovers from the tree, and verifies the
# systemd units. Exit 0 when every step did what the README says. Without dpkg-deb,
# apt-ftparchive, apt-get, gpg or xz (scripts/install-test-tools.sh installs them) the APT
# path is left out, and says so.
set -euo pipefail

TARBALL=$(realpath "${1:?usage: deploy/rehearse.sh SLUICE.tgz [ROOT]}")
# Without ROOT, a scratch directory of its own, removed at the end (KEEP=1 keeps it to look at).
OWN_ROOT=""
if [ -z "${2:-}" ]; then OWN_ROOT=$(mktemp -d); fi
ROOT=$(realpath "${2:-$OWN_ROOT}")
HERE=$(cd "$(dirname "$0")" && pwd)
# The processes it started and that still run, by node: only those are stopped at the end. A
# stopped node's id leaves the list, since the system soon gives that id to another process.
declare -A PID_OF=()
cleanup() {
  status=$?
  # A failed step shows the nodes' last words: the ROOT that holds their logs may go next.
  if [ "$status" != 0 ]; then
    for log in "$ROOT"/*.log; do if [ -e "$log" ]; then printf '\n-- last lines of %s\n' "$log"; tail -n 15 "$log"; fi; done >&2
  fi
  for p in "${PID_OF[@]}" ${VENDOR_PID:-}; do kill "$p" 2>/dev/null || true; done
  if [ -n "${VENDOR_GNUPG:-}" ]; then gpgconf --homedir "$VENDOR_GNUPG" --kill gpg-agent 2>/dev/null || true; fi
  if [ -n "$OWN_ROOT" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$OWN_ROOT"; fi
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'REHEARSAL FAILED: %s\n' "$*" >&2; exit 1; }

step "1. Install the artefact (offline: its dependencies are inside)"
# A cache of its own: the rehearsal never waits on another npm's lock on the shared cache
# (one install here hung at "fetch manifest" for minutes while other npm work ran); and a
# bound on the install, tried twice, so a stuck npm fails this step instead of the suite.
install_artefact() { timeout 90 npm install -g --prefix "$ROOT/usr/local" --offline --cache "$ROOT/npm-cache" --no-audit --no-fund "$TARBALL" >/dev/null; }
install_artefact || { echo "npm install did not finish; trying once more"; install_artefact; } || fail "npm install of $TARBALL failed twice"

SLUICE="$ROOT/usr/local/bin/sluice"
"$SLUICE" --version

read -r P_HQ P_PARIS P_LYON P_VENDOR < <(node -e '
  const net = require("node:net");
  Promise.all([0, 1, 2, 3].map(() => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); })))
    .then((ps) => console.log(ps.join(" ")));')

APT_MISSING=""
for t in dpkg-deb apt-ftparchive apt-get gpg gpgconf xz; do command -v "$t" >/dev/null || APT_MISSING="$APT_MISSING $t"; done
FEEDS=""
if [ -z "$APT_MISSING" ]; then
  step "The vendor (stands for deb.debian.org, and its keyring for what debian-archive-keyring installs)"
  # Built the way a vendor builds one: dpkg-deb, apt-ftparchive, a Release clear-signed by gpg.
  VENDOR="$ROOT/vendor/www" VENDOR_GNUPG="$ROOT/vendor/gnupg"
  VENDOR_KEYRING="$ROOT/usr/share/keyrings/vendor-archive-keyring.gpg"
  ARCH=$(dpkg --print-architecture)
  mkdir -p "$VENDOR/dists/stable/main/binary-$ARCH" "$VENDOR/pool/main/h/hello" "$(dirname "$VENDOR_KEYRING")"
  mkdir -m 0700 "$VENDOR_GNUPG"
  vgpg() { gpg --homedir "$VENDOR_GNUPG" --batch --quiet --pinentry-mode loopback --passphrase '' "$@"; }
  vgpg --quick-gen-key 'Rehearsal Archive Signing Key <archive@example.invalid>' ed25519 sign 1y 2>/dev/null
  vgpg --export > "$VENDOR_KEYRING"
  for version in 1.0-1 1.1-1; do
    pkg="$ROOT/vendor/build/hello-$version"
    mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/doc/hello"
    printf 'Package: hello\nVersion: %s\nArchitecture: all\nMaintainer: Rehearsal <archive@example.invalid>\nSection: misc\nPriority: optional\nDescription: the vendor package of the rehearsal\n' "$version" > "$pkg/DEBIAN/control"
    echo "hello $version" > "$pkg/usr/share/doc/hello/README"
    dpkg-deb --build --root-owner-group "$pkg" "$VENDOR/pool/main/h/hello/hello_${version}_all.deb" >/dev/null
  done
  (cd "$VENDOR" && apt-ftparchive --arch "$ARCH" packages pool) > "$VENDOR/dists/stable/main/binary-$ARCH/Packages"
  xz -k "$VENDOR/dists/stable/main/binary-$ARCH/Packages"
  (cd "$VENDOR/dists/stable" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
    -o APT::FTPArchive::Release::ValidTime=86400 -o "APT::FTPArchive::Release::Architectures=$ARCH" \
    -o APT::FTPArchive::Release::Components=main release .) > "$ROOT/vendor/Release"
  mv "$ROOT/vendor/Release" "$VENDOR/dists/stable/Release"
  vgpg --clearsign -o "$VENDOR/dists/stable/InRelease" "$VENDOR/dists/stable/Release"
  gpgconf --homedir "$VENDOR_GNUPG" --kill gpg-agent
  # Its web server, on loopback: the files as they are.
  node -e '
    const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
    const [root, port] = process.argv.slice(1);
    http.createServer((req, res) => {
      const file = path.join(root, decodeURIComponent(req.url.split("?")[0]));
      fs.stat(file, (err, st) => {
        if (err || !st.isFile() || !file.startsWith(root + path.sep)) { res.writeHead(404); return res.end(); }
        res.writeHead(200, { "content-length": st.size });
        fs.createReadStream(file).pipe(res);
      });
    }).listen(Number(port), "127.0.0.1");' "$VENDOR" "$P_VENDOR" &
  VENDOR_PID=$!
  VENDOR_FPR=$(vgpg --show-keys --with-colons "$VENDOR_KEYRING" 2>/dev/null | awk -F: '/^fpr:/ { print $10; exit }')
  echo "vendor at http://127.0.0.1:$P_VENDOR: hello 1.0-1 and 1.1-1 in suite stable, signed by $VENDOR_FPR"
  FEEDS="feeds:
  vendor:
    type: apt
    url: http://127.0.0.1:$P_VENDOR
    suites: [stable]
    components: [main]
    architectures: [$ARCH]
    keyring: $VENDOR_KEYRING"
else
  echo "APT path not rehearsed: missing$APT_MISSING (scripts/install-test-tools.sh installs them)"
fi

step "2. Topology and keys"
ETC="$ROOT/etc/sluice"
mkdir -p "$ETC/keys" "$ETC/tls" "$ROOT/var/lib/sluice"
cat > "$ETC/topology.yaml" <<EOF
version: 1
primary: hq
trust: { catalogKey: keys/catalog.pub, ca: keys/ca.pem, aptKeys: keys/apt }
regions:
  europe:
    timezone: Europe/Paris
    schedule:
      - { days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", rate: 40Mbit/s }
      - { rate: unlimited }
    critical: bypass
    sync: { every: 1m, jitter: 5s }
rings: [pilot, broad]
nodes:
  hq:    { url: "https://127.0.0.1:$P_HQ", region: europe, data: $ROOT/var/lib/sluice/hq }
  paris: { url: "https://127.0.0.1:$P_PARIS", region: europe, upstream: hq, ring: pilot, data: $ROOT/var/lib/sluice/paris }
  lyon:  { url: "https://127.0.0.1:$P_LYON", region: europe, upstream: paris, fallback: [hq], ring: broad, data: $ROOT/var/lib/sluice/lyon }
$FEEDS
EOF
"$SLUICE" keygen --out "$ETC/keys"
if [ -n "$FEEDS" ]; then
  # The rings' APT keys, on the primary: private RING.key (SLUICE_APT_KEY), public RING.asc (trust.aptKeys).
  "$SLUICE" keygen --apt --out "$ETC/keys/apt" -t "$ETC/topology.yaml" | tee "$ROOT/apt-keys.txt"
  grep -Eq 'broad.*[0-9A-F]{40}' "$ROOT/apt-keys.txt" || fail "keygen --apt printed no fingerprint for ring broad"
  [ "$(stat -c %a "$ETC/keys/apt/broad.key")" = 600 ] || fail "the ring's private APT key is not mode 0600"
fi
"$SLUICE" cert ca --out "$ROOT/ca"
cp "$ROOT/ca/ca.pem" "$ETC/keys/ca.pem"
for n in hq paris lyon; do "$SLUICE" cert node "$n" --ca-dir "$ROOT/ca" --out "$ETC/tls" -t "$ETC/topology.yaml"; done
"$SLUICE" check -t "$ETC/topology.yaml" | tee "$ROOT/check.txt"
if [ -n "$FEEDS" ]; then
  # The keys sluice check lists are those the primary will accept: compared with the vendor's.
  grep -q "$VENDOR_FPR" "$ROOT/check.txt" || fail "sluice check does not list the vendor's key $VENDOR_FPR"
  echo "the feed's keyring holds the vendor's key $VENDOR_FPR, as sluice check lists it"
fi

step "3. Secrets, from sluice.env.example"
ADMIN=$(openssl rand -hex 24)
ENDPOINT=$(openssl rand -hex 24)
for n in hq paris lyon; do
  sed -e "s|^SLUICE_ADMIN_TOKEN=.*|SLUICE_ADMIN_TOKEN=alice=$ADMIN|" \
      -e "s|/etc/sluice/tls/NODE|$ETC/tls/$n|g" \
      -e "s|^SLUICE_ENDPOINT_TOKEN=.*|SLUICE_ENDPOINT_TOKEN=$ENDPOINT|" \
      "$HERE/systemd/sluice.env.example" > "$ETC/$n.env"
  chmod 0600 "$ETC/$n.env"
done
sed -i -e "s|^#SLUICE_SIGNING_KEY=.*|SLUICE_SIGNING_KEY=$ETC/keys/catalog.key|" -e "s|^#SLUICE_APT_KEY=.*|SLUICE_APT_KEY=$ETC/keys/apt|" "$ETC/hq.env"
for n in hq paris lyon; do (set -a; . "$ETC/$n.env"; "$SLUICE" check --node "$n" -t "$ETC/topology.yaml" >/dev/null) || fail "sluice check --node $n"; done

step "4. Run (as sluice@NODE.service runs it: its ExecStart with its EnvironmentFile)"
start() {
  (set -a; . "$ETC/$1.env"; SLUICE_LOG_FORMAT=json exec "$SLUICE" serve --node "$1" -t "$ETC/topology.yaml") >> "$ROOT/$1.log" 2>&1 &
  PID_OF[$1]=$!
}
# As systemctl stop does: SIGTERM, then wait for the drained exit.
stop() {
  local status=0
  kill -TERM "${PID_OF[$1]}"
  wait "${PID_OF[$1]}" || status=$?
  unset "PID_OF[$1]"
  [ "$status" = 0 ] || fail "$1 did not exit 0 on SIGTERM (status $status)"
}
ready() { curl -fsS --cacert "$ETC/keys/ca.pem" "$1/readyz" >/dev/null 2>&1; }
wait_ready() {
  for _ in $(seq 1 100); do ready "$1" && return 0; sleep 0.2; done
  fail "$1 never became ready; see $ROOT/*.log"
}
for n in hq paris lyon; do start "$n"; done
for url in "https://127.0.0.1:$P_HQ" "https://127.0.0.1:$P_PARIS" "https://127.0.0.1:$P_LYON"; do wait_ready "$url"; done
echo "hq, paris and lyon are ready"

step "Publish and approve at the primary"
head -c 3000000 /dev/urandom > "$ROOT/tool-1.0.bin"
export SLUICE_TOKEN=$ADMIN SLUICE_CA="$ETC/keys/ca.pem"
"$SLUICE" publish "$ROOT/tool-1.0.bin" --name tool --version 1.0 --severity important -t "$ETC/topology.yaml"
"$SLUICE" approve tool@1.0 -t "$ETC/topology.yaml"
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(eval("JSON.parse(s)."+process.argv[1])))' "$1"; }
# Polls retry a command that fails (a node busy restarting, a refused connection on a loaded
# machine) until their deadline, as an operator would, rather than end the rehearsal.
# lyon has caught up: the primary's catalog position, nothing pending for its rings, and at
# least $1 files (the packages so far; with feeds, each ring's APT index files come on top).
lyon_holds() {
  for _ in $(seq 1 150); do
    primary=$("$SLUICE" status --node hq --json -t "$ETC/topology.yaml" | json_field catalog.seq) || primary=""
    lyon=$("$SLUICE" status --node lyon --json -t "$ETC/topology.yaml" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.catalog.seq,j.pending.blobs,j.store.blobs)})') || lyon=""
    read -r seq pending blobs <<< "${lyon:-x x 0}"
    [ "$seq" = "$primary" ] && [ "$pending" = 0 ] && [ "$blobs" -ge "$1" ] && return 0
    sleep 0.2
  done
  fail "lyon never caught up with $1 package file(s) (catalog $seq of $primary, $pending pending, $blobs files)"
}
lyon_holds 1
"$SLUICE" status -t "$ETC/topology.yaml"

step "5. An endpoint at lyon (sluice-agent.service's command line)"
AGENT_ETC="$ROOT/etc/sluice-agent"
mkdir -p "$AGENT_ETC" "$ROOT/var/cache/sluice-agent"
cp "$ETC/keys/catalog.pub" "$ETC/keys/ca.pem" "$AGENT_ETC/"
printf '%s\n' "$ENDPOINT" > "$AGENT_ETC/endpoint.token" && chmod 0600 "$AGENT_ETC/endpoint.token"
sed -e "s|^SLUICE_AGENT_SERVERS=.*|SLUICE_AGENT_SERVERS=\"https://127.0.0.1:$P_LYON https://127.0.0.1:$P_HQ\"|" \
    -e "s|^SLUICE_AGENT_EXEC=.*|SLUICE_AGENT_EXEC=\"cp {file} $ROOT/installed.bin\"|" \
    "$HERE/agent/agent.env.example" > "$AGENT_ETC/agent.env"
(
  set -a; . "$AGENT_ETC/agent.env"; set +a
  # shellcheck disable=SC2086 # word splitting as systemd does for $VAR
  "$SLUICE" agent --server $SLUICE_AGENT_SERVERS --catalog-key "$AGENT_ETC/catalog.pub" --ca "$AGENT_ETC/ca.pem" \
    --token-file "$AGENT_ETC/endpoint.token" --exec "${SLUICE_AGENT_EXEC}" $SLUICE_AGENT_OPTIONS \
    --cache "$ROOT/var/cache/sluice-agent" --client-id pc-0001
)
cmp "$ROOT/tool-1.0.bin" "$ROOT/installed.bin" || fail "the endpoint did not install the published file"
[ -z "$(ls -A "$ROOT/var/cache/sluice-agent/files" 2>/dev/null)" ] || fail "the agent kept an installed file in its cache"
for _ in $(seq 1 100); do
  clients=$("$SLUICE" report --json -t "$ETC/topology.yaml" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).rows.find((r)=>r.site==="lyon")?.clients ?? 0))') || clients=0
  [ "$clients" = 1 ] && break
  sleep 0.2
done
"$SLUICE" report -t "$ETC/topology.yaml" | tee "$ROOT/report.txt"
grep -Eq '^tool@1\.0 +lyon +1 +1 ' "$ROOT/report.txt" || fail "the report does not show lyon's endpoint"

if [ -n "$FEEDS" ]; then
step "5. An endpoint at lyon with stock apt (ring broad): the vendor's package once approved for its ring"
# Head office: the primary synced the feed as it started; sluice feeds exits 1 if that failed.
for _ in $(seq 1 100); do
  synced=$("$SLUICE" feeds --json -t "$ETC/topology.yaml" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0]?.last ? "yes" : "no"))') || true
  [ "$synced" = yes ] && break
  sleep 0.2
done
"$SLUICE" feeds -t "$ETC/topology.yaml" || fail "sluice feeds: the vendor feed's last sync failed"
"$SLUICE" packages -t "$ETC/topology.yaml" | grep -E '^hello@' || fail "the vendor's versions are not in the catalog"
"$SLUICE" approve hello@1.0-1 --ring broad -t "$ETC/topology.yaml"
"$SLUICE" apt-source --ring broad --node lyon -t "$ETC/topology.yaml" --out "$ROOT/broad-lyon.sources"
BROAD_FPR=$(awk '$1 == "broad" { print $2 }' "$ROOT/apt-keys.txt")
grep -q "fingerprint $BROAD_FPR" "$ROOT/broad-lyon.sources" || fail "the .sources file does not carry ring broad's key $BROAD_FPR"

# The endpoint: a machine's / moved under EP, where apt keeps its state and dpkg installs.
EP="$ROOT/endpoint"
mkdir -p "$EP/etc/apt/apt.conf.d" "$EP/etc/apt/sources.list.d" "$EP/etc/apt/preferences.d" "$EP/etc/apt/trusted.gpg.d" \
  "$EP/var/lib/apt/lists/partial" "$EP/var/cache/apt/archives/partial" "$EP/var/log/apt" \
  "$EP/var/lib/dpkg/info" "$EP/var/lib/dpkg/updates" "$EP/etc/sluice-agent" "$EP/usr/lib/sluice"
: > "$EP/var/lib/dpkg/status"
# What configuration management places, as the README's table says; the hook's three files
# from the artefact (no Node.js needed on such a machine). relocate() moves a real
# machine's paths in them under EP.
mkdir -p "$ROOT/unpacked" && tar -xzf "$TARBALL" -C "$ROOT/unpacked" package/deploy/apt
APT_FILES="$ROOT/unpacked/package/deploy/apt"
relocate() { sed -e "s|/etc/sluice-agent/|$EP/etc/sluice-agent/|g" -e "s|/usr/lib/sluice/|$EP/usr/lib/sluice/|g" -e "s|/etc/apt/|$EP/etc/apt/|g" -e "s|/var/lib/dpkg|$EP/var/lib/dpkg|g" "$1"; }
relocate "$APT_FILES/sluice-apt-report" > "$EP/usr/lib/sluice/sluice-apt-report" && chmod 0755 "$EP/usr/lib/sluice/sluice-apt-report"
relocate "$APT_FILES/99sluice-report" > "$EP/etc/apt/apt.conf.d/99sluice-report"
relocate "$APT_FILES/apt-report.env.example" \
  | sed -e "s|^SLUICE_REPORT_URL=.*|SLUICE_REPORT_URL=\"https://127.0.0.1:$P_LYON\"|" -e "s|^# SLUICE_CLIENT_ID=.*|SLUICE_CLIENT_ID=pc-0002|" \
  > "$EP/etc/sluice-agent/apt-report.env"
install -m 0644 "$ROOT/broad-lyon.sources" "$EP/etc/apt/sources.list.d/sluice.sources"
install -m 0644 "$ROOT/ca/ca.pem" "$EP/etc/sluice-agent/ca.pem"
echo "Acquire::https::127.0.0.1::CaInfo \"$EP/etc/sluice-agent/ca.pem\";" > "$EP/etc/apt/apt.conf.d/60sluice-ca"
printf '%s\n' "$ENDPOINT" > "$EP/etc/sluice-agent/endpoint.token" && chmod 0600 "$EP/etc/sluice-agent/endpoint.token"
# apt's main configuration, standing for the machine's own: every path under EP (APT_CONFIG
# is read before anything of this host's apt), dpkg installing into EP without privileges.
# The download sandbox stays off: its user could not enter this scratch directory.
cat > "$EP/etc/apt/apt.conf" <<EOF
Dir "$EP/";
DPkg::Options { "--root=$EP"; "--force-not-root"; "--log=$EP/var/log/dpkg.log"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "0";
Acquire::http::Proxy "DIRECT";
Acquire::https::Proxy "DIRECT";
EOF
# The machine's own /tmp too: apt leaves there the keys it reads inline from Signed-By (apt-key.*.asc).
mkdir -m 1777 "$EP/tmp"
ep_apt() { APT_CONFIG="$EP/etc/apt/apt.conf" TMPDIR="$EP/tmp" DEBIAN_FRONTEND=noninteractive "$@"; }
# As an endpoint's next apt run would: update until lyon's broad index offers the version.
offered() {
  for _ in $(seq 1 150); do
    if ep_apt apt-get -q update > "$ROOT/apt-update.txt" 2>&1 && ep_apt apt-cache policy hello | grep -q "Candidate: $1"; then return 0; fi
    sleep 0.2
  done
  cat "$ROOT/apt-update.txt"
  fail "lyon's broad index never offered hello $1"
}
installed() { dpkg-query --admindir="$EP/var/lib/dpkg" -W -f '${Status} ${Version}' hello 2>/dev/null; }
# Whether lyon's report counts PACKAGE succeeded once: at the node itself (--server), or at head
# office, where it arrives with lyon's next push up the tree.
reported() {
  for _ in $(seq 1 100); do
    ok=$("$SLUICE" report --json -t "$ETC/topology.yaml" ${2:+--server "$2"} | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).rows.find((r)=>r.package===process.argv[1]&&r.site==="lyon")?.counts.succeeded ?? 0))' "$1") || ok=0
    [ "$ok" = 1 ] && return 0
    sleep 0.2
  done
  fail "lyon's report never showed $1 succeeded on the apt endpoint"
}
offered 1.0-1
ep_apt apt-get -q -y install hello
[ "$(installed)" = "install ok installed 1.0-1" ] || fail "dpkg did not install hello 1.0-1 (it says: $(installed))"
grep -q 'hello 1.0-1' "$EP/usr/share/doc/hello/README" || fail "hello 1.0-1's files are not in the endpoint's root"
reported hello@1.0-1 "https://127.0.0.1:$P_LYON"
echo "the apt endpoint installed hello 1.0-1 from lyon; the dpkg hook reported it"

# Patch day: the vendor's fix, approved for pilot (paris's machines) and then for broad; the
# endpoint at lyon upgrades with apt.
"$SLUICE" approve hello@1.1-1 --ring pilot -t "$ETC/topology.yaml"
"$SLUICE" approve hello@1.1-1 --ring broad -t "$ETC/topology.yaml"
offered 1.1-1
ep_apt apt-get -q -y upgrade
[ "$(installed)" = "install ok installed 1.1-1" ] || fail "apt-get upgrade did not install hello 1.1-1 (dpkg says: $(installed))"
reported hello@1.1-1
"$SLUICE" report --package hello@1.1-1 -t "$ETC/topology.yaml" | tee "$ROOT/apt-report.txt"
# Two endpoints at lyon now (the agent's and this one), one of which installs with apt.
grep -Eq '^hello@1\.1-1 +lyon +2 +1 ' "$ROOT/apt-report.txt" || fail "the report does not show lyon's apt endpoint on hello@1.1-1"
echo "patch day with stock apt: hello 1.1-1 approved for pilot then broad, upgraded at lyon's endpoint, reported"
fi

step "7. Leave root version 1 (keys: an offline root key, a new online key)"
OFFLINE="$ROOT/offline"   # stands for the safe where root keys live: never on a node
"$SLUICE" keygen --out "$OFFLINE" --name root-1 | grep -q 'OFFLINE root key' || fail "keygen did not advise keeping root-1 offline"
"$SLUICE" keygen --out "$ETC/keys" --name catalog-2 | grep -q 'ONLINE catalog key' || fail "keygen did not advise catalog-2 for the primary"
"$SLUICE" root new --root-key "$OFFLINE/root-1.pub" --catalog-key "$ETC/keys/catalog-2.pub" --threshold 1 --expires 365d --out "$ROOT/root-2.json" -t "$ETC/topology.yaml"
"$SLUICE" root sign "$ROOT/root-2.json" --key "$ETC/keys/catalog.key" --key "$OFFLINE/root-1.key"
sed -i "s|^SLUICE_SIGNING_KEY=.*|SLUICE_SIGNING_KEY=$ETC/keys/catalog.key,$ETC/keys/catalog-2.key|" "$ETC/hq.env"
stop hq && start hq && wait_ready "https://127.0.0.1:$P_HQ"
"$SLUICE" root apply "$ROOT/root-2.json" -t "$ETC/topology.yaml"
for _ in $(seq 1 150); do
  version=$("$SLUICE" root show --node lyon -t "$ETC/topology.yaml" | json_field version) || version=""
  [ "$version" = 2 ] && break
  sleep 0.2
done
[ "$version" = 2 ] || fail "lyon never reached root version 2"
sed -i "s|^SLUICE_SIGNING_KEY=.*|SLUICE_SIGNING_KEY=$ETC/keys/catalog-2.key|" "$ETC/hq.env"
stop hq && start hq && wait_ready "https://127.0.0.1:$P_HQ"
echo "root version 2 in force at lyon; hq signs with catalog-2 alone"

step "8. Back up the primary; lose it; restore the (older) backup; recover from the tree"
stop hq
BACKUP="$ROOT/backup"
mkdir -p "$BACKUP" && cp -a "$ROOT/var/lib/sluice/hq" "$BACKUP/hq-data" && cp -a "$ETC" "$BACKUP/etc-sluice"
start hq && wait_ready "https://127.0.0.1:$P_HQ"
head -c 2000000 /dev/urandom > "$ROOT/tool-2.0.bin"
"$SLUICE" publish "$ROOT/tool-2.0.bin" --name tool --version 2.0 --severity important -t "$ETC/topology.yaml" >/dev/null
"$SLUICE" approve tool@2.0 -t "$ETC/topology.yaml" >/dev/null
lyon_holds 2
stop hq
rm -rf "$ROOT/var/lib/sluice/hq"                                 # the disk is gone
cp -a "$BACKUP/hq-data" "$ROOT/var/lib/sluice/hq"                # last night's backup
(set -a; . "$ETC/hq.env"; "$SLUICE" recover --from paris -t "$ETC/topology.yaml") | tee "$ROOT/recover.txt"
grep -q '1 blobs fetched' "$ROOT/recover.txt" || fail "recover did not bring tool@2.0's file back"
start hq && wait_ready "https://127.0.0.1:$P_HQ"
head -c 1000000 /dev/urandom > "$ROOT/tool-3.0.bin"
"$SLUICE" publish "$ROOT/tool-3.0.bin" --name tool --version 3.0 --severity important -t "$ETC/topology.yaml" >/dev/null
"$SLUICE" approve tool@3.0 -t "$ETC/topology.yaml" >/dev/null
lyon_holds 3
rejected=$(curl -fsS --cacert "$ETC/keys/ca.pem" "https://127.0.0.1:$P_LYON/metrics" | awk '/^sluice_catalog_rejected_total/ { n += $2 } END { print n + 0 }')
[ "$rejected" = 0 ] || fail "lyon refused $rejected catalog page(s) after the recovery"
echo "recovered: the tree carried on, lyon refused nothing"

step "Stop (SIGTERM drains and exits 0)"
for n in hq paris lyon; do stop "$n"; done

step "systemd units"
if command -v systemd-analyze >/dev/null; then
  units="$ROOT/units" && mkdir -p "$units"
  cp "$HERE/systemd/sluice@.service" "$units/sluice@hq.service"
  cp "$HERE/agent/sluice-agent.service" "$HERE/agent/sluice-agent.timer" "$units/"
  out=$(cd "$units" && systemd-analyze verify --man=no sluice@hq.service sluice-agent.service sluice-agent.timer 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
  echo "sluice@.service, sluice-agent.service and sluice-agent.timer verify cleanly"
else
  echo "systemd-analyze not installed: units not verified"
fi
printf '\nREHEARSAL PASSED (%s)\n' "$ROOT${OWN_ROOT:+, removed}"
