import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { freePort, until } from './cluster.js';

/** True when a reference tool is on PATH; otherwise says how to get it. */
export function haveTool(cmd: string, install: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0) return true;
  process.stdout.write(`(reference tool "${cmd}" is missing: ${install}; skipping that comparison)\n`);
  return false;
}

/**
 * nginx serving `root` on a loopback port, as a plain static file server (sendfile on, one
 * worker); with `tls`, HTTPS with that certificate and key (the node's own, for a like
 * comparison), sessions cached as a server would.
 */
export async function startNginx(root: string, workDir: string, tls?: { cert: string; key: string }): Promise<{ url: string; workerPid: () => number; stop: () => Promise<void> }> {
  const port = await freePort();
  const prefix = path.join(workDir, 'nginx');
  mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { application/octet-stream bin; }
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/tmp;
  proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp;
  scgi_temp_path ${prefix}/tmp;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
${tls ? `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n    ssl_session_cache shared:tls:1m;\n` : ''}    root ${root};
    # The load generator's own ceiling: the cheapest answer nginx can give.
    location = /__ceiling { return 200 "ok"; }
  }
}
`,
  );
  // nginx workers run as an unprivileged user: let them into the (0700) temp directory.
  chmodSync(workDir, 0o755);
  chmodSync(root, 0o755);
  // Its own process group, so that stopping it reaches the worker too: a SIGKILL to the
  // master alone left its worker running, orphaned, into the benchmarks that followed.
  const child: ChildProcess = spawn('nginx', ['-p', prefix, '-c', conf], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // The group is gone already.
    }
  };
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dispatcher = tls ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  await until('nginx', async () => (await request(`${url}/`, { dispatcher }).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) > 0, 10_000);
  await dispatcher?.close();
  return {
    url,
    /** The one worker process, which serves every request (for CPU per request). */
    workerPid: () => Number(spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]),
    async stop() {
      // TERM: the master stops its worker and exits; whatever is left after 5 s is killed.
      group('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
      clearTimeout(timer);
      group('SIGKILL');
    },
  };
}
