import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { exited, spawnCli } from '../helpers/cli.js';
import { ADMIN_TOKEN, makeCluster } from '../helpers/cluster.js';
import { onTeardown, waitFor } from '../helpers/env.js';

/** The deploy guide's promise: SIGTERM drains for up to 10 s. */
const DRAIN_MS = 10_000;

describe('a node told to stop', () => {
  it('stops within its drain whatever its connections do: an upload that never ends and a child\'s link that died in its TLS handshake do not hold it longer', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }], '', undefined, { tls: true });
    const hq = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: { ...c.env, SLUICE_TLS_DIR: c.secrets.tlsDir!, SLUICE_LOG_LEVEL: 'warn' } });
    onTeardown(() => hq.kill('SIGKILL'));
    const url = c.topology.nodes.get('hq')!.url;
    const port = Number(new URL(url).port);
    await waitFor('hq to listen', () => new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).on('error', () => resolve(false));
    }), 30_000);
    // A connection whose TLS handshake began and never finished: the peer's link went down.
    const sockets: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      // The first bytes of a ClientHello record, then silence.
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      sockets.push(s);
    }
    // An upload whose sender's link died after its first bytes: in flight until the drain ends.
    const upload = connectTls({ host: '127.0.0.1', port, ca: readFileSync(c.caPath), servername: 'localhost' });
    upload.on('error', () => undefined);
    await new Promise<void>((resolve) => upload.once('secureConnect', () => resolve()));
    upload.write(`POST /v1/packages HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n--b\r\n`);
    sockets.push(upload);
    onTeardown(() => sockets.forEach((s) => s.destroy()));
    const started = Date.now();
    hq.kill('SIGTERM');
    const stop = await Promise.race([exited(hq), new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), DRAIN_MS + 5000).unref())]);
    const tookMs = Date.now() - started;
    assert.notEqual(stop, 'late', `still running ${tookMs} ms after SIGTERM`);
    assert.equal((stop as { code: number | null }).code, 0, hq.output());
    assert.ok(tookMs < DRAIN_MS + 2000, `stopped after ${tookMs} ms; the drain is bounded by ${DRAIN_MS} ms`);
  });
});
