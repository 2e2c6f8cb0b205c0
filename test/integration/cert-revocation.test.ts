import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { loadTopology } from '../../src/topology/load.js';
import { nodeCertPaths, revokeCertificates } from '../../src/tls/certificates.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { metric } from '../helpers/replication.js';

type Tree = { children: Record<string, { receivedAt?: string } | null> };

describe('node certificates can be revoked without replacing the CA', () => {
  it('a stolen pair pushes until "sluice cert revoke" lists it; then it is refused at the handshake while the reissued node carries on', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'leaf', upstream: 'hq' }], '', undefined, { tls: true, trust: 'crl: keys/tls/crl.pem' });
    const tlsDir = path.dirname(c.caPath);
    const crlPath = path.join(tlsDir, 'crl.pem');
    await revokeCertificates({ caDir: tlsDir, crlPath, certFiles: [], serials: [] });
    const topology = loadTopology(c.file);
    assert.equal(topology.trust.crlPath, crlPath);
    const hq = await startNode(topology, 'hq', c.secrets, {}, { tlsReloadMs: 100 });
    await startNode(topology, 'leaf', c.secrets, {}, { tlsReloadMs: 100 });

    // The leaf's pair, copied by a thief.
    const stolen = nodeCertPaths(tempDir(), 'leaf');
    const own = nodeCertPaths(tlsDir, 'leaf');
    copyFileSync(own.certPath, stolen.certPath);
    copyFileSync(own.keyPath, stolen.keyPath);
    const ca = readFileSync(c.caPath, 'utf8');
    const thief = new Agent({ connect: { ca, cert: readFileSync(stolen.certPath, 'utf8'), key: readFileSync(stolen.keyPath, 'utf8') } });
    const url = c.topology.nodes.get('hq')!.url;
    const push = async () => {
      try {
        const res = await request(`${url}/v1/status`, { dispatcher: thief, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node: 'leaf', epoch: `thief-${Date.now()}`, seq: 1, base: null, entries: {}, removed: [], stale: [] }) });
        await res.body.dump();
        return res.statusCode;
      } catch {
        return 0;
      }
    };
    assert.equal(await push(), 200, 'before revocation the stolen pair is as good as the node');

    // The operator reissues the leaf's pair, then revokes the old certificate.
    const reissue = await runCli(['cert', 'node', 'leaf', '--ca-dir', tlsDir, '--out', tlsDir, '-t', c.file]);
    assert.equal(reissue.code, 0, reissue.stderr);
    const revoke = await runCli(['cert', 'revoke', stolen.certPath, '--ca-dir', tlsDir]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /revoked [0-9a-f]+/);

    // New connections from the stolen pair are refused once the node reloads the list.
    await thief.close();
    const refusedWith = await waitFor('the stolen pair refused', async () => {
      const fresh = new Agent({ connect: { ca, cert: readFileSync(stolen.certPath, 'utf8'), key: readFileSync(stolen.keyPath, 'utf8') } });
      try {
        const res = await request(`${url}/v1/status`, { dispatcher: fresh, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node: 'leaf', epoch: `thief-${Date.now()}`, seq: 1, base: null, entries: {}, removed: [], stale: [] }) });
        await res.body.dump();
        return res.statusCode === 200 ? undefined : res.statusCode;
      } catch (err) {
        return (err as Error).message || 'refused';
      } finally {
        await fresh.destroy();
      }
    }, 15_000, 100);
    assert.ok(refusedWith);
    assert.ok((await metric(hq, 'sluice_tls_handshake_failures_total{reason="revoked"}')) >= 1);

    // The leaf, on its reissued pair, still reaches head office.
    const since = Date.now();
    await waitFor('a push from the reissued leaf', () => {
      const at = (hq.status() as unknown as Tree).children.leaf?.receivedAt;
      return at && Date.parse(at) > since;
    }, 15_000);

    // A list that cannot be read stops a node from starting: it would accept revoked pairs.
    writeFileSync(crlPath, 'not a list');
    const hqPair = nodeCertPaths(tlsDir, 'hq');
    const broken = await runCli(['check', '--node', 'hq', '-t', c.file], { env: { SLUICE_TLS_CERT: hqPair.certPath, SLUICE_TLS_KEY: hqPair.keyPath } });
    assert.notEqual(broken.code, 0);
    assert.match(broken.stderr, /TLS_INVALID.*trust\.crl/);
  });
});
