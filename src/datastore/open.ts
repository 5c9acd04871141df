import type { Datastore } from './types.js';

/** Where Tortie keeps its state when nothing else is configured. */
export const DEFAULT_DATASTORE_URL = 'sqlite:/var/lib/tortie/tortie.db';

const ACCEPTED_FORMS =
  'sqlite:PATH, etcd://HOST:PORT[,HOST:PORT...], etcds://HOST:PORT[,...][?ca=FILE&cert=FILE&key=FILE]';

export interface EtcdTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export type DatastoreSpec =
  { kind: 'sqlite'; path: string } | { kind: 'etcd'; endpoints: string[]; tls?: EtcdTls };

/**
 * Opens the datastore named by `url`, else by env TORTIE_DATASTORE, else the
 * default SQLite file. The etcd client is loaded only when asked for.
 */
export async function openDatastore(url?: string): Promise<Datastore> {
  const spec = parseDatastoreUrl(url ?? process.env['TORTIE_DATASTORE'] ?? DEFAULT_DATASTORE_URL);
  if (spec.kind === 'sqlite') {
    const { SqliteDatastore } = await import('./sqlite.js');
    return SqliteDatastore.open(spec.path);
  }
  const { EtcdDatastore } = await import('./etcd.js');
  return EtcdDatastore.open(spec.endpoints, spec.tls);
}

/**
 * Parses a datastore URL. etcds:// takes TLS files from the query string,
 * falling back to env TORTIE_ETCD_CA / TORTIE_ETCD_CERT / TORTIE_ETCD_KEY.
 */
export function parseDatastoreUrl(url: string, env = process.env): DatastoreSpec {
  const bad = (why: string) =>
    new Error(`invalid datastore URL "${url}": ${why}; accepted forms: ${ACCEPTED_FORMS}`);

  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw bad('missing file path');
    return { kind: 'sqlite', path };
  }

  const scheme = /^(etcds?):\/\/(.*)$/.exec(url);
  if (!scheme) throw bad('unknown scheme');
  const secure = scheme[1] === 'etcds';
  const [hostList = '', query] = (scheme[2] ?? '').split('?', 2);
  const endpoints = hostList.split(',').map((hostPort) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(hostPort);
    if (!m) throw bad(`bad endpoint "${hostPort}"`);
    const port = Number(m[2] ?? 2379);
    if (port < 1 || port > 65535) throw bad(`bad port in "${hostPort}"`);
    return `${secure ? 'https' : 'http'}://${m[1]}:${port}`;
  });

  const params = new URLSearchParams(query ?? '');
  for (const name of params.keys()) {
    if (!['ca', 'cert', 'key'].includes(name)) throw bad(`unknown parameter "${name}"`);
  }
  if (!secure) {
    if (params.size > 0) throw bad('TLS parameters need etcds://');
    return { kind: 'etcd', endpoints };
  }
  const tls: EtcdTls = {};
  const caFile = params.get('ca') ?? env['TORTIE_ETCD_CA'];
  const certFile = params.get('cert') ?? env['TORTIE_ETCD_CERT'];
  const keyFile = params.get('key') ?? env['TORTIE_ETCD_KEY'];
  if (caFile) tls.caFile = caFile;
  if (certFile) tls.certFile = certFile;
  if (keyFile) tls.keyFile = keyFile;
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) throw bad('cert and key go together');
  return { kind: 'etcd', endpoints, tls };
}
