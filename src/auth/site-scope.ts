import type { Topology } from '../topology/types.js';
import { scopeMatches, type Principal } from './roles.js';

/**
 * An auditor reads the sites of its scope (regions or site names, patterns allowed); an
 * operator the sites of the nodes it operates; an admin every site below this node.
 */
export function visibleSites<T>(p: Principal, sites: Record<string, T>, topology: Topology): Record<string, T> {
  if (p.role === 'admin') return sites;
  const sees = (site: string) => {
    if (p.role === 'operator') return scopeMatches(p.scope.nodes, site);
    return scopeMatches(p.scope.sites, site) || scopeMatches(p.scope.regions, topology.nodes.get(site)?.region ?? '');
  };
  return Object.fromEntries(Object.entries(sites).filter(([site]) => sees(site)));
}
