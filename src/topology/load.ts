import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, isMap, isPair, isScalar, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { ZodIssue } from 'zod';
import { closest as closestKey, distance } from 'fastest-levenshtein';
import { SluiceError } from '../errors.js';
import { allowedKeysAt, topologySchema, type RawTopology, type RawWindow } from './schema.js';
import { checkRules, type TopologyIssue } from './rules.js';
import { SEVERITIES, type Severity } from '../domain/severity.js';
import { TOPOLOGY_DEFAULTS, WEEKDAYS, type CriticalLane, type GateRule, type Grant, type PromotionGate, type NodeSpec, type Region, type ScheduleWindow, type Site, type Topology } from './types.js';
import { parseClock, parseDuration, parseRate } from './units.js';

/** A located problem: `file:line:col path: message`. */
export interface LocatedIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

export function formatIssue(i: LocatedIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/**
 * Reads and validates a topology file. Throws TOPOLOGY_NOT_FOUND or TOPOLOGY_INVALID; the
 * latter's `details` hold every located error, in file order.
 */
export function loadTopology(file: string): Topology {
  const abs = path.resolve(file);
  return parseTopology(readTopologyText(file, abs), abs, file);
}

/** `displayName` is how messages name the file (as the user typed it). */
export function parseTopology(text: string, absFile: string, displayName = absFile): Topology {
  const checked = checkTopologyText(text, absFile, displayName);
  if (checked.topology) return checked.topology;
  throw invalidTopology(displayName, checked.issues);
}

/**
 * A topology file checked without throwing: the topology when it is valid, every located
 * issue otherwise, and the parsed document, so that `sluice check` can locate what it finds
 * beyond the loader (a feed's keyring) in the same file:line:col form.
 */
export interface TopologyCheck {
  readonly topology: Topology | undefined;
  readonly issues: readonly LocatedIssue[];
  /** The document as plain data; undefined when its YAML does not parse. */
  readonly raw: unknown;
  /** Where `issue.path` is in the file (its parent when the path goes beyond the document). */
  locate(issue: TopologyIssue): LocatedIssue;
}

export function checkTopologyFile(file: string): TopologyCheck {
  const abs = path.resolve(file);
  return checkTopologyText(readTopologyText(file, abs), abs, file);
}

/** TOPOLOGY_INVALID with every located issue, in file order. */
export function invalidTopology(displayName: string, issues: readonly LocatedIssue[]): SluiceError {
  const located = [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
  const count = located.length;
  return new SluiceError('TOPOLOGY_INVALID', `${displayName}: ${count} error${count === 1 ? '' : 's'}; fix ${count === 1 ? 'it' : 'them'} and run "sluice check" again`, {
    details: located.map(formatIssue),
  });
}

function readTopologyText(file: string, abs: string): string {
  try {
    return readFileSync(abs, 'utf8');
  } catch (err) {
    throw new SluiceError('TOPOLOGY_NOT_FOUND', `cannot read topology file ${file}: ${(err as Error).message}; pass its path with -t FILE`, { cause: err });
  }
}

function checkTopologyText(text: string, absFile: string, displayName: string): TopologyCheck {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (issue: TopologyIssue) => locate(issue, doc, lines, displayName);
  const located: LocatedIssue[] = [];
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    located.push({ file: displayName, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` });
  }
  if (located.length) return { topology: undefined, issues: located, raw: undefined, locate: at };
  const raw: unknown = doc.toJS();
  const parsed = topologySchema.safeParse(raw);
  const issues: TopologyIssue[] = parsed.success ? [] : parsed.error.issues.flatMap(fromZod);
  issues.push(...checkRules(raw));
  for (const issue of issues) located.push(at(issue));
  const topology = located.length === 0 && parsed.success ? normalize(parsed.data, absFile) : undefined;
  return { topology, issues: located, raw, locate: at };
}

/** The allowed key a typo most likely meant: within two edits (one for short keys), else none. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  const guess = closestKey(key, [...allowed]);
  return guess && distance(key, guess) <= (key.length <= 4 ? 1 : 2) ? guess : undefined;
}

function fromZod(issue: ZodIssue): TopologyIssue[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(issue.path);
    return issue.keys.map((key) => {
      const guess = closest(key, allowed);
      return {
        path: [...issue.path, key],
        atKey: true,
        message: `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; expected one of: ${allowed.join(', ')}`,
      };
    });
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    const field = issue.path[issue.path.length - 1];
    const expected = issue.message === 'Required' ? 'this key is required' : issue.message.replace(/^missing; /, '');
    return [{ path: issue.path.slice(0, -1), atKey: true, message: `missing "${String(field)}"; ${expected}` }];
  }
  return [{ path: issue.path, message: issue.message }];
}

function locate(issue: TopologyIssue, doc: Document, lines: LineCounter, file: string): LocatedIssue {
  // Walk down as far as the document goes; a missing key is reported at its parent.
  let node: unknown = doc.contents;
  let keyNode: YamlNode | undefined;
  for (const segment of issue.path) {
    if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    const next = isMap(node)
      ? items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
      : items[Number(segment)];
    if (next === undefined) break;
    if (isPair(next)) {
      keyNode = next.key as YamlNode;
      node = next.value ?? next.key;
    } else {
      keyNode = undefined;
      node = next;
    }
  }
  const target = (issue.atKey && keyNode) || (node as YamlNode | null);
  const offset = target?.range?.[0] ?? 0;
  const pos = lines.linePos(offset);
  return { file, line: pos.line, col: pos.col, path: yamlPath(issue.path), message: issue.message };
}

function normalize(raw: RawTopology, absFile: string): Topology {
  const dir = path.dirname(absFile);
  const d = (text: string) => parseDuration(text)!;
  const regions = new Map<string, Region>();
  for (const [name, r] of Object.entries(raw.regions)) {
    regions.set(
      name,
      Object.freeze({
        name,
        timezone: r.timezone,
        schedule: windows(r.schedule ?? TOPOLOGY_DEFAULTS.schedule),
        critical: criticalLane(r.critical ?? TOPOLOGY_DEFAULTS.critical),
        syncEveryMs: d(r.sync?.every ?? TOPOLOGY_DEFAULTS.sync.every),
        syncJitterMs: d(r.sync?.jitter ?? (r.sync ? '0s' : TOPOLOGY_DEFAULTS.sync.jitter)),
      }),
    );
  }
  const nodes = new Map<string, NodeSpec>();
  for (const [name, n] of Object.entries(raw.nodes)) {
    const url = new URL(n.url);
    const [listenHost, listenPort] = n.listen
      ? splitHostPort(n.listen)
      : [url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || (url.protocol === 'https:' ? 443 : 80))];
    nodes.set(
      name,
      Object.freeze({
        name,
        url: n.url.replace(/\/+$/, ''),
        listenHost,
        listenPort,
        region: n.region,
        upstream: n.upstream,
        fallback: Object.freeze([...(n.fallback ?? [])]),
        rings: Object.freeze(n.ring === undefined ? [] : typeof n.ring === 'string' ? [n.ring] : [...n.ring]),
        accept: Object.freeze({ platforms: n.accept?.platforms, languages: n.accept?.languages }),
        dataDir: path.resolve(dir, n.data ?? `./data/${name}`),
        schedule: n.schedule ? windows(n.schedule) : undefined,
        egress: Object.freeze({
          rateBytesPerSec: parseRate(n.egress?.rate ?? 'unlimited')!,
          perChildBytesPerSec: parseRate(n.egress?.perChild ?? 'unlimited')!,
          ...(n.egress?.rate ? { rateText: n.egress.rate.trim() } : {}),
        }),
        isPrimary: name === raw.primary,
        site: n.site,
      }),
    );
  }
  const deadlinesMs = Object.fromEntries(
    SEVERITIES.map((s) => [s, d((raw.policy?.deadlines as Partial<Record<Severity, string>> | undefined)?.[s] ?? TOPOLOGY_DEFAULTS.deadlines[s])]),
  ) as Record<Severity, number>;
  const usedRings = [...new Set([...nodes.values()].flatMap((n) => n.rings))];
  const sites = new Map<string, Site>();
  for (const [name, site] of Object.entries(raw.sites ?? {})) {
    sites.set(name, Object.freeze({ name, redisUrl: site.redis, leaseTtlMs: d(site.leaseTtl ?? '30s'), url: site.url?.replace(/\/+$/, ''), members: Object.freeze([...nodes.values()].filter((n) => n.site === name).map((n) => n.name)) }));
  }
  return Object.freeze({
    file: absFile,
    primary: raw.primary,
    trust: Object.freeze({ catalogKeyPath: path.resolve(dir, raw.trust.catalogKey), headTtlMs: d(raw.trust.headTtl ?? TOPOLOGY_DEFAULTS.headTtl), timestampTtlMs: d(raw.trust.timestampTtl ?? TOPOLOGY_DEFAULTS.timestampTtl), caPath: raw.trust.ca ? path.resolve(dir, raw.trust.ca) : undefined, crlPath: raw.trust.crl ? path.resolve(dir, raw.trust.crl) : undefined, aptIndexTtlMs: d(raw.trust.aptIndexTtl ?? TOPOLOGY_DEFAULTS.aptIndexTtl), aptKeysDir: raw.trust.aptKeys ? path.resolve(dir, raw.trust.aptKeys) : undefined }),
    deadlinesMs: Object.freeze(deadlinesMs),
    graceMs: d(raw.policy?.grace ?? TOPOLOGY_DEFAULTS.grace),
    retainSupersededMs: raw.policy?.retainSuperseded === undefined ? undefined : d(raw.policy.retainSuperseded),
    rings: Object.freeze(raw.rings === undefined ? usedRings : Array.isArray(raw.rings) ? raw.rings : Object.keys(raw.rings)),
    promotions: promotionsOf(raw.rings),
    regions,
    sites,
    nodes,
    feeds: new Map(
      Object.entries(raw.feeds ?? {}).map(([name, f]) => [
        name,
        Object.freeze({
          name,
          type: f.type,
          url: f.url.replace(/\/+$/, ''),
          suites: Object.freeze([...(f.suites ?? [])]),
          components: Object.freeze([...(f.components ?? [])]),
          repos: new Map(f.type === 'rpm' ? Object.entries(f.repos ?? { [name]: '.' }).map(([repo, p]) => [repo, p === '.' ? '' : p.replace(/\/+$/, '')]) : []),
          requireSignedMetadata: f.requireSignedMetadata ?? false,
          architectures: Object.freeze([...f.architectures]),
          keyringPath: path.resolve(dir, f.keyring),
          packages: f.packages ? new Set(f.packages) : undefined,
          everyMs: d(f.every ?? TOPOLOGY_DEFAULTS.feed.every),
          maxAgeMs: d(f.maxAge ?? TOPOLOGY_DEFAULTS.feed.maxAge),
          severity: f.severity ?? TOPOLOGY_DEFAULTS.feed.severity,
          download: f.download ?? TOPOLOGY_DEFAULTS.feed.download,
        }),
      ]),
    ),
    access: Object.freeze({
      signIn: raw.access?.signIn ? Object.freeze({ issuer: raw.access.signIn.issuer, clientId: raw.access.signIn.clientId, groupsClaim: raw.access.signIn.groupsClaim ?? 'groups', nameClaim: raw.access.signIn.nameClaim ?? 'email' }) : undefined,
      people: new Map(Object.entries(raw.access?.people ?? {}).map(([who, g]) => [who, grantOf(g)])),
      groups: new Map(Object.entries(raw.access?.groups ?? {}).map(([group, g]) => [group, grantOf(g)])),
    }),
  });
}

function windows(list: readonly Partial<RawWindow>[]): readonly ScheduleWindow[] {
  return Object.freeze(
    list.map((w) =>
      Object.freeze({
        days: w.days ? new Set(w.days.map((day) => WEEKDAYS.indexOf(day))) : undefined,
        fromMin: w.from ? parseClock(w.from)! : 0,
        toMin: w.to ? parseClock(w.to)! : 24 * 60,
        rateBytesPerSec: w.rate === 'background' ? parseRate(w.max ?? 'unlimited')! : parseRate(w.rate ?? 'unlimited')!,
        label: `${w.days ? daysText(w.days) : 'every day'}${w.from || w.to ? ` ${w.from ?? '00:00'}-${w.to ?? '24:00'}` : ''} ${w.rate ?? 'unlimited'}${w.rate === 'background' && w.max ? ` up to ${w.max}` : ''}`,
        rateText: w.rate === 'background' ? (w.max ?? 'unlimited') : (w.rate ?? 'unlimited'),
        background: w.rate === 'background',
      }),
    ),
  );
}

/** Weekdays as a reader writes them: runs of three or more as ranges (`mon-fri`, `sat,sun`). */
export function daysText(days: readonly string[]): string {
  const order = [...new Set(days.map((d) => WEEKDAYS.indexOf(d as (typeof WEEKDAYS)[number])))].filter((i) => i >= 0);
  // Monday first, as schedules are read; Sunday last.
  order.sort((a, b) => ((a + 6) % 7) - ((b + 6) % 7));
  const parts: string[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && (order[j + 1]! + 6) % 7 === ((order[j]! + 6) % 7) + 1) j++;
    if (j - i >= 2) parts.push(`${WEEKDAYS[order[i]!]}-${WEEKDAYS[order[j]!]}`);
    else for (let k = i; k <= j; k++) parts.push(WEEKDAYS[order[k]!]!);
    i = j + 1;
  }
  return parts.join(',');
}

function criticalLane(text: string): CriticalLane {
  if (text === 'bypass' || text === 'schedule') return { kind: text };
  return { kind: 'rate', rateBytesPerSec: parseRate(text)!, text: text.trim() };
}

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}

/** `nodes.lyon.fallback[0]`: the form users read in messages. */
export function yamlPath(p: readonly (string | number)[]): string {
  return p.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** The rings' promotion gates, defaults filled in; the critical gate starts from the ring's own. */
function promotionsOf(rings: RawTopology['rings']): ReadonlyMap<string, PromotionGate> {
  const out = new Map<string, PromotionGate>();
  if (!rings || Array.isArray(rings)) return out;
  const percent = (p: string) => Number(p.slice(0, -1));
  const D = TOPOLOGY_DEFAULTS.promote;
  for (const [from, ring] of Object.entries(rings)) {
    const p = ring?.promote;
    if (!p) continue;
    const rule: GateRule = { afterMs: parseDuration(p.after ?? D.after)!, minClients: p.minClients ?? D.minClients, minSucceededPercent: percent(p.minSucceeded ?? D.minSucceeded), maxFailed: p.maxFailed ?? D.maxFailed };
    const c = p.critical ?? {};
    const critical: GateRule = Object.freeze({ afterMs: c.after ? parseDuration(c.after)! : rule.afterMs, minClients: c.minClients ?? rule.minClients, minSucceededPercent: c.minSucceeded ? percent(c.minSucceeded) : rule.minSucceededPercent, maxFailed: c.maxFailed ?? rule.maxFailed });
    out.set(from, Object.freeze({ from, to: p.to, mode: p.mode ?? 'auto', ...rule, critical }));
  }
  return out;
}

function grantOf(g: { role: Grant['role']; rings?: string[]; nodes?: string[]; regions?: string[]; sites?: string[] }): Grant {
  return Object.freeze({ role: g.role, scope: Object.freeze({ ...(g.rings ? { rings: g.rings } : {}), ...(g.nodes ? { nodes: g.nodes } : {}), ...(g.regions ? { regions: g.regions } : {}), ...(g.sites ? { sites: g.sites } : {}) }) });
}
