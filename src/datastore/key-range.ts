/**
 * The smallest string greater than every string that starts with `prefix`, in
 * code-point order (which is UTF-8 byte order, SQLite's BINARY collation), or
 * undefined when no such bound exists (empty prefix, or only U+10FFFF).
 *
 * `key >= prefix AND key < prefixEnd(prefix)` then selects exactly the keys
 * under `prefix` using the primary-key index.
 */
export function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix, (c) => c.codePointAt(0) ?? 0);
  while (codePoints.length > 0) {
    const last = codePoints.pop() ?? 0;
    if (last < 0x10ffff) {
      // Skip the surrogate range: those code points cannot appear in UTF-8.
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return String.fromCodePoint(...codePoints, next);
    }
  }
  return undefined;
}
