import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocuments, type ParsedDocument } from '../model/documents.js';
import { CliError } from './context.js';

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

/**
 * Reads the documents named by `-f`: a file, every manifest in a directory
 * (sorted, not recursive, as calicoctl does), or `-` for standard input.
 */
export function readManifests(path: string, stdin: () => string = readStdin): ParsedDocument[] {
  if (path === '-') return parseDocuments(stdin(), '<stdin>');
  let files: string[];
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((name) => MANIFEST_EXTENSIONS.test(name))
          .sort()
          .map((name) => join(path, name))
      : [path];
  } catch (err) {
    throw new CliError(
      `${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  if (files.length === 0) throw new CliError(`${path}: no .yaml, .yml or .json files`);
  return files.flatMap((file) => parseDocuments(readFileSync(file, 'utf8'), file));
}

function readStdin(): string {
  return readFileSync(0, 'utf8');
}
