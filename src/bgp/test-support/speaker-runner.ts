// Runs a BgpSpeaker in its own process (started inside a network namespace
// with `ip netns exec NS node --import tsx speaker-runner.ts`), driven by
// JSON lines on stdin:
//   {"id":1,"cmd":"start","args":{...SpeakerConfig}}
//   {"id":2,"cmd":"addPeer","args":{...PeerConfig}}
//   {"id":3,"cmd":"originate","args":{"prefix":"10.0.0.0/24","options":{}}}
//   {"id":4,"cmd":"withdraw","args":{"prefix":"10.0.0.0/24"}}
//   {"id":5,"cmd":"status"} | {"cmd":"routes"} | {"cmd":"locRibSize"} | {"cmd":"memory"}
//   {"id":6,"cmd":"waitRoutes","args":{"count":N}}   resolves when the Loc-RIB holds N
//   {"id":7,"cmd":"stop","args":{"graceful":true}}   then the process exits
// and answering {"id":..,"ok":true,"result":..} or {"id":..,"ok":false,"error":".."}.
// Events: {"event":"state","peer":..,"state":..,"info":..,"at":ms}.

import { createInterface } from 'node:readline';

import { BgpSpeaker, type PeerConfig, type SpeakerConfig } from '../speaker.js';

const speaker = new BgpSpeaker();
let routeChanges = 0;
speaker.onRouteChange((changes) => (routeChanges += changes.length));
speaker.onPeerStateChange((peer, state, info) =>
  write({ event: 'state', peer, state, info, at: Date.now() }),
);

function write(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const countWaiters: { count: number; resolve: (v: unknown) => void }[] = [];
setInterval(() => {
  for (const w of [...countWaiters]) {
    if (speaker.locRibSize >= w.count) {
      countWaiters.splice(countWaiters.indexOf(w), 1);
      w.resolve({ at: Date.now(), size: speaker.locRibSize });
    }
  }
}, 5).unref();

async function handle(cmd: string, args: Record<string, unknown>): Promise<unknown> {
  switch (cmd) {
    case 'start':
      return speaker.start(args as unknown as SpeakerConfig);
    case 'addPeer':
      return speaker.addPeer(args as unknown as PeerConfig);
    case 'removePeer':
      return speaker.removePeer(String(args['address']));
    case 'originate':
      return speaker.originate(String(args['prefix']), (args['options'] ?? {}) as object);
    case 'withdraw':
      return speaker.withdraw(String(args['prefix']));
    case 'status':
      return speaker.status();
    case 'routes':
      return speaker.routes();
    case 'locRibSize':
      return { size: speaker.locRibSize, routeChanges };
    case 'memory':
      if (typeof globalThis.gc === 'function') globalThis.gc();
      return process.memoryUsage();
    case 'waitRoutes':
      return new Promise((resolve) => countWaiters.push({ count: Number(args['count']), resolve }));
    case 'stop':
      await speaker.stop({ graceful: args['graceful'] === true });
      setTimeout(() => process.exit(0), 20);
      return undefined;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return;
  const { id, cmd, args } = JSON.parse(line) as {
    id: number;
    cmd: string;
    args?: Record<string, unknown>;
  };
  handle(cmd, args ?? {}).then(
    (result) => write({ id, ok: true, result }),
    (e: unknown) => write({ id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
// The parent going away ends us too.
process.stdin.on('end', () => process.exit(0));
write({ event: 'ready', pid: process.pid });
