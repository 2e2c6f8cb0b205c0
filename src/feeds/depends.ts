import { compareDebianVersions } from './debian-version.js';

/** Bounds on what one field is read into: groups, alternatives per group, relations in all (each distinct once). */
const MAX_GROUPS = 512;
const MAX_ALTERNATIVES = 64;
const MAX_RELATIONS = 1024;

/** One alternative of a Debian relationship: `libssl3 (>= 3.0.15-1~deb12u1)`. */
export interface Relation {
  readonly name: string;
  /** `<<`, `<=`, `=`, `>=`, `>>`; undefined: any version. */
  readonly op: '<<' | '<=' | '=' | '>=' | '>>' | undefined;
  readonly version: string | undefined;
  /** As written, for messages. */
  readonly text: string;
}

/**
 * A `Depends` or `Pre-Depends` value (Debian Policy 7.1): groups separated by commas, each
 * satisfied by one of its alternatives (`|`). Architecture qualifiers (`:any`), restriction
 * lists (`[amd64]`) and build profiles (`<nocheck>`) are dropped: a Packages index of one
 * architecture states the relations as they apply there. Unparseable alternatives are left
 * out: a check built on this warns, it never refuses.
 */
export function parseRelations(value: string | undefined): Relation[][] {
  if (!value) return [];
  const groups: Relation[][] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const group of value.replace(/\s+/g, ' ').split(',', MAX_GROUPS)) {
    const alternatives: Relation[] = [];
    for (const alt of group.split('|', MAX_ALTERNATIVES)) {
      // A vendor's field is bounded here, not trusted: Debian's longest have a few dozen relations.
      if (++total > MAX_RELATIONS) return groups;
      const text = alt.replace(/\[[^\]]*\]|<[^>]*>/g, '').trim();
      const m = /^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?$/.exec(text);
      if (!m) continue;
      // `<` and `>` are obsolete spellings of `<=` and `>=`.
      const op = m[2] === '<' ? '<=' : m[2] === '>' ? '>=' : (m[2] as Relation['op']);
      const key = `${m[1]} ${op ?? ''} ${m[3] ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      alternatives.push({ name: m[1]!, op, version: m[3], text });
    }
    if (alternatives.length) groups.push(alternatives);
  }
  return groups;
}

/** Whether `version` satisfies the relation's version constraint (dpkg's order). */
export function satisfies(r: Relation, version: string): boolean {
  if (!r.op || r.version === undefined) return true;
  const c = compareDebianVersions(version, r.version);
  switch (r.op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}
