import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/env.js';

/** The layers and roles as .dependency-cruiser.cjs declares them (the rules `npm test` checks). */
const { tiers, roles } = (createRequire(import.meta.url)(path.join(REPO_ROOT, '.dependency-cruiser.cjs')) as { layers: { tiers: string[][]; roles: { primary: string[]; downstream: string[] } } }).layers;
const doc = readFileSync(path.join(REPO_ROOT, 'docs/architecture.md'), 'utf8');
const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const src = path.join(REPO_ROOT, 'src');
const folders = readdirSync(src).filter((f) => statSync(path.join(src, f)).isDirectory()).sort();

/** The first fenced block after `heading` in `text`. */
function blockAfter(text: string, heading: string): string {
  const at = text.indexOf(heading);
  assert.ok(at >= 0, `"${heading}" is missing`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(m, `no block after "${heading}"`);
  return m[1]!.trimEnd();
}

const layersBlock = () => [`${tiers[0]!.join(' | ')} → ${tiers[1]!.join(' | ')} → ${tiers[2]!.join(' | ')} → ${tiers[3]!.join(' | ')}`, ...tiers.slice(4).map((t) => `            → ${t.join(' | ')}`)].join('\n');
const rolesBlock = () => [`primary only:     ${roles.primary.join(' | ')}`, `downstream only:  ${roles.downstream.join(' | ')}`, 'every node:       the rest'].join('\n');

/** `.ts` files under `dir`, relative to it. */
function tsFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(full, `${prefix}${name}/`);
    return name.endsWith('.ts') ? [`${prefix}${name}`] : [];
  });
}

/** The text of the `### ` section whose heading names `` `name` ``, up to the next heading. */
function section(name: string): string | undefined {
  const parts = doc.split(/^(?=#{2,3} )/m);
  return parts.find((p) => p.startsWith('### ') && p.split('\n')[0]!.includes(`\`${name}\``));
}

describe('docs/architecture.md cannot go stale', () => {
  it('draws the layers and roles from the dependency rules, and the README the same layers', () => {
    assert.equal(blockAfter(doc, '## Layers'), layersBlock());
    assert.equal(blockAfter(doc, '## Roles'), rolesBlock());
    assert.equal(blockAfter(readme, '## Architecture'), layersBlock(), 'README.md "Architecture"');
  });

  it('every folder of src/ is in a tier, and every folder of a tier exists', () => {
    const tiered = tiers.flat();
    const rootFiles = readdirSync(src).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    for (const f of folders) assert.ok(tiered.includes(f), `src/${f}/ is in no tier of .dependency-cruiser.cjs`);
    for (const t of tiered) assert.ok(folders.includes(t) || rootFiles.includes(t), `tier member ${t} is neither a folder nor a file of src/`);
    for (const role of [...roles.primary, ...roles.downstream]) assert.ok(folders.includes(role), `role folder ${role} exists`);
  });

  it('has one section per folder naming each of its files, and names no file a folder does not have', () => {
    for (const folder of folders) {
      const text = section(`${folder}/`);
      assert.ok(text, `no section for ${folder}/`);
      const files = tsFiles(path.join(src, folder));
      for (const f of files) assert.ok(text.includes(`\`${f}\``), `the section of ${folder}/ does not name ${f}`);
      const subfolders = new Set(files.filter((f) => f.includes('/')).map((f) => f.split('/')[0]!));
      for (const [, named] of text.matchAll(/`([a-z0-9-]+(?:\/[a-z0-9-]+)?\.ts)`/g)) {
        if (named!.includes('/') && !subfolders.has(named!.split('/')[0]!)) continue;
        assert.ok(files.includes(named!), `the section of ${folder}/ names ${named}, which ${folder}/ does not hold`);
      }
    }
    const top = section('src/');
    assert.ok(top, 'no section for the files at the top of src/');
    for (const f of readdirSync(src).filter((x) => x.endsWith('.ts'))) assert.ok(top.includes(`\`${f}\``), `src/${f} is not named`);
  });

  it('shows the graph `npm run architecture` prints', () => {
    const r = spawnSync('npm', ['run', '-s', 'architecture'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(blockAfter(doc, '## The graph'), r.stdout.trimEnd(), 'docs/architecture.md: paste what `npm run -s architecture` prints into the mermaid block');
  });
});
