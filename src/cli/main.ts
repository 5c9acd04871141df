import { Command, CommanderError } from 'commander';
import { openDatastore } from '../datastore/open.js';
import type { Datastore } from '../datastore/types.js';
import { CliError, type CliContext } from './context.js';
import { registerIpamCommands } from './ipam.js';
import { registerLabCommands } from './lab.js';
import { registerNodeCommands } from './node.js';
import { registerPolicyCommands } from './policy.js';
import { registerResourceCommands } from './resource-commands.js';
import { VERSION } from './version.js';

/** Builds the `tortie` command tree around a context (tests pass their own). */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tortie')
    .description('Tortie: a container network where every host is a router')
    .option(
      '--datastore <url>',
      'sqlite:PATH or etcd://HOST:PORT[,HOST:PORT] (env TORTIE_DATASTORE)',
    )
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('version')
    .description('print the client version and the datastore in use')
    .action(async () => {
      ctx.stdout.write(`Client Version:    v${VERSION}\n`);
    });

  registerResourceCommands(program, ctx);
  registerIpamCommands(program, ctx);
  registerLabCommands(program, ctx);
  registerNodeCommands(program, ctx);
  registerPolicyCommands(program, ctx);
  return program;
}

/** The process context: the datastore is opened on first use from --datastore or the env. */
function processContext(
  datastoreUrl: () => string | undefined,
): CliContext & { close(): Promise<void> } {
  let opened: Promise<Datastore> | undefined;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    datastore: () => (opened ??= openDatastore(datastoreUrl())),
    close: async () => {
      if (opened) await (await opened).close();
    },
  };
}

/** Runs the CLI; returns the exit status (0 on success). */
export async function run(argv: string[], ctx?: CliContext): Promise<number> {
  let program: Command | undefined;
  const own = ctx
    ? undefined
    : processContext(() => program?.opts<{ datastore?: string }>().datastore);
  const context = ctx ?? own!;
  program = buildProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const text = errorText(err);
    if (text) context.stderr.write(`${text}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  } finally {
    await own?.close().catch(() => undefined);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv);
}
