/**
 * Debian control-file paragraphs (deb822), as `Release` and `Packages` indexes are written:
 * `Field: value` lines, continuation lines starting with a space or a tab (a line of " ."
 * stands for an empty line), paragraphs separated by blank lines, field names matched
 * without regard to case. Written here rather than taken from a package: the format is a
 * few rules, the registry's parsers are unmaintained or load whole files, and a Packages
 * index of the main archive (~50 MB) must be read as it streams.
 */
export type Paragraph = ReadonlyMap<string, string> & {
  /** The paragraph's lines as written (comments left out), without the blank line after it. */
  readonly text: string;
};

/** One field's value, by case-insensitive name. */
export const field = (p: Paragraph, name: string): string | undefined => p.get(name.toLowerCase());

/** A problem with its line number, for messages that say where. */
export class Deb822Error extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/**
 * Paragraphs of a text that arrives in chunks (a stream of a decompressed index), one at a
 * time: memory holds one paragraph and one partial line, whatever the index's size.
 * Limits guard against a hostile or broken index: a line, a paragraph and the number of
 * fields are bounded.
 */
export async function* paragraphs(chunks: AsyncIterable<string>, limits = { lineBytes: 1024 * 1024, fields: 512 }): AsyncGenerator<Paragraph> {
  let pending = '';
  let lineNo = 0;
  let current = new Map<string, string>();
  let lines: string[] = [];
  let last: string | undefined;
  const finish = function* (): Generator<Paragraph> {
    if (current.size) yield Object.assign(current, { text: lines.join('\n') });
    current = new Map();
    lines = [];
    last = undefined;
  };
  const take = function* (line: string): Generator<Paragraph> {
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') {
      yield* finish();
      return;
    }
    if (line.startsWith('#')) return;
    lines.push(line);
    if (line[0] === ' ' || line[0] === '\t') {
      if (last === undefined) throw new Deb822Error(lineNo, 'a continuation line before any field');
      const rest = line.slice(1);
      current.set(last, `${current.get(last)}\n${rest === '.' ? '' : rest}`);
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Deb822Error(lineNo, `expected "Field: value", got "${line.slice(0, 60)}"`);
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new Deb822Error(lineNo, `"${name.slice(0, 60)}" is not a field name`);
    if (current.has(name)) throw new Deb822Error(lineNo, `field "${name}" appears twice in one paragraph`);
    if (current.size >= limits.fields) throw new Deb822Error(lineNo, `more than ${limits.fields} fields in one paragraph`);
    current.set(name, line.slice(colon + 1).trim());
    last = name;
  };
  for await (const chunk of chunks) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      yield* take(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    if (pending.length > limits.lineBytes) throw new Deb822Error(lineNo + 1, `a line longer than ${limits.lineBytes} bytes`);
  }
  if (pending) yield* take(pending);
  yield* finish();
}

/** Every paragraph of a whole text (a Release file). */
export async function parseAll(text: string): Promise<Paragraph[]> {
  const out: Paragraph[] = [];
  for await (const p of paragraphs((async function* () {
    yield text;
  })())) out.push(p);
  return out;
}
