// Policy rules (Rule, EntityRule, ICMPFields, HTTPMatch), shared by
// NetworkPolicy, GlobalNetworkPolicy and Profile: their schema, and the
// cross-field rules Calico's validator applies to each rule.

import { tryParseCidr } from '../cidr.js';
import {
  checkCidr,
  checkName,
  checkNamespaceSelectorInRule,
  checkPort,
  checkProtocol,
  checkSelector,
  checkSelectorNoGlobal,
  isICMP,
  protocolHasPorts,
} from '../formats.js';
import { show, type FieldPath, type IssueSink } from '../issues.js';
import { annotationsSchema, checkAnnotationsSize } from '../meta.js';
import type { EntityRule, Rule } from '../resource.js';
import { arr, intEnum, int, intOrString, obj, str, strCheck, strEnum } from '../schema.js';

export const ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'] as const;

const icmpSchema = obj({ type: int(0, 254), code: int(0, 255) });
const netsSchema = arr(strCheck(checkCidr({ masked: true })), { maxItems: 256 });
const portsSchema = arr(intOrString(checkPort), { maxItems: 50 });

const entityRuleSchema = obj({
  nets: netsSchema,
  notNets: netsSchema,
  selector: strCheck(checkSelectorNoGlobal),
  notSelector: strCheck(checkSelectorNoGlobal),
  namespaceSelector: strCheck(checkNamespaceSelectorInRule),
  services: obj({ name: strCheck(checkName), namespace: strCheck(checkName) }),
  ports: portsSchema,
  notPorts: portsSchema,
  serviceAccounts: obj({ names: arr(str()), selector: strCheck(checkSelector) }),
});

export const ruleSchema = obj(
  {
    action: strEnum(ACTIONS),
    ipVersion: intEnum([4, 6]),
    protocol: intOrString(checkProtocol),
    notProtocol: intOrString(checkProtocol),
    icmp: icmpSchema,
    notICMP: icmpSchema,
    source: entityRuleSchema,
    destination: entityRuleSchema,
    http: obj({
      methods: arr(str(), { maxItems: 20, unique: true }),
      paths: arr(obj({ exact: str(), prefix: str() }), { maxItems: 20 }),
    }),
    metadata: obj({ annotations: annotationsSchema }),
  },
  ['action'],
);

export const rulesSchema = arr(ruleSchema, { maxItems: 1024 });

export type Direction = 'ingress' | 'egress';

export interface RuleContext {
  direction: Direction;
  /** GlobalNetworkPolicy: a service reference needs its namespace spelled out. */
  global: boolean;
}

/** Checks every rule of a list at `path` (e.g. ['spec', 'ingress']). */
export function checkRules(
  rules: Rule[] | undefined,
  path: FieldPath,
  context: RuleContext,
  sink: IssueSink,
): void {
  rules?.forEach((rule, i) => checkRule(rule, [...path, i], context, sink));
}

function checkRule(rule: Rule, path: FieldPath, context: RuleContext, sink: IssueSink): void {
  checkPortsNeedProtocol(rule, path, sink);
  checkICMP(rule, path, sink);
  checkNetFamilies(rule, path, sink);
  checkServices(rule, path, context, sink);
  checkHTTP(rule, path, context, sink);
  checkAnnotationsSize(rule.metadata?.annotations, [...path, 'metadata', 'annotations'], sink);
}

const SIDES = ['source', 'destination'] as const;

function checkPortsNeedProtocol(rule: Rule, path: FieldPath, sink: IssueSink): void {
  if (protocolHasPorts(rule.protocol)) return;
  const protocol = rule.protocol === undefined ? 'not set' : show(rule.protocol);
  for (const side of SIDES) {
    for (const field of ['ports', 'notPorts'] as const) {
      if (rule[side]?.[field]?.length) {
        sink.report(
          [...path, side, field],
          `need the rule's protocol to be TCP, UDP, SCTP or UDPLite (it is ${protocol})`,
        );
      }
    }
  }
}

function checkICMP(rule: Rule, path: FieldPath, sink: IssueSink): void {
  for (const field of ['icmp', 'notICMP'] as const) {
    const icmp = rule[field];
    if (!icmp) continue;
    if (!isICMP(rule.protocol)) {
      sink.report([...path, field], `needs the rule's protocol to be ICMP or ICMPv6`);
    }
    if (icmp.code !== undefined && icmp.type === undefined) {
      sink.report(
        [...path, field, 'code'],
        'needs a type too: an ICMP code cannot be matched alone',
      );
    }
  }
  for (const field of ['protocol', 'notProtocol'] as const) {
    const family = isICMP(rule[field]);
    if (family && rule.ipVersion !== undefined && rule.ipVersion !== family) {
      sink.report([...path, 'ipVersion'], `must be ${family} with ${field} ${show(rule[field])}`);
    }
  }
}

/** Nets must agree with ipVersion, and one rule may not mix IPv4 and IPv6. */
function checkNetFamilies(rule: Rule, path: FieldPath, sink: IssueSink): void {
  const seen = new Set<4 | 6>();
  for (const side of SIDES) {
    for (const field of ['nets', 'notNets'] as const) {
      const families = new Set<4 | 6>();
      for (const net of rule[side]?.[field] ?? []) {
        const cidr = tryParseCidr(net);
        if (cidr) families.add(cidr.family);
      }
      if (families.size === 0) continue;
      const fieldPath = [...path, side, field];
      for (const family of families) {
        if (rule.ipVersion !== undefined && family !== rule.ipVersion) {
          sink.report(
            fieldPath,
            `has IPv${family} CIDRs but the rule's ipVersion is ${rule.ipVersion}`,
          );
        }
      }
      const mixes = families.size > 1 || [...families].some((f) => seen.size > 0 && !seen.has(f));
      if (mixes)
        sink.report(
          fieldPath,
          'mixes IPv4 and IPv6 CIDRs in one rule: split the rule by IP version',
        );
      families.forEach((f) => seen.add(f));
    }
  }
}

function checkServices(rule: Rule, path: FieldPath, context: RuleContext, sink: IssueSink): void {
  for (const side of SIDES) {
    const entity = rule[side];
    if (!entity?.services) continue;
    const servicesPath = [...path, side, 'services'];
    const allowedSide = context.direction === 'ingress' ? 'source' : 'destination';
    if (side !== allowedSide) {
      sink.report(servicesPath, `is not allowed in an ${context.direction} rule's ${side}`);
    }
    if (!entity.services.name) sink.report([...servicesPath, 'name'], 'is required');
    else if (context.global && !entity.services.namespace) {
      sink.report([...servicesPath, 'namespace'], 'is required in a GlobalNetworkPolicy');
    }
    for (const conflict of conflictsWithServices(entity)) {
      sink.report(servicesPath, `cannot be combined with ${conflict} in the same rule`);
    }
    if (side === 'destination') {
      for (const field of ['ports', 'notPorts'] as const) {
        if (entity[field]?.length) {
          sink.report(
            [...path, side, field],
            "cannot be used with destination services: the service's own ports apply",
          );
        }
      }
    }
  }
}

function conflictsWithServices(entity: EntityRule): string[] {
  const conflicts: string[] = [];
  if (entity.namespaceSelector) conflicts.push('namespaceSelector');
  if (entity.selector || entity.notSelector) conflicts.push('selector or notSelector');
  if (entity.serviceAccounts) conflicts.push('serviceAccounts');
  if (entity.nets?.length || entity.notNets?.length) conflicts.push('nets or notNets');
  return conflicts;
}

function checkHTTP(rule: Rule, path: FieldPath, context: RuleContext, sink: IssueSink): void {
  if (!rule.http) return;
  const httpPath = [...path, 'http'];
  if (rule.action !== 'Allow') sink.report(httpPath, 'is only allowed in Allow rules');
  if (context.direction === 'egress') sink.report(httpPath, 'is not allowed in egress rules');
  if (rule.protocol !== undefined && rule.protocol !== 'TCP' && rule.protocol !== 6) {
    sink.report([...path, 'protocol'], 'must be TCP (or unset) in a rule with http');
  }
  rule.http.paths?.forEach((match, i) => {
    const matchPath = [...httpPath, 'paths', i];
    if (match.exact !== undefined && match.prefix !== undefined) {
      sink.report(matchPath, 'set exact or prefix, not both');
      return;
    }
    const value = match.exact ?? match.prefix;
    if (!value) sink.report(matchPath, 'needs exact or prefix');
    else if (!value.startsWith('/') || /[? #]/.test(value)) {
      sink.report(matchPath, `${show(value)} must start with "/" and contain no "?", "#" or space`);
    }
  });
}
