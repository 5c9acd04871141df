import type { IEvent, IKeyValue } from 'etcd3';
import type { KeyValue, WatchEvent } from './types.js';

/** etcd's wire shapes (byte keys and values, revisions as decimal strings) to the Datastore's. */

export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
}

export function toWatchEvent(ev: IEvent): WatchEvent {
  const prev = ev.prev_kv ? toKeyValue(ev.prev_kv) : undefined;
  if (ev.type === 'Delete') {
    const key = ev.kv.key.toString();
    const revision = Number(ev.kv.mod_revision);
    return prev ? { type: 'delete', key, revision, prev } : { type: 'delete', key, revision };
  }
  const kv = toKeyValue(ev.kv);
  return prev ? { type: 'put', kv, prev } : { type: 'put', kv };
}
