// NetworkPolicy, GlobalNetworkPolicy, Profile and Tier.

import { checkLabelName, checkSelectorNoGlobal, DNS_SUBDOMAIN_MAX } from '../formats.js';
import { show, type IssueSink } from '../issues.js';
import { GLOBALNETWORKPOLICY, NETWORKPOLICY, PROFILE, TIER } from '../kinds.js';
import { labelsSchema } from '../meta.js';
import type {
  GlobalNetworkPolicySpec,
  NetworkPolicySpec,
  PolicyType,
  ProfileSpec,
  Resource,
  TierSpec,
} from '../resource.js';
import { any, arr, bool, num, obj, strCheck, strEnum, type Schema } from '../schema.js';
import type { KindModule } from './module.js';
import { checkRules, rulesSchema } from './rules.js';

export const DEFAULT_TIER = 'default';
/** Calico's fixed tier orders; a tier without an order sorts with the default tier. */
export const TIER_ORDERS: Readonly<Record<string, number>> = {
  'kube-admin': 1_000,
  default: 1_000_000,
  'kube-baseline': 10_000_000,
};
export const DEFAULT_TIER_ORDER = 1_000_000;
/** The label Calico puts on every policy, naming its tier. */
export const TIER_LABEL = 'projectcalico.org/tier';

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;
// "name" or "tier.name"; Kubernetes-derived and OpenStack policies keep their prefixes.
const NETWORK_POLICY_NAME = new RegExp(
  `^((${LABEL})(\\.${LABEL})?|((knp|ossg)\\.default\\.(${SUBDOMAIN})))$`,
);
const GLOBAL_POLICY_NAME = new RegExp(`^(${LABEL}\\.)?${LABEL}$`);
const FORMATTED_PREFIXES = [
  'knp.default.',
  'ossg.default.',
  'kcnp.kube-admin.',
  'kcnp.kube-baseline.',
];

function policyNameCheck(pattern: RegExp) {
  return (name: string): string | undefined => {
    if (name.length > DNS_SUBDOMAIN_MAX) {
      return `${show(name)} is too long: at most ${DNS_SUBDOMAIN_MAX} characters`;
    }
    return pattern.test(name)
      ? undefined
      : `${show(name)} is not a valid policy name: use lower case letters, digits and '-', with at most one '.' (after the tier's name)`;
  };
}

const tierRef = strCheck((tier) => {
  const problem = checkLabelName(tier);
  return problem && `${problem} (tier names have no dots)`;
});

const policyTypes = arr(strEnum(['Ingress', 'Egress']), { maxItems: 2, unique: true });
const performanceHints = arr(strEnum(['AssumeNeededOnEveryNode']), { unique: true });

const networkPolicyFields: Record<string, Schema> = {
  tier: tierRef,
  order: num,
  ingress: rulesSchema,
  egress: rulesSchema,
  selector: strCheck(checkSelectorNoGlobal),
  types: policyTypes,
  serviceAccountSelector: strCheck(checkSelectorNoGlobal),
  performanceHints,
};

const globalNetworkPolicyFields: Record<string, Schema> = {
  ...networkPolicyFields,
  doNotTrack: bool,
  preDNAT: bool,
  applyOnForward: bool,
  namespaceSelector: strCheck(checkSelectorNoGlobal),
};

/**
 * In Calico up to v3.31, a policy outside the default tier is named
 * "<tier>.<name>"; from v3.32 the plain name is enough. Both are accepted, but
 * a dotted name must name the policy's own tier.
 */
function checkTieredName(policy: Resource<NetworkPolicySpec>, sink: IssueSink): void {
  const name = policy.metadata.name;
  if (FORMATTED_PREFIXES.some((prefix) => name.startsWith(prefix))) return;
  const dot = name.indexOf('.');
  if (dot === -1) return;
  const tier = policy.spec?.tier || DEFAULT_TIER;
  const prefix = name.slice(0, dot);
  if (prefix !== tier) {
    sink.report(
      ['metadata', 'name'],
      `${show(name)} starts with tier "${prefix}." but the policy is in tier ${show(tier)}: name it "${tier}.${name.slice(dot + 1)}" or set spec.tier`,
    );
  }
}

function checkPolicy(
  policy: Resource<GlobalNetworkPolicySpec>,
  sink: IssueSink,
  global: boolean,
): void {
  checkTieredName(policy, sink);
  const spec = policy.spec ?? {};
  checkRules(spec.ingress, ['spec', 'ingress'], { direction: 'ingress', global }, sink);
  checkRules(spec.egress, ['spec', 'egress'], { direction: 'egress', global }, sink);
  if (!global) return;
  if (spec.doNotTrack && spec.preDNAT) {
    sink.report(['spec', 'preDNAT'], 'cannot be true together with doNotTrack');
  }
  if (spec.preDNAT && spec.egress?.length) {
    sink.report(['spec', 'egress'], 'a preDNAT policy cannot have egress rules');
  }
  if (spec.preDNAT && spec.types?.includes('Egress')) {
    sink.report(['spec', 'types'], "a preDNAT policy cannot have type 'Egress'");
  }
  if ((spec.doNotTrack || spec.preDNAT) && !spec.applyOnForward) {
    sink.report(['spec', 'applyOnForward'], 'must be true when preDNAT or doNotTrack is true');
  }
}

/**
 * Calico's rule for an empty `types`: Ingress if there are no egress rules
 * (even with no ingress rules either), Egress if there are only egress rules,
 * both if there are both.
 */
export function defaultPolicyTypes(spec: NetworkPolicySpec): PolicyType[] {
  if (spec.types?.length) return spec.types;
  if (!spec.egress?.length) return ['Ingress'];
  if (!spec.ingress?.length) return ['Egress'];
  return ['Ingress', 'Egress'];
}

function policyDefaults<S extends NetworkPolicySpec>(policy: Resource<S>): Resource<S> {
  const spec = (policy.spec ?? {}) as S;
  const tier = spec.tier || DEFAULT_TIER;
  return {
    ...policy,
    metadata: { ...policy.metadata, labels: { ...policy.metadata.labels, [TIER_LABEL]: tier } },
    spec: { ...spec, tier, types: [...defaultPolicyTypes(spec)] },
  };
}

export const networkPolicyModule: KindModule<NetworkPolicySpec> = {
  info: NETWORKPOLICY,
  spec: obj(networkPolicyFields),
  status: any,
  checkName: policyNameCheck(NETWORK_POLICY_NAME),
  checkSemantics: (policy, sink) => checkPolicy(policy, sink, false),
  defaults: policyDefaults,
};

export const globalNetworkPolicyModule: KindModule<GlobalNetworkPolicySpec> = {
  info: GLOBALNETWORKPOLICY,
  spec: obj(globalNetworkPolicyFields),
  status: any,
  checkName: policyNameCheck(GLOBAL_POLICY_NAME),
  checkSemantics: (policy, sink) => checkPolicy(policy, sink, true),
  defaults: policyDefaults,
};

export const profileModule: KindModule<ProfileSpec> = {
  info: PROFILE,
  spec: obj({ ingress: rulesSchema, egress: rulesSchema, labelsToApply: labelsSchema }),
  checkSemantics: (profile, sink) => {
    const spec = profile.spec ?? {};
    checkRules(spec.ingress, ['spec', 'ingress'], { direction: 'ingress', global: true }, sink);
    checkRules(spec.egress, ['spec', 'egress'], { direction: 'egress', global: true }, sink);
  },
};

export const tierModule: KindModule<TierSpec> = {
  info: TIER,
  spec: obj({ order: num, defaultAction: strEnum(['Deny', 'Pass']) }),
  checkName: (name) => {
    const problem = checkLabelName(name);
    return problem && `${problem} (tier names have no dots)`;
  },
  checkSemantics: (tier, sink) => {
    const fixed = TIER_ORDERS[tier.metadata.name];
    const order = tier.spec?.order;
    if (fixed !== undefined && order !== undefined && order !== fixed) {
      sink.report(['spec', 'order'], `the ${tier.metadata.name} tier's order is fixed at ${fixed}`);
    }
  },
  defaults: (tier) => ({
    ...tier,
    spec: {
      ...tier.spec,
      order: tier.spec?.order ?? TIER_ORDERS[tier.metadata.name] ?? DEFAULT_TIER_ORDER,
      defaultAction: tier.spec?.defaultAction ?? 'Deny',
    },
  }),
};
