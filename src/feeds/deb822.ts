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

/** A line or a paragraph beyond the bounds the reader was given: too large rather than malformed. */
export class Deb822LimitError extends Deb822Error {}

/** What one paragraph may hold; beyond it the reader stops with a Deb822LimitError. */
export interface Deb822Limits {
  /** Bytes of one line. */
  readonly lineBytes: number;
  /** Fields of one paragraph. */
  readonly fields: number;
  /** Lines of one paragraph, continuation lines included. */
  readonly paragraphLines: number;
  /** Bytes of one paragraph, its line ends included. */
  readonly paragraphBytes: number;
}

/**
 * Bounds for a paragraph of a `Packages` index. The largest paragraphs of Debian's main
 * archive are tens of KB on a few dozen lines (a long Depends or Provides list on one line);
 * vendors that keep the long Description in the index add at most a few hundred lines. A
 * paragraph is held whole while it is parsed (and a new one until the sync appends it), so
 * 1 MiB and 20,000 lines are far above anything real and still keep a hostile paragraph to a
 * few MiB of memory.
 */
export const PACKAGES_LIMITS: Deb822Limits = { lineBytes: 1024 * 1024, fields: 512, paragraphLines: 20_000, paragraphBytes: 1024 * 1024 };

/**
 * Paragraphs of a text that arrives in chunks (a stream of a decompressed index), one at a
 * time: memory holds one paragraph and one partial line, whatever the index's size. Lines
 * are cut from the bytes and decoded one by one, so a value kept from a paragraph holds its
 * own line, never the chunk it came in. Limits guard against a hostile or broken index: a
 * line, a paragraph (in lines and in bytes) and the number of fields are bounded.
 */
export async function* paragraphs(chunks: AsyncIterable<Buffer | string>, limits: Deb822Limits = PACKAGES_LIMITS): AsyncGenerator<Paragraph> {
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let lineNo = 0;
  let current = new Map<string, string>();
  let lines: string[] = [];
  let bytes = 0;
  let last: string | undefined;
  /** The paragraph read so far, if any; the next one starts empty. */
  const finish = (): Paragraph | undefined => {
    const done = current.size ? Object.assign(current, { text: lines.join('\n') }) : undefined;
    current = new Map();
    lines = [];
    bytes = 0;
    last = undefined;
    return done;
  };
  /** Takes one line; returns the paragraph a blank line ends (a plain function: one call per line of an index). */
  const take = (line: string, size: number): Paragraph | undefined => {
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    // Only spaces and tabs make a blank line (deb822(5)), not every character trim() removes.
    if (/^[ \t]*$/.test(line)) return current.size ? finish() : undefined;
    if (line.startsWith('#')) return undefined;
    bytes += size + 1;
    if (lines.length >= limits.paragraphLines) throw new Deb822LimitError(lineNo, `a paragraph of more than ${limits.paragraphLines} lines`);
    if (bytes > limits.paragraphBytes) throw new Deb822LimitError(lineNo, `a paragraph of more than ${limits.paragraphBytes} bytes`);
    lines.push(line);
    if (line[0] === ' ' || line[0] === '\t') {
      if (last === undefined) throw new Deb822Error(lineNo, 'a continuation line before any field');
      const rest = line.slice(1);
      current.set(last, `${current.get(last)}\n${rest === '.' ? '' : rest}`);
      return undefined;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Deb822Error(lineNo, `expected "Field: value", got "${line.slice(0, 60)}"`);
    // The name runs up to the colon: no space before it, so "Filename :" is no Filename a
    // reader of the same stanza could take differently.
    const name = line.slice(0, colon).toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new Deb822Error(lineNo, `"${name.slice(0, 60)}" is not a field name`);
    if (current.has(name)) throw new Deb822Error(lineNo, `field "${name}" appears twice in one paragraph`);
    if (current.size >= limits.fields) throw new Deb822LimitError(lineNo, `more than ${limits.fields} fields in one paragraph`);
    current.set(name, line.slice(colon + 1).trim());
    last = name;
    return undefined;
  };
  for await (const piece of chunks) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(0x0a, start)) >= 0) {
      const size = partialBytes + nl - start;
      if (size > limits.lineBytes) throw new Deb822LimitError(lineNo + 1, `a line longer than ${limits.lineBytes} bytes`);
      // A newline byte never falls inside a UTF-8 sequence: each line decodes on its own.
      const line = partialBytes ? Buffer.concat([...partial, chunk.subarray(start, nl)]).toString('utf8') : chunk.toString('utf8', start, nl);
      partial = [];
      partialBytes = 0;
      start = nl + 1;
      const done = take(line, size);
      if (done) yield done;
    }
    if (start < chunk.length) {
      partial.push(chunk.subarray(start));
      partialBytes += chunk.length - start;
      if (partialBytes > limits.lineBytes) throw new Deb822LimitError(lineNo + 1, `a line longer than ${limits.lineBytes} bytes`);
    }
  }
  const tail = partialBytes ? take(Buffer.concat(partial).toString('utf8'), partialBytes) : undefined;
  if (tail) yield tail;
  const end = finish();
  if (end) yield end;
}

/** Every paragraph of a whole text (a Release file). */
export async function parseAll(text: string, limits: Deb822Limits = PACKAGES_LIMITS): Promise<Paragraph[]> {
  const out: Paragraph[] = [];
  for await (const p of paragraphs(
    (async function* () {
      yield Buffer.from(text);
    })(),
    limits,
  ))
    out.push(p);
  return out;
}
