// The host agent (Felix's role): watch the datastore, calculate what this
// host should run, make the kernel match.
//
//   datastore ──► Syncer ──► CalcGraph ──► diff ──► Dataplane (managers, fixed order) ──► kernel
//                    │            │                       ▲ routes learned (proto 80)
//                    │            ├─► bgp ──► BgpAgent ───┘ speaker: peers, originated prefixes
//                    │            └─► tunnel address reconciler ──► Node (datastore)
//                    └─ in sync? ─────► first apply, then ready
//
// Startup: probe the kernel, find the host address, register the Node, read
// the whole datastore; only then read the kernel and converge, changing only
// what differs. Until the first apply the kernel is not touched at all.
//
// Afterwards: every batch of datastore changes is applied at once (one apply
// in flight, changes arriving meanwhile are folded into the next); interface
// events trigger an apply; a periodic resync re-reads the kernel and repairs
// drift. An apply that fails is retried with backoff; failing for longer
// than failureTimeoutMs makes the agent report itself not live.

import type { IpamGarbageCollector } from '../ipam/gc.js';
import { startIpamGc, type IpamGcConfig } from './ipam-gc.js';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { diffDesiredStates, emptyDesiredState } from '../calc/diff.js';
import { CALC_PREFIXES } from '../calc/decode.js';
import { CalcGraph } from '../calc/graph.js';
import type { BgpMode, DesiredState, KvUpdate } from '../calc/types.js';
import { Dataplane, type ApplyReport } from '../dataplane/dataplane.js';
import { run } from '../dataplane/ip.js';
import type { Kernel } from '../dataplane/kernel.js';
import { LinkMonitor } from '../dataplane/link-monitor.js';
import { VXLAN_DEVICE } from '../dataplane/vxlan-manager.js';
import { ResourceStore } from '../datastore/resources.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/allocator.js';
import type { FelixConfigurationSpec } from '../model/resource.js';
import {
  chooseHostAddress,
  describeMethod,
  type AutodetectMethod,
  type HostAddress,
} from './autodetect.js';
import { BgpAgent, type BgpAgentOptions } from './bgp.js';
import { serveHealth, serveMetrics, type HttpEndpoint } from './http.js';
import { AgentMetrics } from './metrics.js';
import { checkNameFree, reconcileTunnelAddress, registerNode } from './registration.js';
import { writeStatus, type AgentStatus } from './status.js';
import { Syncer } from './syncer.js';

export const AGENT_VERSION = '0.1.0';
export const DEFAULT_HEALTH_PORT = 9099;
export const DEFAULT_METRICS_PORT = 9091;

export interface AgentConfig {
  nodeName: string;
  /** The host address, or undefined to autodetect it with `autodetect`. */
  hostAddress: HostAddress | undefined;
  autodetect: AutodetectMethod;
  /** undefined: FelixConfiguration healthPort, else 9099; 0: any free port; -1: no health server. */
  healthPort?: number;
  /** undefined: FelixConfiguration prometheusMetricsPort, else 9091; 0: any free port; -1: none. */
  metricsPort?: number;
  healthHost?: string;
  /** How often the kernel is re-read and drift repaired (default 30 s). */
  resyncIntervalMs?: number;
  /** How long a stray workload route survives (default 10 s). */
  routeGraceMs?: number;
  /** Failing for longer than this makes liveness fail (default 60 s). */
  failureTimeoutMs?: number;
  /** Status is rewritten at least this often (default 30 s). */
  statusHeartbeatMs?: number;
  /** Follow interface events with `ip monitor link` (default true; tests with a fake kernel turn it off). */
  watchLinks?: boolean;
  /** Automatic IPAM garbage collection (leaks, orphan blocks); intervalMs 0 turns it off. */
  ipamGc?: IpamGcConfig;
  /** BGP: on, off, or auto (default: on once BGPConfiguration "default" exists). */
  bgp?: BgpMode;
  /** Seconds peers keep our routes while this agent restarts (default 120). */
  bgpRestartSeconds?: number;
}

/**
 * More work the agent runs beside its own managers, with the same
 * discipline: it watches `prefixes` too, gets every batch of datastore
 * updates (onUpdates says whether any was its business), and is applied —
 * before the routes — whenever dirty, and resynced with the rest.
 */
export interface AgentExtension {
  name: string;
  prefixes: readonly string[];
  hook: {
    onUpdates(updates: readonly KvUpdate[]): boolean;
    readonly dirty: boolean;
    resync(): void;
    /** Resolves to the failures (empty when all went in). */
    apply(): Promise<string[]>;
  };
}

export interface AgentDeps {
  datastore: Datastore;
  kernel: Kernel;
  log: Logger;
  metrics?: AgentMetrics;
  /**
   * Services the agent hosts once it runs (the CNI socket server); given a
   * function that says why the agent is not ready, or undefined when it is.
   */
  services?: (notReady: () => string | undefined) => Promise<{ close(): Promise<void> }>;
  /** E.g. policy enforcement (src/dataplane/policy/agent-hook.ts). */
  extensions?: AgentExtension[];
  /** BGP test hooks: next-hop resolution, the speaker, its timers. */
  bgp?: Omit<BgpAgentOptions, 'log' | 'onChange' | 'onStatusChange'>;
}

export function defaultNodeName(): string {
  return hostname().split('.')[0] ?? hostname();
}

function since(t: number): number {
  return Math.round((performance.now() - t) * 100) / 100;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly dataplane: Dataplane;
  readonly bgp: BgpAgent;
  private readonly log: Logger;
  private readonly ds: Datastore;
  private readonly kernel: Kernel;
  private calc: CalcGraph | undefined;
  private syncer: Syncer | undefined;
  private desired: DesiredState;
  private host: HostAddress | undefined;
  private readonly startedAt = new Date().toISOString();

  private inSync = false;
  private firstApplyDone = false;
  private datastoreDown: Error | undefined;
  private lastReport: ApplyReport | undefined;
  private failingSince: number | undefined;
  private consecutiveFailures = 0;
  private lastResync: AgentStatus['lastResync'];
  private lastApplyInfo: AgentStatus['lastApply'];
  private fatal: string | undefined;

  private applying = false;
  private again = false;
  private resyncRequested = false;
  private pendingSince: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private tunnelBusy = false;
  private tunnelDoneFor: string | undefined;
  private tunnelRetry: NodeJS.Timeout | undefined;
  private ipam: Ipam | undefined;
  private ipamGc: IpamGarbageCollector | undefined;

  private statusWriting = false;
  private statusAgain = false;
  private statusWrittenJson = '';
  private statusWrittenAt = 0;

  private health: HttpEndpoint | undefined;
  private metricsServer: HttpEndpoint | undefined;
  private services: { close(): Promise<void> } | undefined;
  private linkMonitor: LinkMonitor | undefined;
  private readonly servicesFactory: AgentDeps['services'];
  private readonly extensions: AgentExtension[];

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    this.ds = deps.datastore;
    this.kernel = deps.kernel;
    this.log = deps.log;
    this.metrics = deps.metrics ?? new AgentMetrics();
    this.servicesFactory = deps.services;
    this.extensions = deps.extensions ?? [];
    this.dataplane = new Dataplane(this.kernel, {
      routeTable: { graceMs: config.routeGraceMs ?? 10_000 },
    });
    this.desired = emptyDesiredState(config.nodeName);
    this.bgp = new BgpAgent({
      ...(config.bgpRestartSeconds !== undefined
        ? { restartSeconds: config.bgpRestartSeconds }
        : {}),
      ...deps.bgp,
      log: this.log,
      onChange: () => this.scheduleApply(),
      onStatusChange: () => void this.publishStatus(),
    });
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  get desiredState(): DesiredState {
    return this.desired;
  }

  /** Starts everything; resolves once the agent runs (not necessarily ready). */
  async start(): Promise<void> {
    const t0 = performance.now();
    const felix = await this.readFelixConfig();
    await this.startHttp(felix);
    const kernelHasIpip = await this.kernel.probeIpip();
    if (
      felix.ipForwarding !== 'Disabled' &&
      this.kernel.readSysctl('net.ipv4.ip_forward') === '0'
    ) {
      this.log.info('turning on IPv4 forwarding');
      this.kernel.writeSysctl('net.ipv4.ip_forward', '1');
    }
    this.host = this.config.hostAddress ?? (await this.autodetect());
    this.log.info(
      {
        node: this.config.nodeName,
        address: `${this.host.address}/${this.host.prefixLength}`,
        iface: this.host.iface,
        ipip: kernelHasIpip,
      },
      'host address',
    );
    await this.retryDatastore('registering the Node', async () => {
      await checkNameFree(this.ds, this.config.nodeName, this.host!);
      return registerNode(this.ds, this.config.nodeName, this.host!);
    });
    this.ipam = new Ipam(this.ds);
    this.ipamGc = startIpamGc(this.ds, this.config.nodeName, this.log, this.config.ipamGc);
    this.calc = new CalcGraph({
      nodeName: this.config.nodeName,
      kernelHasIpip,
      bgp: this.config.bgp ?? 'auto',
    });
    const prefixes = [
      ...new Set([...CALC_PREFIXES, ...this.extensions.flatMap((e) => e.prefixes)]),
    ];
    this.syncer = new Syncer(this.ds, prefixes, {
      onUpdates: (updates) => this.onUpdates(updates),
      onInSync: () => this.onInSync(t0),
      onConnectivity: (err) => this.onConnectivity(err),
    });
    this.syncer.start();
    if (this.config.watchLinks !== false) {
      this.linkMonitor = new LinkMonitor((ifaces) => {
        if (ifaces.some((i) => i.startsWith('cali') || i === VXLAN_DEVICE)) {
          this.dataplane.endpoints.linksChanged(ifaces);
          if (ifaces.includes(VXLAN_DEVICE)) this.dataplane.vxlan.resync();
          this.scheduleApply();
        }
      });
      this.linkMonitor.start();
    }
    if (this.config.resyncIntervalMs !== 0) {
      this.resyncTimer = setInterval(() => {
        this.resyncRequested = true;
        this.scheduleApply();
      }, this.config.resyncIntervalMs ?? 30_000);
    }
    this.statusTimer = setInterval(
      () => void this.publishStatus(),
      Math.min(this.config.statusHeartbeatMs ?? 30_000, 5_000),
    );
    if (this.servicesFactory)
      this.services = await this.servicesFactory(() => this.notReadyReason());
  }

  private async readFelixConfig(): Promise<FelixConfigurationSpec> {
    try {
      const store = new ResourceStore(this.ds);
      const [global, mine] = await Promise.all([
        store.get<FelixConfigurationSpec>('FelixConfiguration', 'default'),
        store.get<FelixConfigurationSpec>('FelixConfiguration', `node.${this.config.nodeName}`),
      ]);
      return { ...(global?.spec ?? {}), ...(mine?.spec ?? {}) };
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'cannot read FelixConfiguration; using default ports',
      );
      return {};
    }
  }

  private async startHttp(felix: FelixConfigurationSpec): Promise<void> {
    const host = this.config.healthHost ?? '127.0.0.1';
    const healthPort = this.config.healthPort ?? felix.healthPort ?? DEFAULT_HEALTH_PORT;
    if (healthPort >= 0 && felix.healthEnabled !== false) {
      this.health = await serveHealth(
        {
          liveness: () => this.liveness(),
          readiness: () => {
            const reason = this.notReadyReason();
            return { ok: reason === undefined, reason: reason ?? 'ready' };
          },
          status: () => this.status(),
        },
        host,
        healthPort,
      );
      this.log.info({ port: this.health.port, host }, 'health: /liveness /readiness /status');
    }
    const metricsPort =
      this.config.metricsPort ?? felix.prometheusMetricsPort ?? DEFAULT_METRICS_PORT;
    if (metricsPort >= 0) {
      this.metricsServer = await serveMetrics(this.metrics.registry, host, metricsPort);
      this.log.info({ port: this.metricsServer.port, host }, 'metrics: /metrics');
    }
  }

  private async autodetect(): Promise<HostAddress> {
    const method = this.config.autodetect;
    const addrs = await this.kernel.addresses();
    let source: string | undefined;
    if (method.kind === 'can-reach') {
      const out = await run('ip', ['-json', 'route', 'get', method.destination]);
      source = (JSON.parse(out.stdout) as { prefsrc?: string }[])[0]?.prefsrc;
    }
    const found = chooseHostAddress(addrs, method, source);
    if (!found) {
      throw new Error(
        `no IPv4 address found with --ip-autodetection-method ${describeMethod(method)} (interfaces: ${[...new Set(addrs.map((a) => a.dev))].join(', ')}); give one with --ip ADDR/LEN`,
      );
    }
    return found;
  }

  private async retryDatastore<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = err as Error;
        if (e.name === 'NodeConflictError' || this.stopped) throw err;
        this.metrics.datastoreErrors.inc();
        const delay = Math.min(5000, 200 * 2 ** Math.min(attempt, 5));
        this.log.warn({ err: e.message, attempt, retryInMs: delay }, `${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  // -------------------------------------------------------------------------
  // Datastore side

  private onUpdates(updates: KvUpdate[]): void {
    this.calc!.onUpdates(updates);
    let relevant = false;
    for (const ext of this.extensions) relevant = ext.hook.onUpdates(updates) || relevant;
    if (this.calc!.dirty || relevant) {
      this.pendingSince ??= performance.now();
      this.scheduleApply();
    }
  }

  private onInSync(t0: number): void {
    this.inSync = true;
    this.metrics.inSync.set(1);
    this.log.info(
      { sinceStartMs: since(t0), keys: this.calc!.blocks.size },
      'in sync with the datastore',
    );
    this.resyncRequested = true;
    this.scheduleApply();
  }

  private onConnectivity(err: Error | undefined): void {
    if (err) {
      this.metrics.datastoreErrors.inc();
      if (!this.datastoreDown) {
        this.log.warn(
          { err: err.message },
          'datastore unavailable; keeping the dataplane as it is',
        );
        this.metrics.inSync.set(0);
      }
      this.datastoreDown = err;
      this.probeTimer ??= setInterval(() => void this.probeDatastore(), 1000);
      return;
    }
    if (!this.datastoreDown) return;
    this.datastoreDown = undefined;
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.metrics.inSync.set(this.inSync ? 1 : 0);
    this.log.info('datastore reachable again; resyncing');
    this.resyncRequested = true;
    this.scheduleApply();
    void this.publishStatus(true);
  }

  private async probeDatastore(): Promise<void> {
    try {
      await this.ds.revision();
      this.onConnectivity(undefined);
    } catch {
      /* still down */
    }
  }

  // -------------------------------------------------------------------------
  // Applying

  private scheduleApply(delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      if (this.retryTimer) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.scheduleApply();
      }, delayMs);
      return;
    }
    if (this.applying) {
      this.again = true;
      return;
    }
    this.applying = true;
    setImmediate(() => void this.applyLoop());
  }

  private async applyLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.applyOnce();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.log.error({ err: (err as Error).stack }, 'apply crashed');
      this.scheduleApply(1000);
    } finally {
      this.applying = false;
    }
  }

  private async applyOnce(): Promise<void> {
    if (!this.inSync || !this.calc) return;
    const started = performance.now();
    const pendingSince = this.pendingSince;
    this.pendingSince = undefined;
    if (this.calc.dirty) {
      const next = this.calc.snapshot();
      this.dataplane.onUpdates(diffDesiredStates(this.desired, next));
      this.onDesiredChanged(this.desired, next);
      this.bgp.setDesired(next, this.desired);
      this.desired = next;
    }
    const resync = this.resyncRequested;
    if (resync) {
      this.resyncRequested = false;
      this.dataplane.resync();
      this.bgp.resync();
      for (const ext of this.extensions) ext.hook.resync();
    }
    // BGP: a restart keeps the routes it learnt before (graceful restart);
    // learned routes join the calculation's in the one route table.
    if (this.bgp.retainPending) this.bgp.retain(this.bgp.enabled ? await this.kernel.routes() : []);
    const bgpFailures = this.bgp.dirty
      ? await this.bgp.apply(this.dataplane.routes.table, this.desired.routes)
      : [];
    const extensions = this.extensions.filter((e) => e.hook.dirty);
    if (!this.dataplane.dirty && extensions.length === 0 && bgpFailures.length === 0) return;
    // Extensions (policy) go first: rules are in place before routes reach a new workload.
    const extensionFailures: string[] = [];
    for (const ext of extensions) {
      try {
        extensionFailures.push(...(await ext.hook.apply()).map((f) => `${ext.name}: ${f}`));
      } catch (err) {
        extensionFailures.push(`${ext.name}: ${(err as Error).message}`);
      }
    }
    const report = await this.dataplane.apply();
    report.failures.unshift(...extensionFailures, ...bgpFailures);
    this.lastReport = report;
    const kind = resync ? 'resync' : 'update';
    this.metrics.applyDuration.observe({ kind }, report.durationMs / 1000);
    if (pendingSince !== undefined)
      this.metrics.syncLatency.observe((performance.now() - pendingSince) / 1000);
    if (report.routesReplaced)
      this.metrics.kernelChanges.inc({ op: 'replace' }, report.routesReplaced);
    if (report.routesDeleted)
      this.metrics.kernelChanges.inc({ op: 'delete' }, report.routesDeleted);
    this.updateGauges();
    const at = new Date().toISOString();
    this.lastApplyInfo = {
      at,
      durationMs: Math.round(report.durationMs * 100) / 100,
      routesReplaced: report.routesReplaced,
      routesDeleted: report.routesDeleted,
    };
    if (resync) this.lastResync = { at, durationMs: Math.round(report.durationMs * 100) / 100 };
    const fields = {
      kind,
      durationMs: since(started),
      routesReplaced: report.routesReplaced,
      routesDeleted: report.routesDeleted,
      routesPending: report.routesPending,
      routes: this.dataplane.routes.table.desiredCount,
      endpoints: this.dataplane.endpoints.count,
    };
    if (report.failures.length > 0) {
      this.metrics.kernelErrors.inc(report.failures.length);
      this.consecutiveFailures++;
      this.failingSince ??= performance.now();
      this.log.warn(
        { ...fields, failures: report.failures.slice(0, 20) },
        'dataplane apply failed in part; retrying',
      );
      this.scheduleApply(Math.min(5000, 100 * 2 ** Math.min(this.consecutiveFailures, 6)));
    } else {
      this.consecutiveFailures = 0;
      this.failingSince = undefined;
      if (!this.firstApplyDone) this.log.info(fields, 'dataplane programmed; ready');
      else if (resync) this.log.info(fields, 'resync complete');
      else this.log.debug(fields, 'dataplane updated');
      this.firstApplyDone = true;
      if (report.routesPending > 0) this.scheduleApply(1000);
    }
    this.metrics.ready.set(this.notReadyReason() === undefined ? 1 : 0);
    void this.publishStatus();
  }

  private updateGauges(): void {
    this.metrics.routesDesired.set(this.dataplane.routes.table.desiredCount);
    this.metrics.routesProgrammed.set(this.dataplane.routes.table.programmedCount());
    this.metrics.endpoints.set({ state: 'total' }, this.dataplane.endpoints.count);
    this.metrics.endpoints.set({ state: 'ready' }, this.dataplane.endpoints.ready.size);
  }

  private onDesiredChanged(before: DesiredState, after: DesiredState): void {
    if (JSON.stringify(before.problems) !== JSON.stringify(after.problems)) {
      this.metrics.problems.reset();
      for (const p of after.problems)
        this.metrics.problems.inc({ kind: p.kind, severity: p.severity });
      for (const p of after.problems) {
        const known = before.problems.some(
          (q) => q.kind === p.kind && q.subject === p.subject && q.message === p.message,
        );
        if (!known)
          this.log[p.severity === 'error' ? 'error' : 'warn'](
            { kind: p.kind, subject: p.subject },
            p.message,
          );
      }
    }
    this.maybeReconcileTunnel(after);
  }

  /** Allocates or releases this host's VXLAN tunnel address when the pools call for it. */
  private maybeReconcileTunnel(d: DesiredState): void {
    const self = this.calc?.nodes.get(this.config.nodeName);
    const key = JSON.stringify([
      d.tunnelPools,
      self?.vxlanTunnelAddress ?? null,
      self?.vxlanMac ?? null,
    ]);
    if (this.tunnelDoneFor === key) return;
    if (d.tunnelPools.length === 0 && !self?.vxlanTunnelAddress) {
      this.tunnelDoneFor = key;
      return;
    }
    if (this.tunnelBusy || this.stopped) return;
    this.tunnelBusy = true;
    void (async () => {
      let failed = false;
      try {
        const r = await reconcileTunnelAddress(
          this.ds,
          this.ipam!,
          this.config.nodeName,
          d.tunnelPools,
        );
        this.tunnelDoneFor = key;
        if (r.changed)
          this.log.info(
            { tunnelAddress: r.address, mac: r.mac, pools: d.tunnelPools },
            'VXLAN tunnel address updated on the Node',
          );
      } catch (err) {
        failed = true;
        this.metrics.datastoreErrors.inc();
        this.log.warn(
          { err: (err as Error).message },
          'cannot reconcile the VXLAN tunnel address; retrying',
        );
        clearTimeout(this.tunnelRetry);
        this.tunnelRetry = setTimeout(() => this.maybeReconcileTunnel(this.desired), 2000);
      } finally {
        this.tunnelBusy = false;
      }
      // The pools or the Node may have changed while this ran.
      if (!failed && !this.stopped) this.maybeReconcileTunnel(this.desired);
    })();
  }

  // -------------------------------------------------------------------------
  // Health and status

  notReadyReason(): string | undefined {
    if (this.fatal) return this.fatal;
    if (!this.inSync) return 'not yet in sync with the datastore';
    if (this.lastReport && this.lastReport.failures.length > 0)
      return `dataplane programming failing: ${this.lastReport.failures[0]}`;
    if (!this.firstApplyDone) return 'dataplane not yet programmed';
    return undefined;
  }

  liveness(): { ok: boolean; reason: string } {
    if (this.fatal) return { ok: false, reason: this.fatal };
    const timeout = this.config.failureTimeoutMs ?? 60_000;
    if (this.failingSince !== undefined && performance.now() - this.failingSince > timeout) {
      return {
        ok: false,
        reason: `dataplane programming has failed for over ${Math.round(timeout / 1000)} s: ${this.lastReport?.failures[0] ?? ''}`,
      };
    }
    return { ok: true, reason: 'live' };
  }

  status(): AgentStatus {
    const reason = this.notReadyReason();
    const dev = this.dataplane.vxlan.device;
    const last = this.lastReport;
    return {
      node: this.config.nodeName,
      pid: process.pid,
      version: AGENT_VERSION,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      live: this.liveness().ok,
      ready: reason === undefined,
      reason: reason ?? 'ready',
      inSync: this.inSync,
      datastore: this.datastoreDown ? 'unavailable' : 'connected',
      hostAddress:
        this.desired.hostAddress ??
        (this.host ? `${this.host.address}/${this.host.prefixLength}` : undefined),
      vxlan: {
        device: dev !== undefined,
        tunnelAddress: dev?.tunnelAddress,
        mac: dev?.mac,
        mtu: dev?.mtu,
      },
      routes: {
        desired: this.dataplane.routes.table.desiredCount,
        programmed: this.dataplane.routes.table.programmedCount(),
        pending: last?.routesPending ?? 0,
      },
      endpoints: {
        total: this.dataplane.endpoints.count,
        ready: this.dataplane.endpoints.ready.size,
      },
      problems: this.desired.problems,
      failures: last?.failures ?? [],
      lastApply: this.lastApplyInfo,
      lastResync: this.lastResync,
      ...(this.desired.bgp.enabled ? { bgp: this.bgp.status() } : {}),
    };
  }

  private async publishStatus(force = false): Promise<void> {
    if (this.stopped || !this.calc) return;
    if (this.statusWriting) {
      // Written again once the write in flight is done (BGP sessions change often).
      this.statusAgain = true;
      return;
    }
    const status = this.status();
    const { updatedAt: _u, lastApply: _a, lastResync: _r, ...stable } = status;
    const json = JSON.stringify(stable);
    const heartbeat = this.config.statusHeartbeatMs ?? 30_000;
    if (
      !force &&
      json === this.statusWrittenJson &&
      performance.now() - this.statusWrittenAt < heartbeat
    )
      return;
    if (this.datastoreDown && !force) return;
    this.statusWriting = true;
    try {
      await writeStatus(this.ds, status);
      this.statusWrittenJson = json;
      this.statusWrittenAt = performance.now();
    } catch (err) {
      this.metrics.datastoreErrors.inc();
      this.log.debug({ err: (err as Error).message }, 'cannot write status');
    } finally {
      this.statusWriting = false;
    }
    if (this.statusAgain) {
      this.statusAgain = false;
      void this.publishStatus();
    }
  }

  /** Stops watching and serving; the kernel is left as it is (traffic keeps flowing). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    clearInterval(this.probeTimer);
    clearInterval(this.statusTimer);
    clearTimeout(this.tunnelRetry);
    this.linkMonitor?.stop();
    await this.ipamGc?.stop();
    await this.services?.close().catch(() => undefined);
    await this.syncer?.stop();
    while (this.applying) await new Promise((r) => setTimeout(r, 10));
    await this.bgp.stop();
    await this.health?.close();
    await this.metricsServer?.close();
    await this.kernel.close();
  }
}
