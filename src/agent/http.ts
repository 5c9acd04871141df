// Health and metrics over HTTP on localhost, as Felix serves them:
//   health port   GET /liveness, GET /readiness   200 or 503, with a JSON reason
//                 GET /status                     the agent's status report
//   metrics port  GET /metrics                    Prometheus text format

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  liveness(): { ok: boolean; reason: string };
  readiness(): { ok: boolean; reason: string };
  status(): unknown;
}

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: Server, host: string, port: number): Promise<HttpEndpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function serveHealth(
  source: HealthSource,
  host: string,
  port: number,
): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    if (req.method !== 'GET') return reply(405, { error: 'GET only' });
    if (path === '/liveness' || path === '/readiness') {
      const r = path === '/liveness' ? source.liveness() : source.readiness();
      return reply(r.ok ? 200 : 503, r);
    }
    if (path === '/status') return reply(200, source.status());
    return reply(404, { error: `no ${path}; try /liveness, /readiness or /status` });
  });
  return listen(server, host, port);
}

export function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (err: Error) => {
        res.writeHead(500).end(`${err.message}\n`);
      },
    );
  });
  return listen(server, host, port);
}
