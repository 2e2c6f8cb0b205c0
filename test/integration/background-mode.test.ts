import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPair } from '../../src/catalog/keys.js';
import { ADMIN_TOKEN, PEER_TOKEN } from '../helpers/cluster.js';
import { CLI, tempDir, waitFor } from '../helpers/env.js';
import { makeWan, wanUnavailable, type Wan } from '../helpers/netns.js';
import { writeRandomFileSync } from '../helpers/files.js';

const LINK_MBIT = 20;
const LINK = (LINK_MBIT * 1e6) / 8;
const PORT = 7400;
const FG_PORT = 8080;
// In CI (root) the emulated WAN must run; elsewhere a machine without namespaces skips it.
const unavailable = wanUnavailable();
const skip = unavailable && !process.env.CI ? unavailable : false;

/**
 * A foreground server on the upstream side: streams zeros to whoever asks, as fast as TCP
 * allows, with the congestion control named on its command line. Python, because Node.js
 * cannot choose a socket's congestion control (TCP_CONGESTION). The foreground traffic
 * background mode must yield to is that of the site's desktops, whose systems default to
 * CUBIC (Windows, macOS, most Linux); this machine's own default may be BBR, which keeps
 * the queue short on purpose and so gives a delay-based scavenger little to read.
 */
const FOREGROUND = [
  'import socket, sys, threading',
  'port, cc = int(sys.argv[1]), sys.argv[2].encode()',
  'srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("0.0.0.0", port)); srv.listen(8)',
  'def serve(c):',
  '    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)',
  '    c.recv(65536)',
  '    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\nConnection: close\\r\\n\\r\\n")',
  '    zeros = bytes(65536)',
  '    try:',
  '        while True: c.sendall(zeros)',
  '    except OSError: c.close()',
  'while True:',
  '    conn, _ = srv.accept(); threading.Thread(target=serve, args=(conn,), daemon=True).start()',
].join('\n');

function topology(dir: string, wan: Wan, branchRate: string): string {
  const file = path.join(dir, `topology-${branchRate.replace(/[^a-z0-9]/gi, '')}.yaml`);
  writeFileSync(
    file,
    [
      'version: 1',
      'primary: hq',
      'trust: { catalogKey: keys/catalog.pub }',
      'regions:',
      '  head: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
      `  branch: { timezone: UTC, schedule: [${branchRate}], sync: { every: 10m, jitter: 0s } }`,
      'nodes:',
      `  hq: { url: "http://${wan.upAddr}:${PORT}", region: head, data: ./data/hq }`,
      `  branch: { url: "http://${wan.brAddr}:${PORT}", region: branch, upstream: hq, data: ./data/branch }`,
      '',
    ].join('\n'),
  );
  return file;
}


describe('background mode on an emulated WAN (network namespaces, tbf)', { skip }, () => {
  it('takes the idle link, yields to a foreground download within seconds and climbs back after; prints what a fixed rate leaves the foreground', async (t) => {
    const wan = makeWan({ rateMbit: LINK_MBIT, queueMs: 300 });
    const dir = tempDir();
    const keys = generateKeyPair(path.join(dir, 'keys'));
    const background = topology(dir, wan, `{ rate: background, max: ${LINK_MBIT}Mbit/s }`);
    const fixed = topology(dir, wan, `{ rate: ${LINK_MBIT}Mbit/s }`);
    const env = { SLUICE_SIGNING_KEY: keys.privatePath, SLUICE_ADMIN_TOKEN: ADMIN_TOKEN, SLUICE_TOKEN: ADMIN_TOKEN, SLUICE_PEER_TOKEN: PEER_TOKEN, SLUICE_LOG_LEVEL: 'warn' };
    const node = (ns: string, name: string, file: string) => wan.spawnIn(ns, process.execPath, [CLI, 'serve', '--node', name, '-t', file], env);
    const ready = (ns: string, addr: string) => waitFor(`${addr} ready`, () => wan.runIn(ns, 'curl', ['-sf', '-o', '/dev/null', `http://${addr}:${PORT}/readyz`]).code === 0, 30_000, 200);
    /** Bytes the branch has read from hq so far. */
    const ingress = () => {
      const text = wan.runIn(wan.br, 'curl', ['-sf', `http://${wan.brAddr}:${PORT}/metrics`]).stdout;
      const line = text.split('\n').find((l) => l.startsWith('sluice_transfer_bytes_total{direction="in",peer="hq"}'));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    const branchRate = async (seconds: number) => {
      const a = ingress();
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return (ingress() - a) / ((Date.now() - t0) / 1000);
    };
    /** A foreground download through the same link for `seconds`; resolves with its rate. */
    const foreground = (seconds: number) =>
      new Promise<number>((resolve) => {
        const curl = wan.spawnIn(wan.br, 'curl', ['-s', '-o', '/dev/null', '--max-time', String(seconds), '-w', '%{size_download} %{time_total}', `http://${wan.upAddr}:${FG_PORT}/`]);
        let out = '';
        curl.stdout!.on('data', (d: Buffer) => (out += d));
        curl.on('close', () => {
          const [size, time] = out.trim().split(' ').map(Number);
          resolve(size! / time!);
        });
      });

    node(wan.up, 'hq', background);
    wan.spawnIn(wan.up, 'python3', ['-c', FOREGROUND, String(FG_PORT), 'cubic']);
    await ready(wan.up, wan.upAddr);
    const alone = await foreground(12);
    t.diagnostic(`foreground alone: ${(alone / 1e6).toFixed(2)} MB/s (link ${LINK / 1e6} MB/s)`);
    assert.ok(alone > LINK * 0.7, 'the shaped link carries the foreground download');

    // A package big enough to outlast every phase.
    const file = writeRandomFileSync(path.join(dir, 'suite.bin'), 160e6);
    const pub = wan.runIn(wan.up, process.execPath, [CLI, 'publish', file, '--name', 'suite', '--version', '1', '-t', background, '--json'], env);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(wan.runIn(wan.up, process.execPath, [CLI, 'approve', 'suite@1', '-t', background], env).code, 0);
    let branch = node(wan.br, 'branch', background);
    await ready(wan.br, wan.brAddr);
    await waitFor('the branch to start receiving', () => ingress() > 1e6, 30_000, 200);
    await new Promise((r) => setTimeout(r, 5000));
    // Up to six 5 s windows, stopping at the first that reaches 80%: the controller probes above
    // the link and steps back, so a window sometimes falls in a step back (66-79% seen, more
    // often when the rest of the suite shares the two cores); "reaches" is the best window.
    const aloneWindows: number[] = [];
    while (aloneWindows.length < 6 && !aloneWindows.some((r) => r >= LINK * 0.8)) aloneWindows.push(await branchRate(5));
    const bgAlone = Math.max(...aloneWindows);
    t.diagnostic(`controller alone: ${JSON.stringify((JSON.parse(wan.runIn(wan.br, 'curl', ['-sf', `http://${wan.brAddr}:${PORT}/v1/status`]).stdout) as { rate: { background?: unknown } }).rate.background)}`);
    t.diagnostic(`background alone: ${(bgAlone / 1e6).toFixed(2)} MB/s = ${((bgAlone / LINK) * 100).toFixed(0)}% of the link (windows: ${aloneWindows.map((r) => `${((r / LINK) * 100).toFixed(0)}%`).join(', ')})`);
    assert.ok(bgAlone >= LINK * 0.8, 'alone on the link, background mode takes at least 80% of it');

    // A foreground download starts: background mode yields.
    const during = foreground(12);
    await new Promise((r) => setTimeout(r, 4000));
    const bgDuring = await branchRate(4);
    t.diagnostic(`controller during: ${JSON.stringify((JSON.parse(wan.runIn(wan.br, 'curl', ['-sf', `http://${wan.brAddr}:${PORT}/v1/status`]).stdout) as { rate: { background?: unknown } }).rate.background)}`);
    const fgShare = (await during) / alone;
    t.diagnostic(`with a foreground download: background ${(bgDuring / 1e6).toFixed(2)} MB/s, foreground ${(fgShare * 100).toFixed(0)}% of its rate alone`);
    assert.ok(fgShare >= 0.8, `the foreground download keeps at least 80% of its rate alone (${(fgShare * 100).toFixed(0)}%)`);
    assert.ok(bgDuring < bgAlone * 0.5, 'background mode fell back while the foreground download ran');

    // The foreground download is over: background mode climbs back (slowly, as a scavenger).
    await new Promise((r) => setTimeout(r, 6000));
    const bgAfter = await branchRate(4);
    t.diagnostic(`after: background ${(bgAfter / 1e6).toFixed(2)} MB/s`);
    assert.ok(bgAfter > bgDuring * 1.5, 'background mode climbed back once the foreground download ended');

    // The same with a fixed rate equal to the link: what background mode saves.
    branch.kill('SIGKILL');
    await new Promise((r) => branch.once('exit', r));
    branch = node(wan.br, 'branch', fixed);
    await ready(wan.br, wan.brAddr);
    await new Promise((r) => setTimeout(r, 4000));
    const fixedShare = (await foreground(12)) / alone;
    // Printed, not asserted: how a fixed rate fares depends on the upstream's own congestion
    // control against the desktop's (here the system default, BBR, against CUBIC in a deep
    // queue, which CUBIC mostly wins), not on anything Sluice decides.
    t.diagnostic(`with a fixed ${LINK_MBIT}Mbit/s instead: the foreground download gets ${(fixedShare * 100).toFixed(0)}% of its rate alone (background mode: ${(fgShare * 100).toFixed(0)}%)`);
    assert.ok(fixedShare > 0, 'the foreground download ran beside the fixed rate');
  });
});
