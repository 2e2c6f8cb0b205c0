import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { multipartBody } from '../../src/cli/multipart.js';
import { ADMIN_TOKEN } from './cluster.js';

/** Publishes files over HTTP exactly as `sluice publish` does; returns status and JSON. */
export async function publish(baseUrl: string, meta: Record<string, unknown>, files: { path: string; size: number }[], token: string | null = ADMIN_TOKEN) {
  const mp = multipartBody(meta, files, () => {});
  const res = await request(`${baseUrl}/v1/packages`, {
    method: 'POST',
    headers: { 'content-type': mp.contentType, 'content-length': String(mp.length), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: Readable.from(mp.body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

export function writeFile(dir: string, name: string, content: Buffer): { path: string; size: number } {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return { path: p, size: content.length };
}

export async function adminPost(baseUrl: string, route: string, body: unknown, token: string | null = ADMIN_TOKEN) {
  const res = await request(`${baseUrl}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}
