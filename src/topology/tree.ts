import type { NodeSpec, Topology } from './types.js';
import { formatRate } from './units.js';

/** Children of each node, in file order. */
export function childrenOf(topology: Topology, name: string): NodeSpec[] {
  return [...topology.nodes.values()].filter((n) => n.upstream === name);
}

/** Every node below `name`, depth first. */
export function subtreeOf(topology: Topology, name: string): NodeSpec[] {
  return childrenOf(topology, name).flatMap((c) => [c, ...subtreeOf(topology, c.name)]);
}

/** The tree as `sluice check` prints it. */
export function renderTree(topology: Topology): string {
  const out: string[] = [];
  const describe = (n: NodeSpec): string => {
    const region = topology.regions.get(n.region);
    const parts = [n.name, n.isPrimary ? '(primary)' : '', `${n.url}`, `region ${n.region}${region ? ` (${region.timezone})` : ''}`];
    if (n.rings.length) parts.push(`ring ${n.rings.join(',')}`);
    if (n.fallback.length) parts.push(`fallback ${n.fallback.join(' → ')}`);
    if (n.accept.platforms) parts.push(`platforms ${n.accept.platforms.join(',')}`);
    if (n.accept.languages) parts.push(`languages ${n.accept.languages.join(',')}`);
    if (n.egress.rateBytesPerSec !== Infinity) parts.push(`egress ${n.egress.rateText ?? formatRate(n.egress.rateBytesPerSec)}`);
    return parts.filter(Boolean).join('  ');
  };
  const walk = (n: NodeSpec, prefix: string, last: boolean, root: boolean): void => {
    out.push(root ? describe(n) : `${prefix}${last ? '└── ' : '├── '}${describe(n)}`);
    const kids = childrenOf(topology, n.name);
    kids.forEach((k, i) => walk(k, root ? '' : `${prefix}${last ? '    ' : '│   '}`, i === kids.length - 1, false));
  };
  const primary = topology.nodes.get(topology.primary);
  if (primary) walk(primary, '', true, true);
  return out.join('\n');
}

/** True when `name` pulls from `from`, as its upstream or one of its fallbacks. */
export function pullsFrom(topology: Topology, name: string, from: string): boolean {
  const node = topology.nodes.get(name);
  return node !== undefined && (node.upstream === from || node.fallback.includes(from));
}
