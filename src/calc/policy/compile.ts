// Rule compilation: a Calico Rule (of a policy or profile) into the IR the
// dataplane renders. Selectors become references to address sets (by
// selector id), named ports references to "ip . protocol . port" sets, nets
// canonical CIDRs, protocols numbers. The compiler does not know how sets are
// filled: the caller hands in `refs`, which registers what the rule uses.

import { formatCidr, tryParseCidr } from '../../model/cidr.js';
import { parsePort, protocolNumber } from '../../model/formats.js';
import type { EntityRule, Rule } from '../../model/resource.js';
import { parseSelector, type Selector } from '../../model/selector.js';
import { entityRuleSelector } from './selectors.js';
import type { IRAction, IRMatch, IRRule, PortRange, SetRef } from './types.js';

export interface SetRefs {
  /** The address sets of a selector (registering it). */
  selector(selector: Selector): SetRef;
  /** The named-port set of (selector or every entity, protocol, port name). */
  namedPort(selector: Selector | undefined, protocol: number, name: string): string;
}

const ACTIONS: Record<string, IRAction> = {
  Allow: 'allow',
  Deny: 'deny',
  Pass: 'pass',
  Log: 'log',
};

function canonicalNets(nets: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const n of nets ?? []) {
    const c = tryParseCidr(n);
    if (c) out.push(formatCidr(c));
  }
  return [...new Set(out)];
}

function ports(
  list: readonly (number | string)[] | undefined,
  protocol: number | undefined,
  selector: Selector | undefined,
  refs: SetRefs,
): { ranges: PortRange[]; named: string[] } {
  const ranges: PortRange[] = [];
  const named: string[] = [];
  for (const p of list ?? []) {
    const parsed = parsePort(p);
    if (typeof parsed === 'string') continue;
    if (parsed.name !== undefined) {
      if (protocol !== undefined) named.push(refs.namedPort(selector, protocol, parsed.name));
    } else {
      ranges.push({ min: parsed.min, max: parsed.max });
    }
  }
  return { ranges, named: [...new Set(named)] };
}

function match(
  entity: EntityRule | undefined,
  namespace: string | undefined,
  protocol: number | undefined,
  refs: SetRefs,
): IRMatch {
  const selector = entityRuleSelector(entity, namespace);
  const notSelector = entity?.notSelector ? parseSelector(entity.notSelector) : undefined;
  const p = ports(entity?.ports, protocol, selector, refs);
  const np = ports(entity?.notPorts, protocol, selector, refs);
  return {
    nets: canonicalNets(entity?.nets),
    notNets: canonicalNets(entity?.notNets),
    selector: selector ? refs.selector(selector) : undefined,
    notSelector: notSelector ? refs.selector(notSelector) : undefined,
    ports: p.ranges,
    namedPorts: p.named,
    notPorts: np.ranges,
    notNamedPorts: np.named,
  };
}

function unsupported(rule: Rule): string | undefined {
  if (rule.http) return 'http matches are not enforced by Tortie';
  if (rule.source?.services || rule.destination?.services) {
    return 'service matches are not enforced by Tortie';
  }
  return undefined;
}

function icmp(fields: Rule['icmp']): IRRule['icmp'] {
  if (!fields || fields.type === undefined) return undefined;
  return { type: fields.type, code: fields.code };
}

/** Compiles one rule; `index` is its place in the policy's list for the direction. */
export function compileRule(
  rule: Rule,
  index: number,
  namespace: string | undefined,
  refs: SetRefs,
): IRRule {
  const protocol = rule.protocol === undefined ? undefined : protocolNumber(rule.protocol);
  const notProtocol = rule.notProtocol === undefined ? undefined : protocolNumber(rule.notProtocol);
  return {
    index,
    action: ACTIONS[rule.action] ?? 'deny',
    ipVersion: rule.ipVersion,
    protocol,
    notProtocol,
    icmp: icmp(rule.icmp),
    notIcmp: icmp(rule.notICMP),
    src: match(rule.source, namespace, protocol, refs),
    dst: match(rule.destination, namespace, protocol, refs),
    unsupported: unsupported(rule),
  };
}

export function compileRules(
  rules: readonly Rule[],
  namespace: string | undefined,
  refs: SetRefs,
): IRRule[] {
  return rules.map((r, i) => compileRule(r, i, namespace, refs));
}
