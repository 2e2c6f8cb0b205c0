import { spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { readyzUrl, reportsUrl, updatesUrl } from '../protocol/paths.js';
import type { UpdateEntry } from '../protocol/updates.js';
import { hashFile } from '../store/file-digest.js';
import { UNLIMITED_BUDGET } from '../schedule/rate-budget.js';
import { fetchBlob } from '../download/fetch-blob.js';
import { writeFileDurably } from '../store/durable-file.js';
import { PartialFile } from '../store/partial-file.js';
import { SluiceError, toSluiceError } from '../errors.js';
import { bySeverity, type Severity } from '../domain/severity.js';
import type { ReportStatus } from '../domain/report-statuses.js';
import { RING_ALL, type FileEntry } from '../catalog/records.js';
import { CacheLock } from './cache-lock.js';
import { FileCheckpoints } from './file-checkpoints.js';
import { substitute } from './install-command.js';
import { VerifiedCatalog } from './verified-catalog.js';

export interface AgentOptions {
  /** Nodes to try, nearest first; the first that answers /readyz is used. */
  readonly servers: readonly string[];
  readonly clientId: string;
  readonly platform?: string | undefined;
  readonly language?: string | undefined;
  readonly ring?: string | undefined;
  /** Local cache: verified catalog, downloaded files, install history. */
  readonly cacheDir: string;
  /** Shell command run per package; {file}, {files}, {dir}, {id}, {name}, {version} are replaced (shell-quoted). */
  readonly exec: string;
  /** Exit code of the install command that means "installed, reboot required". @defaultValue 194 (3010 mod 256) */
  readonly rebootExitCode: number;
  readonly execTimeoutMs: number;
  readonly publicKey: KeyObject;
  /** Where the pinned key came from, as the user gave it (`--catalog-key FILE`), for error messages. */
  readonly publicKeySource?: string;
  /** The site's endpoint token (SLUICE_ENDPOINT_TOKEN or --token-file); without it nothing is reported. */
  readonly endpointToken: string | undefined;
  /** Keep a package's files after it installed; by default they are deleted, so the cache stays bounded. */
  readonly keepInstalled?: boolean;
  readonly log: (line: string) => void;
  /** Connections to nodes, with the pinned CA (--ca, or trust.ca). */
  readonly dispatcher: Dispatcher;
}

type UpdateJson = UpdateEntry;

export interface InstallRecord {
  status: ReportStatus;
  error?: string;
  at: string;
  /** The node that did not offer this package although the signed catalog approves it. */
  withheldBy?: string;
}

export interface AgentRun {
  server: string;
  catalogSeq: number;
  /** The node answered 304 to the previous answer's ETag: the saved list was used. */
  updatesUnchanged: boolean;
  installed: { id: string; status: ReportStatus; error?: string }[];
  pending: string[];
  reported: number;
}

/**
 * One pass of the endpoint agent: sync the verified catalog from the first reachable node,
 * ask it what applies, and install each new package, most urgent first. A file runs only if
 * its bytes hash to the sha256 that the signed catalog lists for that approved package,
 * checked again right before it runs. Outcomes are remembered (a success is never rerun; a
 * failure is retried next pass) and reported, latest first.
 */
export async function runAgentOnce(o: AgentOptions): Promise<AgentRun> {
  const lock = await CacheLock.take(o.cacheDir);
  try {
    return await runLocked(o);
  } finally {
    await lock.release();
  }
}

async function runLocked(o: AgentOptions): Promise<AgentRun> {
  const servers = o.servers.map((s) => s.replace(/\/+$/, ''));
  const catalog = await VerifiedCatalog.open(path.join(o.cacheDir, 'catalog'), o.publicKey);
  // Servers are tried in order, each only when the ones before it failed: unreachable, not
  // ready, or a catalog that fails verification (a forging or stale hub).
  const unreachable: string[] = [];
  const rejected: { server: string; error: SluiceError }[] = [];
  let server: string | undefined;
  let updates: UpdateJson[] = [];
  let updatesUnchanged = false;
  for (const candidate of servers) {
    const down = await notReady(candidate, o.dispatcher);
    if (down) {
      unreachable.push(`${candidate} (${down})`);
      continue;
    }
    try {
      await catalog.sync(candidate, o.dispatcher);
      ({ updates, unchanged: updatesUnchanged } = await fetchUpdates(o, candidate));
      server = candidate;
      break;
    } catch (err) {
      rejected.push({ server: candidate, error: toSluiceError(err, `catalog from ${candidate}`) });
      if (servers.length > 1) o.log(`${candidate}: ${(err as Error).message}; trying the next server`);
    }
  }
  if (!server) {
    if (rejected.length === 0) throw new SluiceError('SERVER_UNREACHABLE', `no node answered: ${unreachable.join(', ')}; check --server and the network`);
    const first = rejected[0]!.error;
    const all = [...rejected.map((r) => `${r.server}: ${r.error.message}`), ...unreachable];
    // Every server signing with a key we do not know most often means the wrong key was pinned.
    const keyHint = rejected.every((r) => r.error.code === 'CATALOG_SIGNATURE_INVALID') && o.publicKeySource ? `; the key pinned is ${o.publicKeySource}: is it the catalog.pub the nodes use (trust.catalogKey)?` : '';
    throw new SluiceError(first.code, `${all.length > 1 ? `no server gave a catalog that verifies: ${all.join('; ')}` : first.message}${keyHint}`, { cause: first });
  }
  const history = await loadHistory(o.cacheDir);
  // What to install, which files, in which order and with which words is decided from the
  // agent's own verified catalog only. The node's /v1/updates is a hint of where each file
  // can be fetched now and whether the node holds it yet, nothing more: a hub that edits it
  // can withhold (noticed and reported) but cannot choose a file, a name or an order.
  const plan = planFromCatalog(o, catalog, updates);
  const run: AgentRun = { server, catalogSeq: catalog.position, updatesUnchanged, installed: [], pending: [], reported: 0 };
  const others = servers.filter((s) => s !== server && !unreachable.some((u) => u.startsWith(`${s} (`)));
  for (const u of plan) {
    const done = history[u.id];
    if (done && (done.status === 'succeeded' || done.status === 'succeeded-reboot')) continue;
    if (u.pending) {
      run.pending.push(u.id);
      continue;
    }
    let outcome: InstallRecord;
    try {
      const files = await fetchVerified(o, catalog, u, others);
      outcome = await install(o, u, files);
    } catch (err) {
      outcome = { status: 'failed', error: (err as Error).message, at: new Date().toISOString() };
    }
    if (u.withheld) outcome = { ...outcome, withheldBy: server };
    history[u.id] = outcome;
    await saveHistory(o.cacheDir, history);
    // Installed: its files are not needed again (a failed one keeps them for the retry).
    if (!o.keepInstalled && outcome.status !== 'failed') await pruneFiles(o.cacheDir, u);
    run.installed.push({ id: u.id, status: outcome.status, ...(outcome.error ? { error: outcome.error } : {}) });
    o.log(`${u.id}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
  }
  run.reported = await report(o, server, history);
  return run;
}

/** Deletes a package's downloaded files from the cache. */
async function pruneFiles(cacheDir: string, u: PlannedInstall): Promise<void> {
  for (const f of u.files) await rm(path.join(cacheDir, 'files', f.sha256), { recursive: true, force: true });
}

/** `3 succeeded, 1 failed`: outcomes of a pass by status, never a bare "installed". */
export function outcomeSummary(run: Pick<AgentRun, 'installed'>): string {
  const counts = new Map<string, number>();
  for (const i of run.installed) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
  return counts.size === 0 ? 'nothing to install' : [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

/** The last answer of /v1/updates, kept so the next pass can ask "changed since?" (If-None-Match). */
interface SavedUpdates {
  url: string;
  etag: string;
  updates: UpdateJson[];
}

/**
 * What the node offers this endpoint. The previous answer's ETag goes along: while nothing
 * changed the node answers 304 without a body, and the saved list is used (a hint like any
 * answer: every file is checked against the signed catalog before it runs).
 */
async function fetchUpdates(o: AgentOptions, server: string): Promise<{ updates: UpdateJson[]; unchanged: boolean }> {
  const query = new URLSearchParams();
  for (const key of ['platform', 'language', 'ring'] as const) if (o[key]) query.set(key, o[key]!);
  const url = updatesUrl(server, query);
  const savedFile = path.join(o.cacheDir, 'updates.json');
  const saved = await readFile(savedFile, 'utf8').then((t) => JSON.parse(t) as SavedUpdates, () => undefined);
  const usable = saved?.url === url && typeof saved.etag === 'string' && Array.isArray(saved.updates) ? saved : undefined;
  const res = await request(url, { dispatcher: o.dispatcher, headersTimeout: 30_000, headers: usable ? { 'if-none-match': usable.etag } : {} });
  if (res.statusCode === 304 && usable) {
    await res.body.dump();
    return { updates: usable.updates, unchanged: true };
  }
  const body = (await res.body.json()) as { updates?: UpdateJson[]; error?: { message: string } };
  if (res.statusCode !== 200 || !body.updates) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `updates from ${server}: ${body.error?.message ?? `HTTP ${res.statusCode}`}`);
  const etag = res.headers.etag;
  if (typeof etag === 'string') await writeFileDurably(savedFile, JSON.stringify({ url, etag, updates: body.updates } satisfies SavedUpdates));
  return { updates: body.updates, unchanged: false };
}

/** One package to install, every field from the verified catalog except where its files can be fetched. */
interface PlannedInstall {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly severity: Severity;
  readonly approvedAt: string;
  /** The node said it does not hold every file yet. */
  readonly pending: boolean;
  /** The node did not list it at all although the signed catalog approves it for this endpoint. */
  readonly withheld: boolean;
  /** The signed files for this endpoint's platform and language, in the catalog's order; `url` only from the node's hint. */
  readonly files: readonly { name: string; size: number; sha256: string; url: string | null }[];
}

/**
 * Packages the signed catalog approves for this endpoint (its ring or `all`; without --ring,
 * `all` only), neither declined nor superseded for its ring, with files for its platform and language
 * (files without a label fit every one), most urgent first. From the node's answer only a
 * file's URL (matched by sha256 and size) and "pending" are taken, each re-checked: a URL must
 * point at a blob route, and the bytes behind it are hashed before anything runs.
 */
function planFromCatalog(o: AgentOptions, catalog: VerifiedCatalog, offered: readonly UpdateJson[]): PlannedInstall[] {
  const hints = new Map<string, UpdateJson>();
  for (const u of offered) if (u && typeof u.id === 'string') hints.set(u.id, u);
  const matches = (f: FileEntry) => (o.platform === undefined || f.platform === undefined || f.platform === o.platform) && (o.language === undefined || f.language === undefined || f.language === o.language);
  const ring = o.ring ?? RING_ALL;
  const out: PlannedInstall[] = [];
  for (const pkg of catalog.state.approved()) {
    // Per ring: a successor approved only for another ring does not replace it here.
    if (!catalog.state.receivedBy(pkg, ring)) continue;
    const approval = pkg.approvals.get(ring) ?? pkg.approvals.get(RING_ALL);
    if (!approval) continue;
    const files = pkg.files.filter(matches);
    if (files.length === 0) continue;
    const hint = hints.get(pkg.id);
    const hinted = Array.isArray(hint?.files) ? hint.files : [];
    out.push({
      id: pkg.id,
      name: pkg.name,
      version: pkg.version,
      severity: pkg.severity,
      approvedAt: approval.at,
      pending: hint?.state === 'pending',
      withheld: hint === undefined,
      files: files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256, url: blobUrlHint(hinted.find((h) => h?.sha256 === f.sha256 && h.size === f.size)?.url, f.sha256) })),
    });
  }
  return out.sort((a, b) => bySeverity(a.severity, b.severity) || Date.parse(a.approvedAt) - Date.parse(b.approvedAt) || (a.id < b.id ? -1 : 1));
}

/** A node's URL for a blob, kept only when it is an http(s) URL ending in that blob's route. */
function blobUrlHint(url: unknown, sha256: string): string | null {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.pathname.endsWith(`/${sha256}`) ? u.href : null;
  } catch {
    return null;
  }
}

/** Why `server` cannot be used now (unreachable, not ready), or undefined when it answers /readyz. */
async function notReady(server: string, dispatcher: Dispatcher): Promise<string | undefined> {
  try {
    const res = await request(readyzUrl(server), { dispatcher, headersTimeout: 5000, bodyTimeout: 5000 });
    await res.body.dump();
    return res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}

/**
 * Downloads (with resume) the package's files into the cache, each checked against the
 * signed catalog; a file that fails at one server is tried at the others.
 */
async function fetchVerified(o: AgentOptions, catalog: VerifiedCatalog, u: PlannedInstall, others: readonly string[]): Promise<string[]> {
  const pkg = catalog.state.get(u.id);
  if (!pkg) throw new Error(`${u.id} is not in the signed catalog; refusing to install it`);
  const ring = o.ring ?? RING_ALL;
  if (!catalog.state.receivedBy(pkg, ring)) throw new Error(`${u.id} is ${catalog.state.stateFor(pkg, ring)} for ring ${ring} in the signed catalog; refusing to install it`);
  const dir = path.join(o.cacheDir, 'files');
  const partialDir = path.join(o.cacheDir, 'partial');
  await mkdir(partialDir, { recursive: true });
  const checkpoints = new FileCheckpoints(partialDir);
  const out: string[] = [];
  for (const f of u.files) {
    const signed = pkg.files.find((s) => s.sha256 === f.sha256 && s.size === f.size && s.name === f.name);
    if (!signed) throw new Error(`${f.name} of ${u.id} does not match the signed catalog; refusing to install it`);
    // No URL: the node withheld the package; every other server is asked for the blob.
    if (!f.url && others.length === 0) throw new Error(`${f.name}: the node does not offer ${u.id} and no other --server is given`);
    const dest = path.join(dir, f.sha256, path.basename(signed.name));
    const cached = await hashFile(dest).catch(() => undefined);
    if (cached !== f.sha256) {
      const partial = new PartialFile(f.sha256, f.size, path.join(partialDir, `${f.sha256}.part`), checkpoints);
      const failures: string[] = [];
      let staged: string | undefined;
      for (const origin of f.url ? [new URL(f.url).origin, ...others] : others) {
        try {
          await fetchBlob({
            partial,
            route: { name: 'node', node: origin },
            selfName: o.clientId,
            dispatcher: o.dispatcher,
            budget: UNLIMITED_BUDGET,
            signal: new AbortController().signal,
            stallMs: 60_000,
            checkpointBytes: 8 * 1024 * 1024,
            checkpointMs: 2000,
          });
          staged = partial.path;
          break;
        } catch (err) {
          failures.push(`${origin}: ${(err as Error).message}`);
        }
      }
      if (!staged) throw new Error(`${f.name}: ${failures.join('; ')}`);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(staged, dest);
      await checkpoints.delete(f.sha256);
    }
    out.push(dest);
  }
  return out;
}

/** Runs the install command, after re-hashing every file (the cache could have changed). */
async function install(o: AgentOptions, u: PlannedInstall, files: string[]): Promise<InstallRecord> {
  for (const [i, file] of files.entries()) {
    if ((await hashFile(file)) !== u.files[i]!.sha256) {
      await rm(path.dirname(file), { recursive: true, force: true });
      throw new Error(`${path.basename(file)} no longer matches its sha256; not run (it will be fetched again)`);
    }
  }
  const command = substitute(o.exec, files, u);
  // The installer's own words reach the agent's output (and so the journal), line by line.
  const { code, stderr } = await runShell(command, o.execTimeoutMs, (stream, line) => o.log(`${u.id} ${stream}: ${line}`));
  o.log(`${u.id}: the install command exited with ${code === null ? 'no code (killed: over --exec-timeout?)' : `code ${code}`}`);
  const at = new Date().toISOString();
  if (code === 0) return { status: 'succeeded', at };
  if (code === o.rebootExitCode) return { status: 'succeeded-reboot', at };
  const last = stderr.trim().split('\n').at(-1) ?? '';
  return { status: 'failed', error: `exit code ${code ?? 'none (killed)'}${last ? `: ${last.slice(0, 500)}` : ''}`, at };
}

/** Longest installer line passed on whole; the rest of a longer one is dropped. */
const MAX_OUTPUT_LINE = 2000;

/**
 * Cuts an installer's output into lines at \n, \r\n or a lone \r (the progress bars of dpkg,
 * apt and most installers redraw with \r): each redraw is a line of its own, empty ones are
 * skipped, and what is held while a line is unfinished stays within MAX_OUTPUT_LINE however
 * long the installer runs (readline keeps a line without \n whole in memory).
 */
function forwardLines(input: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  let cut = false;
  const emit = (line: string) => {
    if (line && !cut) onLine(line.length > MAX_OUTPUT_LINE ? `${line.slice(0, MAX_OUTPUT_LINE)}…` : line);
  };
  input.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split(/\r\n|\r|\n/);
    pending = parts.pop()!;
    for (const line of parts) {
      emit(line);
      cut = false;
    }
    if (pending.length > MAX_OUTPUT_LINE) {
      emit(pending);
      cut = true;
      pending = '';
    }
  });
  input.on('end', () => emit(pending));
}

/**
 * Runs `command` with /bin/sh, its stdout and stderr handed to `onLine` a line at a time;
 * resolves with the exit code (null when killed after `timeoutMs`) and the tail of stderr.
 */
function runShell(command: string, timeoutMs: number, onLine: (stream: 'stdout' | 'stderr', line: string) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    forwardLines(child.stdout, (line) => onLine('stdout', line));
    forwardLines(child.stderr, (line) => onLine('stderr', line));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stderr: err.message });
    });
  });
}

async function report(o: AgentOptions, server: string, history: Record<string, InstallRecord>): Promise<number> {
  if (!o.endpointToken) {
    o.log('not reporting: no endpoint token; give --token-file FILE or set SLUICE_ENDPOINT_TOKEN (the site\'s token from the node\'s SLUICE_ENDPOINT_TOKEN; "sluice up" put a demo one in data/demo.env)');
    return 0;
  }
  // Everything remembered, newest first: reports are idempotent, so a lost one is resent.
  const reports = Object.entries(history)
    .sort(([, a], [, b]) => (a.at < b.at ? 1 : -1))
    .slice(0, 1000)
    .map(([pkg, r]) => ({ clientId: o.clientId, package: pkg, status: r.status, ...(r.error ? { error: r.error.slice(0, 2000) } : {}), ...(r.withheldBy ? { withheldBy: r.withheldBy.slice(0, 300) } : {}), ...(o.ring ? { ring: o.ring } : {}), at: r.at }));
  if (reports.length === 0) return 0;
  const res = await request(reportsUrl(server), {
    dispatcher: o.dispatcher,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${o.endpointToken}` },
    body: JSON.stringify({ reports }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `reporting to ${server}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
  return reports.length;
}

async function loadHistory(cacheDir: string): Promise<Record<string, InstallRecord>> {
  return readFile(path.join(cacheDir, 'installed.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, InstallRecord>, () => ({}));
}

async function saveHistory(cacheDir: string, history: Record<string, InstallRecord>): Promise<void> {
  await writeFileDurably(path.join(cacheDir, 'installed.json'), JSON.stringify(history, null, 1));
}
