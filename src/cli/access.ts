import type { Command } from 'commander';
import { escapeUnprintable, escapeUnprintableJson } from '../domain/printable.js';
import { PATHS } from '../protocol/paths.js';
import { clientFor, common, globalOptions, printJson } from './context.js';

interface TokenView {
  name: string;
  role: string;
  scope: { rings?: string[]; nodes?: string[]; regions?: string[]; sites?: string[] };
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
}

interface AuditEntry {
  seq: number;
  at: string;
  who: string;
  role: string | null;
  via: string | null;
  source: string;
  act: string;
  target: string | null;
  outcome: string;
}

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const scopeText = (s: TokenView['scope']) => Object.entries(s).map(([k, v]) => `${k} ${(v as string[]).join(',')}`).join('; ') || '-';

/**
 * `sluice token add|list|revoke` (admin): named tokens with a role and a scope, held by the
 * node as hashes; `sluice audit`: who did what at a node (admin, auditor).
 */
export function registerAccess(program: Command): void {
  const token = program.command('token').description('named tokens for people and tools, each with a role and a scope (admin)');
  common(token.command('add'), { server: true, json: true })
    .description('make a token for NAME with a role; prints it once (the node keeps only its hash)')
    .argument('<name>', "the person's or tool's name, as the audit trail will show it")
    .requiredOption('--role <role>', 'admin, publisher, approver (with --rings), operator (with --nodes) or auditor (with --regions or --sites)')
    .option('--rings <list>', 'approver: rings it may approve for, comma-separated; patterns such as emea-* allowed')
    .option('--nodes <list>', 'operator: nodes it may verify, import into and restore on')
    .option('--regions <list>', 'auditor: regions whose reports it may read')
    .option('--sites <list>', 'auditor: sites whose reports it may read')
    .option('--expires <duration>', 'stop working after this long, e.g. 90d')
    .action(async (name: string, o: { role: string; rings?: string; nodes?: string; regions?: string; sites?: string; expires?: string }, cmd: Command) => {
      const made = await clientFor(cmd).postJson<TokenView & { token: string }>(PATHS.tokens, { name, role: o.role, rings: list(o.rings), nodes: list(o.nodes), regions: list(o.regions), sites: list(o.sites), expires: o.expires });
      if (globalOptions(cmd).json) return printJson(made);
      process.stdout.write(`${made.token}\n`);
      process.stderr.write(`token for ${made.name}: role ${made.role}, ${scopeText(made.scope)}; ${made.expiresAt ? `expires ${made.expiresAt}` : 'does not expire'}. It is shown this once: hand it over now (SLUICE_TOKEN for the CLI, or the console's sign-in).\n`);
    });
  common(token.command('list', { isDefault: true }), { server: true, json: true })
    .description('list the named tokens of a node (names, roles, scopes; never the tokens)')
    .action(async (_o: unknown, cmd: Command) => {
      const { tokens } = await clientFor(cmd).getJson<{ tokens: TokenView[] }>(PATHS.tokens);
      if (globalOptions(cmd).json) return printJson(tokens);
      if (tokens.length === 0) return void process.stdout.write('no named tokens: make one with "sluice token add NAME --role ROLE"\n');
      for (const t of tokens) process.stdout.write(`${t.name}  ${t.role}  ${scopeText(t.scope)}  made ${t.createdAt.slice(0, 16)}Z by ${t.createdBy}  ${t.expiresAt ? `expires ${t.expiresAt.slice(0, 16)}Z` : 'no expiry'}\n`);
    });
  common(token.command('revoke'), { server: true, json: true })
    .description('revoke a named token: it stops working at once')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const r = await clientFor(cmd).deleteJson<{ revoked: string }>(PATHS.token.replace(':name', encodeURIComponent(name)));
      if (globalOptions(cmd).json) return printJson(r);
      process.stdout.write(`revoked ${r.revoked}\n`);
    });

  common(program.command('audit'), { server: true, json: true })
    .description('who did what at a node: decisions, sensitive acts and sign-ins, oldest first (admin, auditor)')
    .option('--after <seq>', 'entries after this sequence number', '0')
    .option('--limit <n>', 'at most this many (1-1000)', '100')
    .option('--tree', 'the newest entries of this node and of every node below it (each node pushes its newest 100 upward)')
    .action(async (o: { after: string; limit: string; tree?: boolean }, cmd: Command) => {
      const r = await clientFor(cmd).getJson<{ entries: (AuditEntry & { node?: string })[]; last?: number }>(`${PATHS.audit}?after=${encodeURIComponent(o.after)}&limit=${encodeURIComponent(o.limit)}${o.tree ? '&tree=1' : ''}`);
      // What a node answers is printed escaped whatever it holds (entries stored by earlier
      // versions, a node that does not escape): a control character in a name must not move
      // the cursor, erase a line or make one entry read as another on the terminal.
      if (globalOptions(cmd).json) return void process.stdout.write(`${escapeUnprintableJson(JSON.stringify(r, null, 2))}\n`);
      const p = (v: unknown) => escapeUnprintable(String(v));
      for (const e of r.entries) process.stdout.write(`${e.node ? `${p(e.node)}  ` : ''}${p(e.seq)}  ${p(e.at)}  ${p(e.who)}${e.role ? ` (${p(e.role)})` : ''}  from ${p(e.source)}  ${p(e.act)}${e.target ? ` ${p(e.target)}` : ''}  ${p(e.outcome)}\n`);
      if (r.entries.length === 0) process.stdout.write('no entries\n');
    });
}
