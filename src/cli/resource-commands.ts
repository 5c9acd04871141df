import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { kindOfResource, ResourceStore } from '../datastore/resources.js';
import { NotFoundError } from '../datastore/types.js';
import { documentFromObject } from '../model/documents.js';
import type { KindInfo } from '../model/kinds.js';
import { lookupKind } from '../model/kinds.js';
import type { Resource } from '../model/resource.js';
import { parseSelector, SelectorError } from '../model/selector.js';
import { renderTable } from './columns.js';
import { CliError, type CliContext } from './context.js';
import { readManifests } from './input.js';
import { jsonMergePatch } from './merge-patch.js';
import { planWrites, prepareManifests, type WriteMode } from './write-plan.js';

/** `apply|create|replace|delete|patch|label|validate|get`: calicoctl's resource verbs. */
export function registerResourceCommands(program: Command, ctx: CliContext): void {
  const print = (line: string) => ctx.stdout.write(line + '\n');

  for (const mode of ['apply', 'create', 'replace'] as const) {
    const cmd = program
      .command(mode)
      .description(`${describeMode[mode]} from YAML or JSON (multi-document)`)
      .requiredOption('-f, --filename <path>', 'a file, a directory of manifests, or - for stdin')
      .option('-n, --namespace <ns>', 'namespace for namespaced resources that name none');
    if (mode === 'create') cmd.option('--skip-exists', 'skip resources that already exist');
    cmd.action(async (opts: { filename: string; namespace?: string; skipExists?: boolean }) => {
      await writeManifests(ctx, mode, opts, print);
    });
  }

  program
    .command('validate')
    .description('check manifests without touching the datastore')
    .requiredOption('-f, --filename <path>', 'a file, a directory of manifests, or - for stdin')
    .option('-n, --namespace <ns>', 'namespace for namespaced resources that name none')
    .action((opts: { filename: string; namespace?: string }) => {
      const prepared = prepareManifests(readManifests(opts.filename), opts.namespace);
      for (const { resource } of prepared) print(`${describe(resource)} is valid`);
    });

  program
    .command('delete')
    .description('delete resources named in manifests, or KIND NAME')
    .argument('[kind]', 'resource kind (when not using -f)')
    .argument('[names...]', 'resource names')
    .option('-f, --filename <path>', 'a file, a directory of manifests, or - for stdin')
    .option('-n, --namespace <ns>', 'namespace of namespaced resources')
    .option('--skip-not-exists', 'do not fail on resources that do not exist')
    .action(async (kind: string | undefined, names: string[], opts: DeleteOptions) => {
      await deleteResources(ctx, kind, names, opts, print);
    });

  program
    .command('patch')
    .description('apply a JSON merge patch (RFC 7386) to one resource')
    .argument('<kind>')
    .argument('<name>')
    .requiredOption('-p, --patch <json>', 'the patch, e.g. \'{"spec":{"disabled":true}}\'')
    .option('-n, --namespace <ns>', 'namespace of a namespaced resource')
    .action(async (kind: string, name: string, opts: { patch: string; namespace?: string }) => {
      let patch: unknown;
      try {
        patch = JSON.parse(opts.patch);
      } catch (err) {
        throw new CliError(`--patch: not valid JSON: ${(err as Error).message}`);
      }
      await modifyOne(ctx, kind, name, opts.namespace, print, 'patched', (current) =>
        jsonMergePatch(current, patch),
      );
    });

  program
    .command('label')
    .description('add, change or remove a label on one resource')
    .argument('<kind>')
    .argument('<name>')
    .argument('<label>', 'key=value to set, or key with --remove')
    .option('-n, --namespace <ns>', 'namespace of a namespaced resource')
    .option('--overwrite', 'replace the value of an existing label')
    .option('--remove', 'remove the label')
    .action(async (kind: string, name: string, label: string, opts: LabelOptions) => {
      await modifyOne(ctx, kind, name, opts.namespace, print, 'labelled', (current) =>
        relabel(current, label, opts),
      );
    });

  program
    .command('get')
    .description('list or show resources')
    .argument('<kind>', 'resource kind: singular, plural or short name')
    .argument('[names...]', 'only these resources')
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds; default "default")')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-l, --selector <selector>', 'only resources whose labels match this selector')
    .option('-o, --output <format>', 'ps, wide, yaml or json', 'ps')
    .action(async (kind: string, names: string[], opts: GetOptions) => {
      ctx.stdout.write(await getResources(ctx, kind, names, opts));
    });
}

const describeMode: Record<WriteMode, string> = {
  apply: 'create or update resources',
  create: 'create resources',
  replace: 'replace existing resources',
};

function describe(resource: Resource): string {
  const ns = resource.metadata.namespace ? `${resource.metadata.namespace}/` : '';
  return `${resource.kind}(${ns}${resource.metadata.name})`;
}

async function writeManifests(
  ctx: CliContext,
  mode: WriteMode,
  opts: { filename: string; namespace?: string; skipExists?: boolean },
  print: (line: string) => void,
): Promise<void> {
  // Everything is parsed, validated and checked against the store before the
  // first write, so a bad document changes nothing.
  const prepared = prepareManifests(readManifests(opts.filename), opts.namespace);
  const store = new ResourceStore(await ctx.datastore());
  const plan = await planWrites(store, mode, prepared, { skipExists: Boolean(opts.skipExists) });
  let failures = 0;
  for (const step of plan) {
    const label = describe(step.resource);
    try {
      switch (step.action) {
        case 'create':
          await store.create(step.resource);
          print(`${label} created`);
          break;
        case 'update':
          await store.update(step.resource);
          print(`${label} ${mode === 'replace' ? 'replaced' : 'configured'}`);
          break;
        case 'unchanged':
          print(`${label} unchanged`);
          break;
        case 'skip':
          print(`${label} skipped: already exists`);
          break;
      }
    } catch (err) {
      failures++;
      ctx.stderr.write(`${label}: ${(err as Error).message}\n`);
    }
  }
  if (failures > 0) throw new CliError(`${failures} of ${plan.length} resources failed`);
}

interface DeleteOptions {
  filename?: string;
  namespace?: string;
  skipNotExists?: boolean;
}

async function deleteResources(
  ctx: CliContext,
  kind: string | undefined,
  names: string[],
  opts: DeleteOptions,
  print: (line: string) => void,
): Promise<void> {
  let targets: Target[];
  if (opts.filename) {
    if (kind) throw new CliError('give either -f or KIND NAME, not both');
    targets = prepareManifests(readManifests(opts.filename), opts.namespace).map(
      ({ resource }) => ({
        kind: kindOfResource(resource),
        name: resource.metadata.name,
        namespace: resource.metadata.namespace,
      }),
    );
  } else {
    if (!kind || names.length === 0) throw new CliError('delete needs -f FILE or KIND NAME...');
    const info = kindOrFail(kind);
    targets = names.map((name) => ({
      kind: info,
      name,
      namespace: namespaceOf(info, opts.namespace),
    }));
  }
  const store = new ResourceStore(await ctx.datastore());
  // Refuse the whole request if something is missing, unless told to skip it.
  const missing: string[] = [];
  for (const t of targets) {
    if (!(await store.get(t.kind, t.name, t.namespace))) missing.push(describeTarget(t));
  }
  if (missing.length > 0 && !opts.skipNotExists) {
    throw new CliError(`resource does not exist: ${missing.join(', ')}; nothing deleted`);
  }
  for (const t of targets) {
    try {
      await store.delete(t.kind, t.name, t.namespace);
      print(`${describeTarget(t)} deleted`);
    } catch (err) {
      if (err instanceof NotFoundError && opts.skipNotExists)
        print(`${describeTarget(t)} skipped: does not exist`);
      else throw err;
    }
  }
}

interface Target {
  kind: KindInfo;
  name: string;
  namespace?: string;
}

function describeTarget(t: Target): string {
  return `${t.kind.kind}(${t.namespace ? t.namespace + '/' : ''}${t.name})`;
}

/** Read-modify-validate-CAS for patch and label; retried when another writer wins. */
async function modifyOne(
  ctx: CliContext,
  kind: string,
  name: string,
  namespace: string | undefined,
  print: (line: string) => void,
  verb: string,
  change: (current: Resource) => unknown,
): Promise<void> {
  const info = kindOrFail(kind);
  const ns = namespaceOf(info, namespace);
  const store = new ResourceStore(await ctx.datastore());
  for (let attempt = 0; ; attempt++) {
    const current = await store.get(info, name, ns);
    if (!current)
      throw new CliError(
        `${describeTarget({ kind: info, name, namespace: ns })}: resource does not exist`,
      );
    const changed = change(structuredClone(current)) as Resource;
    const source = `${info.kind.toLowerCase()}/${name}`;
    const [prepared] = prepareManifests([documentFromObject(changed, source, 1)], ns);
    const [step] = await planWrites(store, 'replace', [prepared!], { skipExists: false });
    if (step!.action === 'unchanged') {
      print(`${describe(current)} unchanged`);
      return;
    }
    try {
      await store.update({
        ...step!.resource,
        metadata: { ...step!.resource.metadata, resourceVersion: current.metadata.resourceVersion },
      });
      print(`${describe(current)} ${verb}`);
      return;
    } catch (err) {
      if (attempt >= 10 || (err as Error).name !== 'ConflictError') throw err;
    }
  }
}

interface LabelOptions {
  namespace?: string;
  overwrite?: boolean;
  remove?: boolean;
}

function relabel(resource: Resource, label: string, opts: LabelOptions): Resource {
  const labels = { ...(resource.metadata.labels ?? {}) };
  if (opts.remove) {
    if (label.includes('=')) throw new CliError(`--remove takes a label key, not "${label}"`);
    if (!(label in labels))
      throw new CliError(`label "${label}" is not set on ${describe(resource)}`);
    delete labels[label];
  } else {
    const eq = label.indexOf('=');
    if (eq <= 0) throw new CliError(`label must be key=value, got "${label}"`);
    const key = label.slice(0, eq);
    const value = label.slice(eq + 1);
    if (key in labels && labels[key] !== value && !opts.overwrite) {
      throw new CliError(
        `label "${key}" is already set to "${labels[key]}"; use --overwrite to change it`,
      );
    }
    labels[key] = value;
  }
  return { ...resource, metadata: { ...resource.metadata, labels } };
}

interface GetOptions {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  output: string;
}

async function getResources(
  ctx: CliContext,
  kind: string,
  names: string[],
  opts: GetOptions,
): Promise<string> {
  const info = kindOrFail(kind);
  if (!['ps', 'wide', 'yaml', 'json'].includes(opts.output)) {
    throw new CliError(`-o: unknown output format "${opts.output}" (ps, wide, yaml or json)`);
  }
  let matches: ((labels: Record<string, string>) => boolean) | undefined;
  if (opts.selector !== undefined) {
    try {
      const selector = parseSelector(opts.selector);
      matches = (labels) => selector.matches(labels);
    } catch (err) {
      throw new CliError(`-l: ${err instanceof SelectorError ? err.message : String(err)}`);
    }
  }
  const store = new ResourceStore(await ctx.datastore());
  const namespace =
    info.namespaced && !opts.allNamespaces ? (opts.namespace ?? 'default') : undefined;
  let resources: Resource[];
  if (names.length > 0) {
    resources = [];
    for (const name of names) {
      const found = await store.get(info, name, namespace);
      if (!found)
        throw new CliError(
          `${describeTarget({ kind: info, name, namespace })}: resource does not exist`,
        );
      resources.push(found);
    }
  } else {
    resources = await store.list(info, namespace);
  }
  if (matches) resources = resources.filter((r) => matches!(r.metadata.labels ?? {}));

  if (opts.output === 'ps' || opts.output === 'wide') {
    return renderTable(
      info.kind,
      resources,
      opts.output === 'wide',
      info.namespaced && Boolean(opts.allNamespaces),
    );
  }
  const single = names.length === 1 ? resources[0] : undefined;
  const document = single ?? {
    apiVersion: info.apiVersion,
    kind: `${info.kind}List`,
    items: resources,
  };
  return opts.output === 'json' ? JSON.stringify(document, null, 2) + '\n' : toYaml(document);
}

function kindOrFail(kind: string): KindInfo {
  const info = lookupKind(kind);
  if (!info) throw new CliError(`unknown resource kind "${kind}"`);
  return info;
}

function namespaceOf(info: KindInfo, namespace: string | undefined): string | undefined {
  return info.namespaced ? (namespace ?? 'default') : undefined;
}
