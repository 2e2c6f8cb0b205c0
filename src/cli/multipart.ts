import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

/**
 * A multipart/form-data body streamed from files on disk (RFC 7578): a "meta" JSON field,
 * then one part per file. Built by hand rather than with FormData so the exact length is
 * known up front (the node can refuse an oversized upload at once) and every chunk passes
 * through one place where progress is counted.
 */
export function multipartBody(meta: unknown, files: readonly { path: string; size: number }[], onBytes: (n: number) => void) {
  const boundary = `----sluice${randomBytes(12).toString('hex')}`;
  const enc = (s: string) => Buffer.from(s, 'utf8');
  const metaPart = enc(`--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(meta)}\r\n`);
  const heads = files.map((f) => {
    const name = path.basename(f.path).replace(/["\r\n\\]/g, '_');
    return enc(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  });
  const crlf = enc('\r\n');
  const tail = enc(`--${boundary}--\r\n`);
  const length = metaPart.length + heads.reduce((n, h, i) => n + h.length + files[i]!.size + crlf.length, 0) + tail.length;
  async function* body(): AsyncGenerator<Uint8Array> {
    yield metaPart;
    for (const [i, f] of files.entries()) {
      yield heads[i]!;
      for await (const chunk of createReadStream(f.path, { highWaterMark: 1024 * 1024 })) {
        onBytes((chunk as Buffer).length);
        yield chunk as Buffer;
      }
      yield crlf;
    }
    yield tail;
  }
  return { contentType: `multipart/form-data; boundary=${boundary}`, length, body: body() };
}
