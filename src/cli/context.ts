import type { Datastore } from '../datastore/types.js';

/**
 * What every CLI command needs from its surroundings. Commands take it as a
 * parameter so tests can hand in a datastore and capture output without
 * spawning a process.
 */
export interface CliContext {
  /** Opens (once) the datastore named by --datastore / TORTIE_DATASTORE. */
  datastore(): Promise<Datastore>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** A failure the CLI reports as one line on stderr and a non-zero exit. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
