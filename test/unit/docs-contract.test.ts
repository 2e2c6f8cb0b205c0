import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PATHS } from '../../src/protocol/paths.js';
import { REPO_ROOT } from '../helpers/env.js';

const docs = readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'));
const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), 'utf8');
const allDocs = docs.map((f) => read(`docs/${f}`)).join('\n');

/** A route pattern as the documents write it: `:id` → ID, `*` → anything after the slash. */
function documentedForm(route: string): RegExp {
  const escaped = route
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[A-Z0-9_]+' : seg === '*' ? '\\S+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp('`(?:GET|HEAD|POST|PUT|DELETE)`?[ /`A-Z]*' + escaped + '(?![\\w/-])');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

describe('protocol/paths.ts is the one source of URLs, and docs/ documents every route', () => {
  it('every route in PATHS is documented with its method', () => {
    for (const [key, route] of Object.entries(PATHS)) {
      assert.match(allDocs, documentedForm(route), `PATHS.${key} (${route}) is not documented in docs/`);
    }
  });

  it('every /v1 route the HTTP API documents is one of PATHS', () => {
    const patterns = Object.values(PATHS).map((r) => new RegExp(`^${r.split('/').map((s) => (s.startsWith(':') ? '[^/]+' : s === '*' ? '.+' : s)).join('/')}$`));
    const documented = [...read('docs/http-api.md').matchAll(/`(?:GET|HEAD|POST|PUT|DELETE)`?(?: \/ `HEAD)? (\/v1\/[^\s`?,[]*)/g)].map((m) => m[1]!);
    assert.ok(documented.length > 15, 'the HTTP API lists its routes');
    for (const route of documented) assert.ok(patterns.some((p) => p.test(route)), `${route} is documented but not in PATHS`);
  });

  it('no source file outside protocol/paths.ts spells a /v1 URL', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) {
      if (file.endsWith(path.join('protocol', 'paths.ts'))) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*(\*|\/\/|\/\*)/.test(line)) return;
        if (/['"`}]\/?v1\//.test(line)) offenders.push(`${path.relative(REPO_ROOT, file)}:${i + 1}: ${line.trim().slice(0, 100)}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});

describe('README and docs/: every relative link leads somewhere', () => {
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
  const anchorsOf = (text: string) => new Set([...text.replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!)));

  it('files exist and anchors name a heading', () => {
    const broken: string[] = [];
    for (const rel of ['README.md', 'deploy/README.md', 'CHANGELOG.md', ...docs.map((f) => `docs/${f}`)]) {
      const text = read(rel).replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^(https?:|mailto:)/.test(target)) continue;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file ? path.join(path.dirname(rel), file) : rel;
        let exists = true;
        try {
          statSync(path.join(REPO_ROOT, resolved));
        } catch {
          exists = false;
        }
        if (!exists) broken.push(`${rel}: ${target} (no such file)`);
        else if (anchor && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) broken.push(`${rel}: ${target} (no such heading)`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('README is a front door: short, and links every document in docs/', () => {
    const readme = read('README.md');
    assert.ok(readme.split('\n').length <= 260, `README has ${readme.split('\n').length} lines`);
    for (const f of docs) assert.ok(readme.includes(`docs/${f}`), `README links docs/${f}`);
    assert.match(readme, /^## Architecture$/m);
  });
});
