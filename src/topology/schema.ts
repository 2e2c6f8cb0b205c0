import { z } from 'zod';
import { CLOCK_SYNTAX, DURATION_SYNTAX, RATE_SYNTAX, parseClock, parseDuration, parseRate } from './units.js';
import { SEVERITIES } from '../domain/severity.js';
import { WEEKDAYS } from './types.js';
import { ROLES } from '../domain/roles.js';

/**
 * The shape of topology.yaml. Every object is strict: an unknown key is an error (a typo
 * such as `upstrem` must not silently turn a node into an orphan). Cross-references
 * (upstream names, regions, rings, the tree) are checked afterwards in rules.ts.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const NAME_SYNTAX = 'a name of lowercase letters, digits, "-" or "_" (at most 63), starting with a letter or digit';

const str = (what: string) =>
  z.string({ required_error: `missing; expected ${what}`, invalid_type_error: `expected ${what}` });
const name = str(NAME_SYNTAX).regex(NAME_PATTERN, `expected ${NAME_SYNTAX}`);
const rate = str(RATE_SYNTAX).refine((s) => parseRate(s) !== undefined, `expected ${RATE_SYNTAX}`);
const duration = str(DURATION_SYNTAX).refine((s) => parseDuration(s) !== undefined, `expected ${DURATION_SYNTAX}`);
const clock = str(CLOCK_SYNTAX).refine((s) => parseClock(s) !== undefined, `expected ${CLOCK_SYNTAX}`);
const names = (what: string) => z.array(name, { invalid_type_error: `expected a list of ${what}` });
const label = str('a platform or language label').regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected a label of letters, digits, ".", "_" or "-"');

export const windowSchema = z
  .object({
    days: z
      .array(z.enum(WEEKDAYS, { errorMap: () => ({ message: `expected one of ${WEEKDAYS.join(', ')}` }) }))
      .nonempty('expected at least one day; omit "days" for every day')
      .optional(),
    from: clock.optional(),
    to: clock.optional(),
    /** A rate, or `background`: only the spare capacity of the path to the upstream, found by its delay. */
    rate: str(`${RATE_SYNTAX}, or "background"`).refine((s) => s === 'background' || parseRate(s) !== undefined, `expected ${RATE_SYNTAX}, or "background" (only what the link has spare)`),
    /** With `rate: background`: the most it may take. */
    max: rate.optional(),
  })
  .strict();

export const regionSchema = z
  .object({
    timezone: str('an IANA timezone such as "Europe/Paris"'),
    schedule: z.array(windowSchema, { invalid_type_error: 'expected a list of windows' }).nonempty('expected at least one window').optional(),
    critical: str(`"bypass", "schedule" or ${RATE_SYNTAX}`)
      .refine((s) => s === 'bypass' || s === 'schedule' || parseRate(s) !== undefined, `expected "bypass", "schedule" or ${RATE_SYNTAX}`)
      .optional(),
    sync: z.object({ every: duration, jitter: duration.optional() }).strict().optional(),
  })
  .strict();

export const nodeSchema = z
  .object({
    url: str('an http:// or https:// URL such as "http://10.0.0.5:7400"').url('expected an http:// or https:// URL such as "http://10.0.0.5:7400"').refine((u) => !/[\s\p{Cc}\p{Cf}]/u.test(u), 'expected a URL without spaces, line breaks or control characters'),
    region: name,
    upstream: name.optional(),
    fallback: names('node names').optional(),
    ring: z.union([name, z.array(name)], { errorMap: () => ({ message: 'expected a ring name or a list of ring names' }) }).optional(),
    accept: z
      .object({ platforms: z.array(label).optional(), languages: z.array(label).optional() })
      .strict()
      .optional(),
    listen: str('"HOST:PORT"').regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected "HOST:PORT", e.g. "0.0.0.0:7402" or "[::]:7402"').optional(),
    data: str('a directory path').min(1).optional(),
    schedule: z.array(windowSchema).nonempty('expected at least one window').optional(),
    egress: z.object({ rate: rate.optional(), perChild: rate.optional() }).strict().optional(),
    site: name.optional(),
  })
  .strict();

/** Sibling nodes of one site share its WAN budget and fetch each blob once, through Redis. */
export const siteSchema = z
  .object({
    redis: str('a Redis URL such as "redis://10.0.0.9:6379"').regex(/^rediss?:\/\/[^\s]+$/, 'expected a Redis URL such as "redis://10.0.0.9:6379" (rediss:// for TLS)'),
    leaseTtl: duration.optional(),
    url: str('the load balancer\'s URL, e.g. "http://paris.example.internal:7400"').url('expected an http:// or https:// URL such as "http://paris.example.internal:7400"').optional(),
  })
  .strict();

/**
 * A vendor repository the primary follows (`feeds:`): an APT repository (`type: apt`: suites,
 * components) or RPM repositories (`type: rpm`: repos, each a directory holding repodata/).
 * Its signed indexes become catalog packages in state `new`; nothing replicates until a person
 * approves. One object for both types, so an unknown key is named with the keys of either; what
 * belongs to one type only is checked per type.
 */
const debToken = (what: string) => str(what).regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/, `expected ${what}`);
/** A repository's path under the feed's url: relative, no `..`, printable. */
const repoPath = str('a path under the feed\'s url, e.g. "BaseOS/x86_64/os" ("." for the url itself)').regex(/^(\.|[A-Za-z0-9._+~-]+(\/[A-Za-z0-9._+~-]+)*)$/, 'expected a relative path such as "BaseOS/x86_64/os" (letters, digits, "._+~-" between slashes; "." for the url itself)').refine((p) => p === '.' || !p.split('/').some((s) => s === '..' || s === '.'), 'expected a path that stays under the feed\'s url');
const APT_ONLY = ['suites', 'components'] as const;
const RPM_ONLY = ['repos', 'requireSignedMetadata'] as const;
export const feedSchema = z
  .object({
    type: z.enum(['apt', 'rpm'], { errorMap: () => ({ message: 'expected "apt" (a Debian/Ubuntu repository) or "rpm" (RPM repositories read by dnf)' }) }),
    url: str('the repository\'s base URL, e.g. "http://mirror.example.net/debian-security"').url('expected an http:// or https:// URL such as "http://mirror.example.net/debian-security"').refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL'),
    suites: z.array(debToken('a suite such as "bookworm-security"'), { invalid_type_error: 'expected a list of suites' }).nonempty('expected at least one suite').optional(),
    components: z.array(debToken('a component such as "main"'), { invalid_type_error: 'expected a list of components' }).nonempty('expected at least one component').optional(),
    /** RPM: repository name (as endpoints name it: /rpm/RING/NAME) → its path under `url`. */
    repos: z.record(name, repoPath, { invalid_type_error: 'expected a map of repository name → path under url, e.g. { el9-baseos: BaseOS/x86_64/os }' }).optional(),
    architectures: z.array(debToken('an architecture such as "amd64"'), { invalid_type_error: 'expected a list of architectures' }).nonempty('expected at least one architecture'),
    keyring: str('the path of the vendor\'s OpenPGP public keys, e.g. "/usr/share/keyrings/debian-archive-keyring.gpg"').min(1),
    packages: z.array(str('a package name').regex(/^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$/, 'expected a package name (letters, digits, "+", "-", ".", "_")')).nonempty('omit "packages" to follow every package').optional(),
    /** RPM: refuse a repomd.xml without a detached signature by the keyring (repomd.xml.asc). */
    requireSignedMetadata: z.boolean({ invalid_type_error: 'expected true or false' }).optional(),
    every: duration.optional(),
    maxAge: duration.optional(),
    severity: z.enum(SEVERITIES, { errorMap: () => ({ message: `expected one of ${SEVERITIES.join(', ')}` }) }).optional(),
    download: z.enum(['approved', 'all'], { errorMap: () => ({ message: 'expected "approved" (fetch a version once a ring approves it) or "all"' }) }).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const other = f.type === 'apt' ? RPM_ONLY : APT_ONLY;
    for (const key of other) if (f[key] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: f.type === 'apt' ? `"${key}" is for feeds of type rpm; an apt feed names suites and components` : `"${key}" is for feeds of type apt; an rpm feed names its repos (name → path under url)` });
    if (f.type === 'apt') {
      for (const key of APT_ONLY) if (f[key] === undefined) ctx.addIssue({ code: z.ZodIssueCode.invalid_type, expected: 'array', received: 'undefined', path: [key], message: `missing; expected a list of ${key} such as [${key === 'suites' ? 'bookworm-security' : 'main'}]` });
    } else if (f.repos !== undefined && Object.keys(f.repos).length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['repos'], message: 'expected at least one repository; omit "repos" for one repository at the url itself' });
    if (f.type === 'apt' && f.packages?.some((p) => !/^[a-z0-9][a-z0-9+.-]{0,127}$/.test(p))) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['packages'], message: 'expected Debian package names (lowercase letters, digits, "+", "-", ".")' });
  });

/** `95%` or `95.5%`: a share of endpoints. */
const percent = str('a share such as "95%"').regex(/^(100|[0-9]{1,2}(\.[0-9]{1,2})?)%$/, 'expected a share from "0%" to "100%", e.g. "95%"');
const gateFields = {
  /** How long after the approval for the ring the gate may pass. */
  after: duration.optional(),
  /** Endpoints of the ring that reported on the package, at least. */
  minClients: z.number({ invalid_type_error: 'expected a whole number of endpoints' }).int('expected a whole number').nonnegative('expected 0 or more').optional(),
  /** Succeeded among those that reported (not-applicable left out), at least. */
  minSucceeded: percent.optional(),
  /** Failed reports, at most. */
  maxFailed: z.number({ invalid_type_error: 'expected a whole number of failed endpoints' }).int('expected a whole number').nonnegative('expected 0 or more').optional(),
};

/**
 * A ring's promotion gate: once a package approved for this ring has proven itself there (its
 * endpoints' reports across the tree), the primary approves it for the next ring (`mode:
 * auto`, as `rule:FROM→TO`) or lists it for a person (`mode: propose`). A critical package may
 * have a shorter gate (`critical`, fields that override).
 */
export const promoteSchema = z
  .object({
    to: name,
    ...gateFields,
    mode: z.enum(['auto', 'propose'], { errorMap: () => ({ message: 'expected "auto" (the primary approves) or "propose" (a person approves what the gate lists)' }) }).optional(),
    critical: z.object(gateFields).strict().optional(),
  })
  .strict();

export const ringSchema = z.object({ promote: promoteSchema.optional() }, { invalid_type_error: 'expected { promote: { to: RING, after: 3d, ... } } or {}' }).strict();

const scopeEntries = (what: string) => z.array(str(`${what} (names, or patterns with *)`).regex(/^[A-Za-z0-9._*-]{1,64}$/, `expected ${what}: names or patterns of letters, digits, ".", "_", "-" and "*"`)).min(1, `expected at least one of ${what}`);

/** A role given to a person or a group of the identity provider (`access.people`, `access.groups`). */
export const grantSchema = z
  .object({
    role: z.enum(ROLES, { errorMap: () => ({ message: `expected one of ${ROLES.join(', ')}` }) }),
    rings: scopeEntries('rings').optional(),
    nodes: scopeEntries('nodes').optional(),
    regions: scopeEntries('regions').optional(),
    sites: scopeEntries('sites').optional(),
  })
  .strict()
  .superRefine((g, ctx) => {
    const needs = g.role === 'approver' ? 'rings' : g.role === 'operator' ? 'nodes' : undefined;
    if (needs && !g[needs]) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [needs], message: `an ${g.role} needs ${needs}: the ${needs} it acts for (patterns such as emea-* allowed)` });
    if (g.role === 'auditor' && !g.regions && !g.sites) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['regions'], message: 'an auditor needs regions or sites: whose reports it reads ("*" for all)' });
  });

/**
 * Who may sign in to the console with the organisation's identity provider, and with which
 * role: people by the name the provider gives them, groups by the provider's group claim.
 */
export const accessSchema = z
  .object({
    signIn: z
      .object({
        issuer: str('the identity provider\'s issuer URL, e.g. "https://login.example.com/realms/it"').url('expected the issuer URL, e.g. "https://login.example.com/realms/it"'),
        clientId: str('the client id registered for Sluice at the provider').min(1),
        groupsClaim: str('the claim that lists a person\'s groups, e.g. "groups"').min(1).optional(),
        nameClaim: str('the claim that names a person, e.g. "email" or "preferred_username"').min(1).optional(),
      })
      .strict()
      .optional(),
    people: z.record(z.string().min(1).max(200), grantSchema, { invalid_type_error: 'expected a map of person (as the provider names them) → { role, ... }' }).optional(),
    groups: z.record(z.string().min(1).max(200), grantSchema, { invalid_type_error: 'expected a map of group → { role, ... }' }).optional(),
  })
  .strict();

export const topologySchema = z
  .object({
    version: z.literal(1, { errorMap: () => ({ message: 'expected 1 (the only format version)' }) }),
    primary: name,
    trust: z
      .object({ catalogKey: str('the path of the catalog public key, e.g. "keys/catalog.pub"').min(1), headTtl: duration.optional(), timestampTtl: duration.optional(), ca: str('the path of the CA bundle nodes verify each other with, e.g. "keys/ca.pem"').min(1).optional(), crl: str('the path of the certificate revocation list made by "sluice cert revoke", e.g. "keys/tls/crl.pem"').min(1).optional(), aptIndexTtl: duration.optional(), aptKeys: str('the directory of the rings\' APT public keys made by "sluice keygen --apt", e.g. "keys/apt"').min(1).optional() }, { required_error: 'expected trust: { catalogKey: keys/catalog.pub }' })
      .strict(),
    policy: z
      .object({
        deadlines: z.object(Object.fromEntries(SEVERITIES.map((s) => [s, duration.optional()]))).strict().optional(),
        grace: duration.optional(),
        retainSuperseded: duration.optional(),
      })
      .strict()
      .optional(),
    rings: z.union([names('ring names'), z.record(name, ringSchema.nullable())], { errorMap: () => ({ message: 'expected a list of ring names, or a map of ring name → { promote: { to, after, minClients, minSucceeded, maxFailed } }' }) }).optional(),
    regions: z.record(name, regionSchema, { invalid_type_error: 'expected a map of region name → region', required_error: 'expected a map of region name → { timezone, schedule, ... }' }),
    sites: z.record(name, siteSchema, { invalid_type_error: 'expected a map of site name → { redis }' }).optional(),
    nodes: z.record(name, nodeSchema, { invalid_type_error: 'expected a map of node name → node', required_error: 'expected a map of node name → { url, region, upstream, ... }' }),
    feeds: z.record(name, feedSchema, { invalid_type_error: 'expected a map of feed name → { type: apt, url, suites, components, architectures, keyring } or { type: rpm, url, repos, architectures, keyring }' }).optional(),
    access: accessSchema.optional(),
  })
  .strict();

export type RawTopology = z.infer<typeof topologySchema>;
export type RawWindow = z.infer<typeof windowSchema>;
export type RawNode = z.infer<typeof nodeSchema>;

/** The keys an object at `path` may have, for "unknown key" messages. */
export function allowedKeysAt(path: readonly (string | number)[]): string[] {
  let schema: z.ZodTypeAny = topologySchema;
  for (const segment of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodTypeAny>)[String(segment)] ?? z.never();
    else if (schema instanceof z.ZodRecord) schema = schema.valueSchema as z.ZodTypeAny;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodTypeAny;
    else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : [];
}

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodTypeAny;
    else if (s instanceof z.ZodEffects) s = s.innerType() as z.ZodTypeAny;
    else if (s instanceof z.ZodDefault) s = s.removeDefault() as z.ZodTypeAny;
    else return s;
  }
}
