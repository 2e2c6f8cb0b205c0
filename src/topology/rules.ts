import { isTimezone, parseClock } from './units.js';

/**
 * Rules that a schema cannot express: references between nodes, regions and rings, the
 * shape of the upstream tree, and clashes between nodes. They run on the raw parsed value
 * (even when the schema found errors) so that one `sluice check` lists every problem.
 */

export interface TopologyIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** Point at the key itself rather than its value (unknown keys, duplicate names). */
  readonly atKey?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

export function checkRules(raw: unknown): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  if (!isObj(raw)) return issues;
  const nodes = isObj(raw.nodes) ? raw.nodes : {};
  const regions = isObj(raw.regions) ? raw.regions : {};
  const nodeNames = Object.keys(nodes);
  const known = (n: string) => nodeNames.includes(n);
  const list = (names: string[]) => (names.length ? names.join(', ') : '(none defined)');

  // one primary, which exists and pulls from nobody
  const primary = raw.primary;
  if (isStr(primary) && !known(primary)) {
    issues.push({ path: ['primary'], message: `unknown node "${primary}"; expected one of the nodes: ${list(nodeNames)}` });
  }
  if (nodeNames.length === 0) issues.push({ path: ['nodes'], message: 'no nodes; expected at least the primary node' });

  const declaredRings = Array.isArray(raw.rings) ? raw.rings.filter(isStr) : isObj(raw.rings) ? Object.keys(raw.rings) : undefined;
  // Promotion gates lead to a declared ring (or all), never back to a ring they came from.
  if (isObj(raw.rings)) {
    const next = new Map<string, string>();
    for (const [from, ring] of Object.entries(raw.rings)) {
      const to = isObj(ring) && isObj(ring.promote) && isStr(ring.promote.to) ? ring.promote.to : undefined;
      if (to === undefined) continue;
      const at = ['rings', from, 'promote', 'to'];
      if (to === from) issues.push({ path: at, message: `a ring cannot promote to itself; expected the next ring (one of: ${list(declaredRings!.filter((r) => r !== from))}, or all)` });
      else if (to !== 'all' && !declaredRings!.includes(to)) issues.push({ path: at, message: `unknown ring "${to}"; expected one of the rings declared under "rings" (${list(declaredRings!.filter((r) => r !== from))}), or all` });
      else next.set(from, to);
    }
    for (const start of next.keys()) {
      const seen = [start];
      for (let r = next.get(start); r !== undefined; r = next.get(r)) {
        if (r === start) {
          issues.push({ path: ['rings', start, 'promote', 'to'], message: `promotions go round in a circle (${[...seen, start].join(' → ')}); end the chain at a ring without "promote"` });
          break;
        }
        if (seen.includes(r)) break;
        seen.push(r);
      }
    }
  }
  const listens = new Map<string, string>();
  const dataDirs = new Map<string, string>();

  for (const [name, node] of Object.entries(nodes)) {
    if (!isObj(node)) continue;
    const at = (...p: (string | number)[]) => ['nodes', name, ...p];
    const isPrimary = name === primary;

    if (isStr(node.region) && !(node.region in regions)) {
      issues.push({ path: at('region'), message: `unknown region "${node.region}"; expected one of the regions: ${list(Object.keys(regions))}` });
    }
    if (isPrimary) {
      if (node.upstream !== undefined) issues.push({ path: at('upstream'), message: 'the primary has no upstream; remove this key (or make another node the primary)' });
      if (node.fallback !== undefined) issues.push({ path: at('fallback'), message: 'the primary has no fallback; remove this key' });
    } else if (node.upstream === undefined && isStr(primary) && known(primary)) {
      issues.push({ path: at(), atKey: true, message: `missing "upstream"; expected the name of the node "${name}" pulls from (every node but the primary has one)` });
    } else if (isStr(node.upstream)) {
      if (node.upstream === name) issues.push({ path: at('upstream'), message: `a node cannot be its own upstream; expected another node (e.g. "${String(primary)}")` });
      else if (!known(node.upstream)) issues.push({ path: at('upstream'), message: `unknown node "${node.upstream}"; expected one of the nodes: ${list(nodeNames.filter((n) => n !== name))}` });
    }
    if (Array.isArray(node.fallback) && !isPrimary) {
      const seen = new Set<string>();
      node.fallback.forEach((f, i) => {
        if (!isStr(f)) return;
        if (f === name) issues.push({ path: at('fallback', i), message: 'a node cannot fall back to itself' });
        else if (!known(f)) issues.push({ path: at('fallback', i), message: `unknown node "${f}"; expected one of the nodes: ${list(nodeNames.filter((n) => n !== name))}` });
        else if (f === node.upstream) issues.push({ path: at('fallback', i), message: `"${f}" is already the upstream; list other nodes to fall back to` });
        else if (seen.has(f)) issues.push({ path: at('fallback', i), message: `"${f}" is listed twice` });
        else if (isDescendant(nodes, f, name)) issues.push({ path: at('fallback', i), message: `"${f}" pulls from "${name}" itself (directly or through others); a fallback must be outside this node's subtree` });
        seen.add(f);
      });
    }
    const rings = isStr(node.ring) ? [node.ring] : Array.isArray(node.ring) ? node.ring.filter(isStr) : [];
    rings.forEach((r, i) => {
      const p = isStr(node.ring) ? at('ring') : at('ring', i);
      if (r === 'all') issues.push({ path: p, message: '"all" is not a ring a node joins: every node already receives packages approved for "all"; remove it' });
      else if (declaredRings && !declaredRings.includes(r)) issues.push({ path: p, message: `unknown ring "${r}"; expected one of the rings declared under "rings": ${list(declaredRings)}` });
    });
    if (isStr(node.listen)) {
      const key = node.listen.toLowerCase();
      const other = listens.get(key);
      if (other) issues.push({ path: at('listen'), message: `node "${other}" already listens on ${node.listen}; give each node its own port` });
      else listens.set(key, name);
      const port = Number(node.listen.slice(node.listen.lastIndexOf(':') + 1));
      if (!(port >= 1 && port <= 65535)) issues.push({ path: at('listen'), message: `port ${port} is out of range; expected 1-65535` });
    } else if (isStr(node.url)) {
      const key = listenOfUrl(node.url);
      if (key) {
        const other = listens.get(key);
        if (other) issues.push({ path: at('url'), message: `node "${other}" already uses ${key}; give each node its own port (or a "listen" address)` });
        else listens.set(key, name);
      }
    }
    const data = isStr(node.data) ? node.data : `./data/${name}`;
    const otherData = dataDirs.get(data);
    if (otherData) issues.push({ path: at('data'), message: `node "${otherData}" already uses the data directory "${data}"; each node needs its own` });
    else dataDirs.set(data, name);
    checkSchedule(node.schedule, at('schedule'), issues);
  }

  // The upstream graph must be a tree: every chain of upstreams ends (at the primary,
  // checked above) instead of looping. Checked even when the primary is unknown.
  for (const name of nodeNames) {
    const chain = [name];
    let cur = name;
    for (;;) {
      const node = nodes[cur];
      const up = isObj(node) && isStr(node.upstream) ? node.upstream : undefined;
      if (up === undefined || !known(up) || up === cur) break;
      if (chain.includes(up)) {
        if (name === up) issues.push({ path: ['nodes', name, 'upstream'], message: `upstream cycle ${[...chain, up].join(' → ')}; every chain of upstreams must end at the primary${isStr(primary) ? ` "${primary}"` : ''}` });
        break;
      }
      chain.push(up);
      cur = up;
    }
  }

  // Siblings of a site share one budget and one copy of each blob: they must pull from the
  // same upstream under the same schedule.
  const sites = isObj(raw.sites) ? raw.sites : {};
  const firstOfSite = new Map<string, [string, Obj]>();
  for (const [name, node] of Object.entries(nodes)) {
    if (!isObj(node) || !isStr(node.site)) continue;
    const at = (...p: (string | number)[]) => ['nodes', name, ...p];
    if (!(node.site in sites)) {
      issues.push({ path: at('site'), message: `unknown site "${node.site}"; declare it under "sites" with its Redis (sites: { ${node.site}: { redis: "redis://HOST:6379" } })${Object.keys(sites).length ? `, or use one of: ${list(Object.keys(sites))}` : ''}` });
      continue;
    }
    if (name === primary) {
      issues.push({ path: at('site'), message: 'the primary pulls from nobody, so it has no site budget to share; remove "site"' });
      continue;
    }
    if (node.schedule !== undefined) issues.push({ path: at('schedule'), message: `siblings of site "${node.site}" share the schedule of their region; remove this node's own schedule` });
    const first = firstOfSite.get(node.site);
    if (!first) {
      firstOfSite.set(node.site, [name, node]);
      continue;
    }
    const [otherName, other] = first;
    if (node.upstream !== other.upstream) issues.push({ path: at('upstream'), message: `siblings of site "${node.site}" pull from one upstream; "${otherName}" has "${String(other.upstream)}"` });
    if (node.region !== other.region) issues.push({ path: at('region'), message: `siblings of site "${node.site}" share one region (one schedule); "${otherName}" is in "${String(other.region)}"` });
  }

  for (const [name, region] of Object.entries(regions)) {
    if (!isObj(region)) continue;
    if (isStr(region.timezone) && !isTimezone(region.timezone)) {
      issues.push({ path: ['regions', name, 'timezone'], message: `unknown timezone "${region.timezone}"; expected an IANA name such as "Europe/Paris" or "America/New_York"` });
    }
    checkSchedule(region.schedule, ['regions', name, 'schedule'], issues);
  }

  // Each ring has one dnf repository per RPM repository name (/rpm/RING/NAME): two feeds must
  // not both name one, or one release's packages would be served to another's machines.
  const repoOwners = new Map<string, string>();
  for (const [feedName, feed] of Object.entries(isObj(raw.feeds) ? raw.feeds : {})) {
    if (!isObj(feed) || feed.type !== 'rpm') continue;
    const repos = isObj(feed.repos) ? Object.keys(feed.repos) : [feedName];
    for (const repo of repos) {
      const owner = repoOwners.get(repo);
      if (owner !== undefined) issues.push({ path: ['feeds', feedName, ...(isObj(feed.repos) ? ['repos', repo] : [])], atKey: true, message: `repository "${repo}" is also a repository of feed "${owner}"; each RPM repository needs its own name (endpoints read /rpm/RING/NAME), e.g. el9-${repo}` });
      else repoOwners.set(repo, feedName);
    }
  }
  return issues;
}

function checkSchedule(schedule: unknown, path: (string | number)[], issues: TopologyIssue[]): void {
  if (!Array.isArray(schedule)) return;
  schedule.forEach((w, i) => {
    if (!isObj(w)) return;
    const from = isStr(w.from) ? parseClock(w.from) : undefined;
    const to = isStr(w.to) ? parseClock(w.to) : undefined;
    if ((w.from === undefined) !== (w.to === undefined)) {
      issues.push({ path: [...path, i], atKey: false, message: 'give both "from" and "to", or neither for the whole day' });
    } else if (from !== undefined && to !== undefined && from === to) {
      issues.push({ path: [...path, i, 'to'], message: `"to" equals "from" (${String(w.from)}); omit both for the whole day` });
    }
    if (from === 24 * 60) issues.push({ path: [...path, i, 'from'], message: '"from" cannot be 24:00; use 00:00' });
    if (w.max !== undefined && w.rate !== 'background') issues.push({ path: [...path, i, 'max'], message: `"max" caps a background window; with a fixed rate (${String(w.rate)}) remove it, or write rate: background` });
  });
}

/** True when `candidate` pulls (directly or through others) from `ancestor`. */
function isDescendant(nodes: Obj, candidate: string, ancestor: string): boolean {
  const seen = new Set<string>();
  let cur: string | undefined = candidate;
  while (cur !== undefined && !seen.has(cur)) {
    seen.add(cur);
    const node: unknown = nodes[cur];
    const up: string | undefined = isObj(node) && isStr(node.upstream) ? node.upstream : undefined;
    if (up === ancestor) return true;
    cur = up;
  }
  return false;
}

/** "host:port" a URL implies, lower-cased, for clash detection. */
export function listenOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return `${u.hostname}:${port}`.toLowerCase();
  } catch {
    return undefined;
  }
}
