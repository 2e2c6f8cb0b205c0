#!/usr/bin/env bash
# Rehearses deploy/README.md on one machine: the same commands, in the same order, with the
# paths of a real host moved under a scratch ROOT and the three sites on loopback ports.
#   deploy/rehearse.sh build/sluice-VERSION.tgz [ROOT]
# It installs the artefact, creates keys and certificates, writes each site's secrets from
# sluice.env.example, starts hq, paris and lyon over mutual TLS, publishes a package, lets
# an endpoint at lyon install it with the agent unit's command line, checks the report, moves
# the tree to root version 2 (an offline root key, a new online key), backs the primary up,
# loses it, restores the older backup and recovers from the tree, and verifies the systemd
# units. Exit 0 when every step did what the README says.
set -euo pipefail

TARBALL=$(realpath "${1:?usage: deploy/rehearse.sh SLUICE.tgz [ROOT]}")
# Without ROOT, a scratch directory of its own, removed at the end (KEEP=1 keeps it to look at).
OWN_ROOT=""
if [ -z "${2:-}" ]; then OWN_ROOT=$(mktemp -d); fi
ROOT=$(realpath "${2:-$OWN_ROOT}")
HERE=$(cd "$(dirname "$0")" && pwd)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$OWN_ROOT" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$OWN_ROOT"; fi
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'REHEARSAL FAILED: %s\n' "$*" >&2; exit 1; }

step "1. Install the artefact (offline: its dependencies are inside)"
# A cache of its own: the rehearsal never waits on another npm's lock on the shared cache
# (one install here hung at "fetch manifest" for minutes while other npm work ran); and a
# bound on the install, tried twice, so a stuck npm fails this step instead of the suite.
install() { timeout 90 npm install -g --prefix "$ROOT/usr/local" --offline --cache "$ROOT/npm-cache" --no-audit --no-fund "$TARBALL" >/dev/null; }
install || { echo "npm install did not finish; trying once more"; install; } || fail "npm install of $TARBALL failed twice"

SLUICE="$ROOT/usr/local/bin/sluice"
"$SLUICE" --version

step "2. Topology and keys"
ETC="$ROOT/etc/sluice"
mkdir -p "$ETC/keys" "$ETC/tls" "$ROOT/var/lib/sluice"
read -r P_HQ P_PARIS P_LYON < <(node -e '
  const net = require("node:net");
  Promise.all([0, 1, 2].map(() => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); })))
    .then((ps) => console.log(ps.join(" ")));')
cat > "$ETC/topology.yaml" <<EOF
version: 1
primary: hq
trust: { catalogKey: keys/catalog.pub, ca: keys/ca.pem }
regions:
  europe:
    timezone: Europe/Paris
    schedule:
      - { days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", rate: 40Mbit/s }
      - { rate: unlimited }
    critical: bypass
    sync: { every: 1m, jitter: 5s }
nodes:
  hq:    { url: "https://127.0.0.1:$P_HQ", region: europe, data: $ROOT/var/lib/sluice/hq }
  paris: { url: "https://127.0.0.1:$P_PARIS", region: europe, upstream: hq, data: $ROOT/var/lib/sluice/paris }
  lyon:  { url: "https://127.0.0.1:$P_LYON", region: europe, upstream: paris, fallback: [hq], data: $ROOT/var/lib/sluice/lyon }
EOF
"$SLUICE" keygen --out "$ETC/keys"
"$SLUICE" cert ca --out "$ROOT/ca"
cp "$ROOT/ca/ca.pem" "$ETC/keys/ca.pem"
for n in hq paris lyon; do "$SLUICE" cert node "$n" --ca-dir "$ROOT/ca" --out "$ETC/tls" -t "$ETC/topology.yaml"; done
"$SLUICE" check -t "$ETC/topology.yaml"

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
sed -i "s|^#SLUICE_SIGNING_KEY=.*|SLUICE_SIGNING_KEY=$ETC/keys/catalog.key|" "$ETC/hq.env"
for n in hq paris lyon; do (set -a; . "$ETC/$n.env"; "$SLUICE" check --node "$n" -t "$ETC/topology.yaml" >/dev/null) || fail "sluice check --node $n"; done

step "4. Run (as sluice@NODE.service runs it: its ExecStart with its EnvironmentFile)"
declare -A PID_OF
start() {
  (set -a; . "$ETC/$1.env"; SLUICE_LOG_FORMAT=json exec "$SLUICE" serve --node "$1" -t "$ETC/topology.yaml") >> "$ROOT/$1.log" 2>&1 &
  PID_OF[$1]=$!
  PIDS+=($!)
}
# As systemctl stop does: SIGTERM, then wait for the drained exit.
stop() { kill -TERM "${PID_OF[$1]}"; wait "${PID_OF[$1]}" || fail "$1 did not exit 0 on SIGTERM"; }
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
lyon_holds() {
  for _ in $(seq 1 150); do
    blobs=$("$SLUICE" status --node lyon --json -t "$ETC/topology.yaml" | json_field store.blobs)
    [ "$blobs" = "$1" ] && return 0
    sleep 0.2
  done
  fail "lyon never stored $1 blob(s) (it holds $blobs)"
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
  clients=$("$SLUICE" report --json -t "$ETC/topology.yaml" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).rows.find((r)=>r.site==="lyon")?.clients ?? 0))')
  [ "$clients" = 1 ] && break
  sleep 0.2
done
"$SLUICE" report -t "$ETC/topology.yaml" | tee "$ROOT/report.txt"
grep -Eq '^tool@1\.0 +lyon +1 +1 ' "$ROOT/report.txt" || fail "the report does not show lyon's endpoint"

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
  version=$("$SLUICE" root show --node lyon -t "$ETC/topology.yaml" | json_field version)
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
PIDS=()

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
