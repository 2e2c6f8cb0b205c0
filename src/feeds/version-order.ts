import type { Topology } from '../topology/types.js';
import { compareDebianVersions } from './debian-version.js';
import { compareRpmVersions } from './rpm-version.js';

/**
 * How two versions of one feed package compare: rpm's order for an RPM feed's, dpkg's for an
 * APT feed's (and for a feed no longer in the topology, as before RPM feeds).
 */
export function compareFeedVersions(topology: Topology, feed: string, a: string, b: string): number {
  return topology.feeds.get(feed)?.type === 'rpm' ? compareRpmVersions(a, b) : compareDebianVersions(a, b);
}
