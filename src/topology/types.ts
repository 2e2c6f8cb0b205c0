import type { Role } from '../domain/roles.js';
import type { RateBytesPerSec } from './units.js';

import type { Severity } from '../domain/severity.js';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One line of a schedule. Times are minutes since local midnight in the region's timezone. */
export interface ScheduleWindow {
  /** Weekdays the window applies to (0 = Sunday); all days when absent. */
  readonly days: ReadonlySet<number> | undefined;
  readonly fromMin: number;
  readonly toMin: number;
  readonly rateBytesPerSec: RateBytesPerSec;
  /** As written in the file, for status output: `mon-fri 08:00-19:00 4Mbit/s`. */
  readonly label: string;
  /** The rate as written (`4Mbit/s`), so status shows rates in the unit family the topology used. */
  readonly rateText: string;
  /**
   * `rate: background`: the node takes only what the path to its upstream has spare (found
   * by its delay), up to `rateBytesPerSec` (the window's `max`, else unlimited).
   */
  readonly background: boolean;
}

/** `text`: the rate as written in the topology, so it is shown in the user's own unit. */
export type CriticalLane = { readonly kind: 'bypass' } | { readonly kind: 'schedule' } | { readonly kind: 'rate'; readonly rateBytesPerSec: RateBytesPerSec; readonly text: string };

export interface Region {
  readonly name: string;
  readonly timezone: string;
  readonly schedule: readonly ScheduleWindow[];
  readonly critical: CriticalLane;
  readonly syncEveryMs: number;
  readonly syncJitterMs: number;
}

export interface NodeSpec {
  readonly name: string;
  /** How other nodes and endpoints reach this node. */
  readonly url: string;
  /** Where the node binds. */
  readonly listenHost: string;
  readonly listenPort: number;
  readonly region: string;
  readonly upstream: string | undefined;
  readonly fallback: readonly string[];
  /** Rings the node belongs to; packages approved for one of these or `all` replicate here. */
  readonly rings: readonly string[];
  readonly accept: { readonly platforms: readonly string[] | undefined; readonly languages: readonly string[] | undefined };
  /** Absolute path of the node's data directory. */
  readonly dataDir: string;
  /** Overrides the region's schedule when set. */
  readonly schedule: readonly ScheduleWindow[] | undefined;
  /** `rateText`: the cap as written in the topology, shown in the user's own unit. */
  readonly egress: { readonly rateBytesPerSec: RateBytesPerSec; readonly perChildBytesPerSec: RateBytesPerSec; readonly rateText?: string };
  readonly isPrimary: boolean;
  /** The site whose siblings share a WAN budget and blob leases with this node (topology `site`). */
  readonly site: string | undefined;
}

/** Sibling nodes behind one load balancer, coordinated through Redis. */
export interface Site {
  readonly name: string;
  readonly redisUrl: string;
  /** A sibling's claim on fetching a blob lapses this long after its last renewal. */
  readonly leaseTtlMs: number;
  /** The load balancer in front of the siblings: the address endpoints use and download from. */
  readonly url: string | undefined;
  /** Its nodes, in file order. */
  readonly members: readonly string[];
}

export interface Topology {
  /** Absolute path of the file this was loaded from. */
  readonly file: string;
  readonly primary: string;
  /** `caPath`: the CA bundle nodes and agents verify TLS peers with (trust.ca); undefined: the system's CAs. */
  /** `crlPath`: certificates of the CA that are revoked (trust.crl, from `sluice cert revoke`), reloaded like certificates. */
  /**
   * `aptIndexTtlMs`: how long a ring's signed APT index is valid (its Valid-Until; re-signed at
   * half), which also bounds how long a hub can replay an old one to a new machine.
   * `aptKeysDir`: the rings' public APT keys (`RING.asc`), where `sluice apt-source` reads them.
   */
  readonly trust: { readonly catalogKeyPath: string; readonly headTtlMs: number; readonly timestampTtlMs: number; readonly caPath: string | undefined; readonly crlPath: string | undefined; readonly aptIndexTtlMs: number; readonly aptKeysDir: string | undefined };
  readonly deadlinesMs: Readonly<Record<Severity, number>>;
  /** How long a node keeps a blob nothing wants any more (declined, superseded). */
  readonly graceMs: number;
  /**
   * On the primary, how long the files of a superseded (or declined) package are kept once
   * they are (policy.retainSuperseded); undefined: for good.
   */
  readonly retainSupersededMs: number | undefined;
  /** Every ring name an approval may use (besides `all`). */
  readonly rings: readonly string[];
  /** Promotion gates by the ring they promote from (`rings: { pilot: { promote: ... } }`). */
  readonly promotions: ReadonlyMap<string, PromotionGate>;
  readonly regions: ReadonlyMap<string, Region>;
  readonly sites: ReadonlyMap<string, Site>;
  /** In file order. */
  readonly nodes: ReadonlyMap<string, NodeSpec>;
  /** Vendor repositories the primary follows (`feeds:`), in file order. */
  readonly feeds: ReadonlyMap<string, Feed>;
  /** Console sign-in with the organisation's identity provider, and the roles it maps to (`access:`). */
  readonly access: Access;
}

/** A role and its scope, as `access.people` and `access.groups` give them. */
export interface Grant {
  readonly role: Role;
  readonly scope: { readonly rings?: readonly string[]; readonly nodes?: readonly string[]; readonly regions?: readonly string[]; readonly sites?: readonly string[] };
}

export interface Access {
  /** OpenID Connect: undefined when the console signs in with tokens only. */
  readonly signIn: { readonly issuer: string; readonly clientId: string; readonly groupsClaim: string; readonly nameClaim: string } | undefined;
  /** Person (the provider's `nameClaim`) → role. */
  readonly people: ReadonlyMap<string, Grant>;
  /** Group (in the provider's `groupsClaim`) → role. */
  readonly groups: ReadonlyMap<string, Grant>;
}

/** A vendor's APT repository, or RPM repositories, the primary follows. */
export interface Feed {
  readonly name: string;
  readonly type: 'apt' | 'rpm';
  /** Without a trailing slash. */
  readonly url: string;
  /** APT: the suites and components followed (empty for an RPM feed). */
  readonly suites: readonly string[];
  readonly components: readonly string[];
  /**
   * RPM: each repository followed, by the name endpoints use (/rpm/RING/NAME), with its path
   * under `url` ('' for the url itself); empty for an APT feed.
   */
  readonly repos: ReadonlyMap<string, string>;
  /** RPM: a repomd.xml must carry a detached signature (repomd.xml.asc) by the keyring. */
  readonly requireSignedMetadata: boolean;
  readonly architectures: readonly string[];
  /** Absolute path of the vendor's OpenPGP public keys. */
  readonly keyringPath: string;
  /** Package names to follow; undefined: every package. */
  readonly packages: ReadonlySet<string> | undefined;
  readonly everyMs: number;
  /** A Release without Valid-Until older than this is refused as stale (a mirror frozen on an old snapshot). */
  readonly maxAgeMs: number;
  /** Severity of the packages it adds. */
  readonly severity: Severity;
  /** `approved`: a version's .deb is fetched once a ring approves it; `all`: at once. */
  readonly download: 'approved' | 'all';
}

/** What a package must show in one ring before the primary approves it for the next. */
export interface GateRule {
  readonly afterMs: number;
  readonly minClients: number;
  /** 0 to 100. */
  readonly minSucceededPercent: number;
  readonly maxFailed: number;
}

export interface PromotionGate extends GateRule {
  readonly from: string;
  readonly to: string;
  /** `auto`: the primary approves for `to`; `propose`: it lists the package for a person. */
  readonly mode: 'auto' | 'propose';
  /** The gate for critical packages (shorter, as the topology sets it). */
  readonly critical: GateRule;
}

/** Defaults for every optional setting, in one place. */
export const TOPOLOGY_DEFAULTS = {
  headTtl: '7d',
  aptIndexTtl: '12h',
  /** A promotion gate's defaults: a day in the ring, one endpoint at least, every one succeeded, none failed. */
  promote: { after: '1d', minClients: 1, minSucceeded: '100%', maxFailed: 0 },
  timestampTtl: '1h',
  grace: '24h',
  deadlines: { critical: '24h', important: '30d', moderate: '120d', low: '365d' },
  sync: { every: '10m', jitter: '2m' },
  schedule: [{ rate: 'unlimited' }],
  critical: 'schedule',
  feed: { every: '1h', maxAge: '7d', severity: 'moderate', download: 'approved' },
} as const;
