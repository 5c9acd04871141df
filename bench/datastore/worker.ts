/**
 * A benchmark child process (see raceWorkers for the ready/go protocol):
 *   worker.ts cas   <mode> <target> <key> <durationMs>   CAS-increment own key
 *   worker.ts stamp <mode> <target> <key> <samples>      write wall-clock stamps, 1 ms apart
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForGo } from '../../src/datastore/test-support/worker-protocol.js';
import { casIncrementFor, openCasClient, wallNow, type CasMode } from './cas-clients.js';

const [role, mode, target, key, amount] = process.argv.slice(2);
if (!role || !mode || !target || !key || !amount) {
  console.error('usage: worker.ts cas|stamp <mode> <target> <key> <durationMs|samples>');
  process.exit(2);
}
const client = await openCasClient(mode as CasMode, target);
await client.seed(key);
await waitForGo();

if (role === 'cas') {
  console.log(JSON.stringify(await casIncrementFor(client, key, Number(amount))));
} else {
  for (let i = 0; i < Number(amount); i++) {
    await client.casWrite(key, () => String(wallNow()));
    await sleep(1);
  }
  console.log(JSON.stringify({ ops: Number(amount) }));
}
await client.close();
