import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { renderStatus, type StatusJson } from '../../src/cli/render-status.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';
import { CLI, REPO_ROOT, freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { getJson, release } from '../helpers/replication.js';
import { nodeCertPaths } from '../../src/tls/certificates.js';

/** The top-level keys of one JSON object line, in order, repeats included (JSON.parse hides them). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(line.slice(j + 1))) keys.push(line.slice(i + 1, j));
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return keys;
}

describe('a status error that is over', () => {
  it('is shown while it holds, then only as when it was last seen once the sync succeeds', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    proxy.catalogFault = 'alter';
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await release(hq.address.url, c.dir, 'pkg');
    const holding = await waitFor('a catalog error at the branch', () => {
      const s = branch.status() as StatusJson;
      return s.lastError && s.lastError.clearedAt === null ? s : undefined;
    });
    assert.match(holding.lastError!.code, /^CATALOG_/);
    assert.equal(holding.lastError!.source, 'catalog sync');
    assert.match(renderStatus(holding), new RegExp(`ERROR ${holding.lastError!.code} in catalog sync since`));
    proxy.catalogFault = 'none';
    const cleared = await waitFor('the error to clear once a sync verifies', () => {
      const s = branch.status() as StatusJson;
      return s.lastError?.clearedAt && s.pending.blobs === 0 && s.store.blobs === 1 ? s : undefined;
    }, 20_000);
    assert.equal(cleared.lastError!.code, holding.lastError!.code, 'the same error, now cleared');
    const text = renderStatus(cleared);
    assert.match(text, /nothing pending for its rings/);
    assert.match(text, new RegExp(`last error ${holding.lastError!.code} seen .*, cleared `));
    assert.doesNotMatch(text, /ERROR/);
  });
});

describe('sluice status --watch', () => {
  it('prints one block per refresh when not on a terminal, redraws in place on one', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    await startNode(c.topology, 'hq', c.secrets);
    await startNode(c.topology, 'branch', c.secrets);
    const plain = await runCli(['status', '--watch', '--count', '2', '--interval', '100ms', '-t', c.file], { env: c.env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.match(/^sluice status at \d\d:\d\d:\d\dZ, every 0.1s$/gm)?.length, 2);
    assert.equal(plain.stdout.match(/^hq \(primary\)/gm)?.length, 2);
    assert.doesNotMatch(plain.stdout, /\x1b\[/, 'no escape codes into a pipe');
    const json = await runCli(['status', '--watch', '--json', '--count', '2', '--interval', '100ms', '-t', c.file], { env: c.env });
    assert.deepEqual(json.stdout.trim().split('\n').map((l) => JSON.parse(l).node), ['hq', 'hq']);
    // On a terminal (script(1) gives it one): cursor home and erase, no scrolling blocks.
    const cmd = [process.execPath, CLI, 'status', '--watch', '--count', '2', '--interval', '100ms', '-t', c.file].map((a) => `'${a}'`).join(' ');
    // Asynchronously: the nodes answering it run in this process.
    const tty = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...c.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('close', () => (clearTimeout(timer), resolve(out)));
    });
    assert.equal(tty.match(/\x1b\[H/g)?.length, 2, 'each refresh starts at the top of the screen');
    assert.match(tty, /Ctrl-C stops/);
    // Without --count it runs until Ctrl-C, and then exits 0.
    const endless = spawnCli(['status', '--watch', '--interval', '100ms', '-t', c.file], { env: c.env });
    onTeardown(() => endless.kill('SIGKILL'));
    await waitFor('three refreshes', () => (endless.output().match(/^sluice status at /gm)?.length ?? 0) >= 3);
    endless.kill('SIGINT');
    assert.equal((await exited(endless)).code, 0, endless.output());
    const badInterval = await runCli(['status', '--watch', '--interval', 'soon', '-t', c.file], { env: c.env });
    assert.equal(badInterval.code, 2);
    assert.match(badInterval.stderr, /--interval soon: expected a duration/);
  });
});

describe('logs', () => {
  it('JSON off a terminal with each key once per line; readable lines when asked for (as on a terminal)', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const serve = (name: string, env: Record<string, string> = {}) => {
      const child = spawnCli(['serve', '--node', name, '-t', c.file], { env: { ...c.env, SLUICE_LOG_LEVEL: 'debug', ...env } });
      onTeardown(() => child.kill('SIGKILL'));
      return child;
    };
    const hq = serve('hq');
    const hqUrl = c.topology.nodes.get('hq')!.url;
    await waitFor('hq ready', () => getJson(`${hqUrl}/readyz`).then(() => true, () => false));
    const branch = serve('branch');
    const branchUrl = c.topology.nodes.get('branch')!.url;
    await release(hqUrl, c.dir, 'pkg');
    await waitFor('the branch to store the package', async () => (await getJson(`${branchUrl}/v1/status`).catch(() => undefined))?.store?.blobs === 1);
    branch.kill('SIGTERM');
    await exited(branch);
    const lines = branch.output().trim().split('\n');
    const components = new Set<string>();
    for (const line of lines) {
      const keys = topLevelKeys(line);
      assert.equal(new Set(keys).size, keys.length, `duplicate key in: ${line}`);
      const parsed = JSON.parse(line);
      if (parsed.component) components.add(parsed.component);
    }
    for (const c of ['catalog', 'download', 'http', 'schedule']) assert.ok(components.has(c), `a line from ${c}`);

    const pretty = serve('branch', { SLUICE_LOG_FORMAT: 'pretty', SLUICE_LOG_LEVEL: 'info' });
    await waitFor('the pretty branch to be ready', () => /branch node ready/.test(pretty.output()));
    pretty.kill('SIGTERM');
    await exited(pretty);
    const out = pretty.output().trim().split('\n');
    // A record's line, or an indented field of the record above it (an error's text: "    err: ...").
    assert.ok(out.every((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|DEBUG|ERROR): /.test(l) || /^ {4}[a-zA-Z]+: /.test(l)), out.join('\n'));
    assert.ok(/^\[/.test(out[0]!), 'the first line is a record');
    assert.ok(out.some((l) => /INFO: branch\/schedule schedule window active/.test(l)));
    hq.kill('SIGTERM');
    await exited(hq);
  });
});

describe('the listening line', () => {
  it('a node serving TLS says https in it', async () => {
    const c = await makeCluster([{ name: 'hq' }], '', undefined, { tls: true });
    const cert = nodeCertPaths(path.join(c.dir, 'keys', 'tls'), 'hq');
    const child = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: { ...c.env, SLUICE_TLS_CERT: cert.certPath, SLUICE_TLS_KEY: cert.keyPath, SLUICE_LOG_LEVEL: 'info', SLUICE_LOG_FORMAT: 'pretty' } });
    onTeardown(() => child.kill('SIGKILL'));
    await waitFor('the listening line', () => /Server listening at/.test(child.output()));
    assert.match(child.output(), /Server listening at https:\/\/127\.0\.0\.1:\d+/);
    child.kill('SIGTERM');
    await exited(child);
  });
});

describe('sluice up checks before it writes', () => {
  it('a port in use fails with LISTEN_FAILED naming the node, and leaves no keys or secrets behind', async () => {
    const dir = tempDir();
    const ports = await freePorts(4);
    let yaml = readFileSync(path.join(REPO_ROOT, 'topology.yaml'), 'utf8');
    [7400, 7401, 7402, 7403].forEach((p, i) => (yaml = yaml.replaceAll(`127.0.0.1:${p}`, `127.0.0.1:${ports[i]}`)));
    writeFileSync(path.join(dir, 'topology.yaml'), yaml);
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(ports[2], '127.0.0.1', resolve));
    onTeardown(() => squatter.close());
    const r = await runCli(['up'], { cwd: dir, env: { SLUICE_ADMIN_TOKEN: '', SLUICE_SIGNING_KEY: '', SLUICE_SECRETS_FILE: '' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`LISTEN_FAILED: cannot listen: lyon on 127.0.0.1:${ports[2]} \\(in use by another process\\); nothing was written`));
    assert.ok(!existsSync(path.join(dir, 'keys')), 'no keys written');
    assert.ok(!existsSync(path.join(dir, 'data')), 'no demo secrets written');
  });
});

describe('wording', () => {
  it('an abbreviated option names the one it abbreviates; a missing file says so in words; a misspelt key gets a suggestion', async () => {
    const ver = await runCli(['publish', 'f', '--name', 'x', '--ver', '1.0']);
    assert.equal(ver.code, 2);
    assert.match(ver.stderr, /^error USAGE: unknown option --ver \(did you mean --version\?\)/);
    const missing = await runCli(['publish', '/nonexistent/file', '--name', 'x', '--version', '1', '--server', 'http://127.0.0.1:9']);
    assert.match(missing.stderr, /FILE_NOT_READABLE: cannot publish \/nonexistent\/file: no such file/);
    const dir = tempDir();
    writeFileSync(path.join(dir, 'topology.yaml'), ['version: 1', 'primary: hq', 'trust: { catalogKey: keys/catalog.pub }', 'regions:', '  main: { timezone: UTC }', 'nodes:', '  hq: { url: "http://127.0.0.1:7400", region: main }', '  b: { url: "http://127.0.0.1:7401", region: main, upstrem: hq }', ''].join('\n'));
    const check = await runCli(['check', '-t', path.join(dir, 'topology.yaml')]);
    assert.match(check.stderr + check.stdout, /unknown key "upstrem" \(did you mean "upstream"\?\)/);
  });
});
