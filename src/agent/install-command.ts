import path from 'node:path';

/** Shell-quotes one word: nothing inside single quotes is special to /bin/sh. */
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The install command with its placeholders replaced, in one pass over the template: a
 * value (a signed file name, a package id) is never searched for placeholders again, so a
 * file called `{file}` cannot leave a path unquoted.
 */
export function substitute(template: string, files: readonly string[], pkg: { id: string; name: string; version: string }): string {
  const values: Record<string, string> = {
    files: files.map(quote).join(' '),
    file: quote(files[0]!),
    dir: quote(path.dirname(files[0]!)),
    id: quote(pkg.id),
    name: quote(pkg.name),
    version: quote(pkg.version),
  };
  return template.replace(/\{(files|file|dir|id|name|version)\}/g, (_m, key: string) => values[key]!);
}
