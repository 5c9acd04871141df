// A TCP-to-unix-socket relay, run inside a lab host namespace so that its
// processes reach a datastore listening on the root namespace's loopback:
//   node --import tsx loopback-relay.ts <listen host> <listen port> <unix socket>
// Every connection to host:port (in the namespace) is piped to the socket
// (on the shared filesystem). The other end decides whether to let it through.

import { connect, createServer } from 'node:net';

const [host = '127.0.0.1', port = '2379', socketPath = ''] = process.argv.slice(2);
if (socketPath === '') {
  process.stderr.write('usage: loopback-relay.ts HOST PORT UNIX_SOCKET\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(socketPath);
  client.pipe(upstream).pipe(client);
  const done = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', done);
  upstream.on('error', done);
  client.on('close', done);
  upstream.on('close', done);
});
server.listen(Number(port), host, () =>
  process.stderr.write(`relay ${host}:${port} -> ${socketPath}\n`),
);
process.on('SIGTERM', () => process.exit(0));
