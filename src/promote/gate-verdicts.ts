import type { CatalogState, PackageView } from '../catalog/catalog-state.js';
import { RING_ALL } from '../catalog/records.js';
import type { SiteSummary } from '../reports/report-store.js';
import { formatDuration } from '../topology/units.js';
import type { GateRule, PromotionGate, Topology } from '../topology/types.js';

/** What a gate read for one package in its ring: the ring's endpoints' reports across the tree. */
export interface GateEvidence {
  /** Endpoints with a final outcome (succeeded, failed, cancelled, declined): the gate's "clients". */
  readonly clients: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Still installing (pending): not evidence yet. */
  readonly pending: number;
  /** Per site, the same figures (what the decision can be reproduced from). */
  readonly sites: Readonly<Record<string, { readonly clients: number; readonly succeeded: number; readonly failed: number; readonly pending: number }>>;
  /** The most frequent failure message among the ring's failures, when any were reported. */
  readonly failure: string | null;
}

export type GateState = 'waiting' | 'held' | 'ready';

/** One package approved for a gated ring, and what its gate says now. */
export interface GateVerdict {
  readonly package: string;
  readonly severity: string;
  readonly from: string;
  readonly to: string;
  readonly mode: 'auto' | 'propose';
  /** `ready`: passes (auto: the primary approves it; propose: a person may); `held`: failures hold it; `waiting`: not yet. */
  readonly state: GateState;
  /** In words, for `sluice promotions`, `sluice plan` and the console. */
  readonly reason: string;
  /** When its approval for the ring was made. */
  readonly approvedAt: string;
  /** When the gate's time has passed (approval + after). */
  readonly earliestAt: string;
  /** The gate applied (a critical package's own when it has one). */
  readonly gate: GateRule;
  readonly evidence: GateEvidence;
}

/**
 * Every package approved for a ring that has a promotion gate, still received there, and not
 * yet given to the next ring, with its verdict: held when more of the ring's endpoints failed
 * than the gate allows; waiting while the gate's time has not passed, too few endpoints
 * reported, or too few succeeded; ready otherwise. Pure: the same catalog, reports and time
 * give the same verdicts, so a decision can be reproduced from the evidence kept with it.
 */
export function gateVerdicts(state: CatalogState, topology: Topology, sites: Readonly<Record<string, SiteSummary>>, nowMs: number): GateVerdict[] {
  const out: GateVerdict[] = [];
  if (topology.promotions.size === 0) return out;
  for (const pkg of state.approved()) {
    for (const gate of topology.promotions.values()) {
      const approval = pkg.approvals.get(gate.from);
      if (!approval || !state.receivedBy(pkg, gate.from) || !wouldChange(state, pkg, gate.to)) continue;
      out.push(verdictFor(pkg, gate, Date.parse(approval.at), sites, nowMs, topology));
    }
  }
  return out.sort((a, b) => (a.state === b.state ? Date.parse(a.approvedAt) - Date.parse(b.approvedAt) : order(a.state) - order(b.state)));
}

const order = (s: GateState) => (s === 'held' ? 0 : s === 'ready' ? 1 : 2);

/**
 * Whether the gate may approve the package for `ring`: it would change what that ring receives,
 * and no person withdrew it from that ring (a rule never undoes a person's act there).
 */
function wouldChange(state: CatalogState, pkg: PackageView, ring: string): boolean {
  if (pkg.declined || pkg.approvals.has(ring) || (ring !== RING_ALL && pkg.approvals.has(RING_ALL)) || pkg.withdrawnFrom.has(ring)) return false;
  return state.supersededFor(pkg, ring) === undefined;
}

function verdictFor(pkg: PackageView, gate: PromotionGate, approvedAtMs: number, sites: Readonly<Record<string, SiteSummary>>, nowMs: number, topology: Topology): GateVerdict {
  const rule = pkg.severity === 'critical' ? gate.critical : gate;
  const evidence = evidenceFor(pkg.id, gate.from, sites, (site, ring) => topology.nodes.get(site)?.rings.includes(ring) ?? false);
  const earliestMs = approvedAtMs + rule.afterMs;
  const base = { package: pkg.id, severity: pkg.severity, from: gate.from, to: gate.to, mode: gate.mode, approvedAt: new Date(approvedAtMs).toISOString(), earliestAt: new Date(earliestMs).toISOString(), gate: { afterMs: rule.afterMs, minClients: rule.minClients, minSucceededPercent: rule.minSucceededPercent, maxFailed: rule.maxFailed }, evidence };
  const counted = `${evidence.clients} ${gate.from} client${evidence.clients === 1 ? '' : 's'}`;
  if (evidence.failed > rule.maxFailed) {
    return { ...base, state: 'held', reason: `${evidence.failed} of ${counted} failed${evidence.failure ? `: ${evidence.failure}` : ''} (the gate allows ${rule.maxFailed}); held until the failures are resolved or the package is withdrawn` };
  }
  if (nowMs < earliestMs) {
    return { ...base, state: 'waiting', reason: `promotes to ${gate.to} at ${base.earliestAt} at the earliest (${formatDuration(rule.afterMs)} after its approval for ${gate.from}), if the reports hold: ${evidence.succeeded} of ${counted} succeeded so far, ${rule.minClients} needed` };
  }
  if (evidence.clients < rule.minClients) {
    return { ...base, state: 'waiting', reason: `${counted} reported an outcome, ${rule.minClients} needed${evidence.pending ? ` (${evidence.pending} still installing)` : ''}` };
  }
  const percent = evidence.clients === 0 ? 100 : (evidence.succeeded / evidence.clients) * 100;
  if (percent < rule.minSucceededPercent) {
    return { ...base, state: 'waiting', reason: `${evidence.succeeded} of ${counted} succeeded (${Math.floor(percent * 10) / 10}%), ${rule.minSucceededPercent}% needed` };
  }
  const passed = `${evidence.succeeded} of ${counted} succeeded, ${evidence.failed} failed, ${formatDuration(nowMs - approvedAtMs)} in ${gate.from}`;
  return { ...base, state: 'ready', reason: gate.mode === 'auto' ? `passed its gate (${passed}): the primary approves it for ${gate.to}` : `passed its gate (${passed}): approve it for ${gate.to} with "sluice approve ${pkg.id} --ring ${gate.to}"` };
}

/** The ring's reports on the package, summed over every site of the tree. */
export function evidenceFor(id: string, ring: string, sites: Readonly<Record<string, SiteSummary>>, serves: (site: string, ring: string) => boolean = () => true): GateEvidence {
  let clients = 0;
  let succeeded = 0;
  let failed = 0;
  let pending = 0;
  const bySite: Record<string, { clients: number; succeeded: number; failed: number; pending: number }> = {};
  const messages = new Map<string, number>();
  for (const [site, summary] of Object.entries(sites)) {
    // Only sites whose node serves the ring speak for it (the rollup drops the rest too).
    if (!serves(site, ring)) continue;
    const c = summary.rings?.[ring]?.packages[id];
    if (!c) continue;
    const ok = (c.succeeded ?? 0) + (c['succeeded-reboot'] ?? 0);
    const bad = c.failed ?? 0;
    const final = ok + bad + (c.cancelled ?? 0) + (c.declined ?? 0);
    bySite[site] = { clients: final, succeeded: ok, failed: bad, pending: c.pending ?? 0 };
    clients += final;
    succeeded += ok;
    failed += bad;
    pending += c.pending ?? 0;
    if (bad) for (const f of summary.failures) if (f.package === id && f.error) messages.set(f.error, (messages.get(f.error) ?? 0) + 1);
  }
  const failure = [...messages].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  return { clients, succeeded, failed, pending, sites: bySite, failure: failure === null ? null : failure.slice(0, 200) };
}
