/**
 * A child process for the CAS race: `cas-worker.ts <datastore-url> <key> <count>`.
 * Opens the store, prints "ready", waits for a line on stdin, then does `count`
 * read-modify-CAS increments of the integer at `key` (retrying on conflict),
 * and prints `{"done":true,"ms":..,"conflicts":..}`.
 */
import { openDatastore } from '../open.js';
import { ConflictError, type KeyValue } from '../types.js';
import { waitForGo } from './worker-protocol.js';

const [url, key, countArg] = process.argv.slice(2);
if (!url || !key || !countArg) {
  console.error('usage: cas-worker.ts <datastore-url> <key> <count>');
  process.exit(2);
}
const count = Number(countArg);
const ds = await openDatastore(url);
await waitForGo();

const started = performance.now();
let conflicts = 0;
let current: KeyValue | undefined = await ds.get(key);
for (let done = 0; done < count;) {
  if (!current) throw new Error(`${key} is missing`);
  try {
    current = await ds.update(key, String(Number(current.value) + 1), current.modRevision);
    done++;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    conflicts++;
    current = err.current;
  }
}
console.log(JSON.stringify({ done: true, ms: performance.now() - started, conflicts }));
await ds.close();
