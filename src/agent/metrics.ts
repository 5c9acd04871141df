// The agent's Prometheus metrics, in a registry of its own (several agents
// may live in one test process).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  /** From a datastore change arriving to the kernel matching it. */
  readonly syncLatency = new Histogram({
    name: 'tortie_agent_sync_latency_seconds',
    help: 'Time from a datastore update arriving to the dataplane being programmed for it',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'tortie_agent_apply_duration_seconds',
    help: 'Duration of one dataplane apply (all managers, fixed order)',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly routesProgrammed = new Gauge({
    name: 'tortie_agent_routes_programmed',
    help: 'Routes of the agent protocol in the kernel main table',
    registers: [this.registry],
  });
  readonly routesDesired = new Gauge({
    name: 'tortie_agent_routes_desired',
    help: 'Routes the calculation wants',
    registers: [this.registry],
  });
  readonly endpoints = new Gauge({
    name: 'tortie_agent_local_endpoints',
    help: 'Workload endpoints on this host',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly datastoreErrors = new Counter({
    name: 'tortie_agent_datastore_errors_total',
    help: 'Failed datastore operations (list, watch, write)',
    registers: [this.registry],
  });
  readonly kernelErrors = new Counter({
    name: 'tortie_agent_kernel_errors_total',
    help: 'Kernel changes that failed',
    registers: [this.registry],
  });
  readonly kernelChanges = new Counter({
    name: 'tortie_agent_route_changes_total',
    help: 'Routes replaced or deleted',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly problems = new Gauge({
    name: 'tortie_agent_problems',
    help: 'Problems the calculation reports (ipip pools, unroutable peers, bad values)',
    labelNames: ['kind', 'severity'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'tortie_agent_ready',
    help: '1 when ready',
    registers: [this.registry],
  });
  readonly inSync = new Gauge({
    name: 'tortie_agent_datastore_in_sync',
    help: '1 once the datastore has been read and while it is reachable',
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: 'tortie_agent_' });
  }
}
