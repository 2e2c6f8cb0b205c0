import type { Command } from 'commander';
import type { ApiClient } from '../client/api-client.js';
import { escapeUnprintable } from '../domain/printable.js';
import { SluiceError } from '../errors.js';
import { PATHS } from '../protocol/paths.js';
import { formatDuration } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';

interface Rule {
  afterMs: number;
  minClients: number;
  minSucceededPercent: number;
  maxFailed: number;
}
interface Verdict {
  package: string;
  from: string;
  to: string;
  mode: string;
  state: 'waiting' | 'held' | 'ready';
  reason: string;
}
interface Decision {
  at: string;
  package: string;
  from: string;
  to: string;
  by: string;
  evidence: { clients: number; succeeded: number; failed: number; sites: Record<string, { clients: number; succeeded: number; failed: number }> };
}
export interface PromotionsJson {
  gates: (Rule & { from: string; to: string; mode: string; critical: Rule })[];
  pending: Verdict[];
  decided: Decision[];
}

/** `sluice promotions`: each ring's gate, what waits at it and why, what it promoted and on which reports. */
export function registerPromotions(program: Command): void {
  common(program.command('promotions'), { server: true, json: true })
    .description("the rings' promotion gates at the primary (admin, approver): each package waiting at one with why it has not promoted yet (or is held), and the promotions made with the reports they were decided on")
    .action(async (_opts: unknown, cmd: Command) => {
      const view = await clientFor(cmd).getJson<PromotionsJson>(PATHS.promotions);
      if (globalOptions(cmd).json) return printJson(view);
      process.stdout.write(promotionsText(view));
    });
}

const rule = (r: Rule) => `after ${formatDuration(r.afterMs)}, at least ${r.minClients} client${r.minClients === 1 ? '' : 's'}, ${r.minSucceededPercent}% succeeded, at most ${r.maxFailed} failed`;

export function promotionsText(view: PromotionsJson): string {
  if (view.gates.length === 0) return 'no promotion gates: give a ring one in the topology (rings: { pilot: { promote: { to: broad, after: 3d, minClients: 10 } } })\n';
  const out: string[] = ['gates:'];
  for (const g of view.gates) out.push(`  ${g.from} → ${g.to} (${g.mode === 'auto' ? 'approved by the primary' : 'proposed to a person'}): ${rule(g)}${JSON.stringify(g.critical) !== JSON.stringify({ afterMs: g.afterMs, minClients: g.minClients, minSucceededPercent: g.minSucceededPercent, maxFailed: g.maxFailed }) ? `; critical: ${rule(g.critical)}` : ''}`);
  out.push('', view.pending.length ? 'waiting at a gate:' : 'nothing waits at a gate');
  for (const v of view.pending) out.push(`  ${v.state.toUpperCase().padEnd(7)}  ${v.package}  ${v.from} → ${v.to}: ${v.reason}`);
  if (view.decided.length) out.push('', 'promoted (newest first):');
  for (const d of view.decided.slice(0, 20)) {
    const sites = Object.entries(d.evidence.sites).map(([s, e]) => `${s} ${e.succeeded}/${e.clients}`).join(', ');
    out.push(`  ${d.at.slice(0, 16).replace('T', ' ')}Z  ${d.package}  ${d.from} → ${d.to} by ${d.by}: ${d.evidence.succeeded} of ${d.evidence.clients} succeeded, ${d.evidence.failed} failed${sites ? ` (${sites})` : ''}`);
  }
  // Reasons quote endpoints' messages: whatever a terminal would act on is written out.
  return `${escapeUnprintable(out.join('\n'))}\n`;
}

/** The gates' view for `sluice plan`, or undefined when the node or role has none to give. */
export async function promotionsFor(client: ApiClient): Promise<PromotionsJson | undefined> {
  try {
    return await client.getJson<PromotionsJson>(PATHS.promotions);
  } catch (err) {
    if (err instanceof SluiceError && ['NOT_PRIMARY', 'FORBIDDEN_ROLE', 'UNAUTHORIZED', 'FORBIDDEN', 'ROUTE_NOT_FOUND'].includes(err.code)) return undefined;
    throw err;
  }
}
