// Runs the `tortie` CLI in-process, as a test would run the executable:
// the whole command tree, main.ts's exit statuses and error printing, with
// stdout and stderr captured.

import { Writable } from 'node:stream';
import type { Datastore } from '../../datastore/types.js';
import { run } from '../main.js';

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** A stream that appends every write to `sink.text` at once. */
function capture(sink: { text: string }): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      sink.text += chunk.toString();
      done();
    },
  });
}

export async function runCli(
  argv: string[],
  datastore: () => Promise<Datastore> = () =>
    Promise.reject(new Error('this test gives the CLI no datastore')),
): Promise<CliOutcome> {
  const out = { text: '' };
  const err = { text: '' };
  const code = await run(argv, { datastore, stdout: capture(out), stderr: capture(err) });
  return { code, stdout: out.text, stderr: err.text };
}
