// IPPool, IPReservation and IPAMConfiguration.

import { cidrsOverlap, formatCidr, parseCidr, tryParseCidr, type Cidr } from '../cidr.js';
import { checkCidr, checkSelector } from '../formats.js';
import { show, type IssueSink } from '../issues.js';
import { IPAMCONFIGURATION, IPPOOL, IPRESERVATION } from '../kinds.js';
import type {
  IPAMConfigurationSpec,
  IPPoolAllowedUse,
  IPPoolSpec,
  IPReservationSpec,
  Resource,
} from '../resource.js';
import { any, arr, bool, forbidden, int, obj, strCheck, strEnum } from '../schema.js';
import type { KindModule } from './module.js';

export const ENCAPSULATION_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
export const DEFAULT_BLOCK_SIZE = { 4: 26, 6: 122 } as const;
export const BLOCK_SIZE_RANGE = { 4: [20, 32], 6: [116, 128] } as const;
const DEFAULT_ALLOWED_USES: IPPoolAllowedUse[] = ['Workload', 'Tunnel'];

// Addresses the kernel and Calico itself use on every link.
const LINK_LOCAL = { 4: parseCidr('169.254.0.0/16'), 6: parseCidr('fe80::/10') } as const;

const ipPoolSpecSchema = obj(
  {
    cidr: strCheck(checkCidr({ masked: true })),
    vxlanMode: strEnum(ENCAPSULATION_MODES),
    ipipMode: strEnum(ENCAPSULATION_MODES),
    natOutgoing: bool,
    disabled: bool,
    disableBGPExport: bool,
    blockSize: int(),
    nodeSelector: strCheck(checkSelector),
    namespaceSelector: strCheck(checkSelector),
    allowedUses: arr(strEnum(['Workload', 'Tunnel', 'LoadBalancer']), { unique: true }),
    assignmentMode: strEnum(['Automatic', 'Manual']),
    // Calico's APIv1 leftovers: the API has them, but refuses any value.
    ipip: forbidden('is an APIv1 field: use ipipMode'),
    'nat-outgoing': forbidden('is an APIv1 field: use natOutgoing'),
  },
  ['cidr'],
);

function encapEnabled(mode: string | undefined): boolean {
  return mode === 'Always' || mode === 'CrossSubnet';
}

function checkPool(pool: Resource<IPPoolSpec>, sink: IssueSink): void {
  const spec = pool.spec!;
  const cidr = parseCidr(spec.cidr);
  const family = cidr.family;
  const blockSize = spec.blockSize ?? DEFAULT_BLOCK_SIZE[family];
  const [minBlock, maxBlock] = BLOCK_SIZE_RANGE[family];
  if (blockSize < minBlock || blockSize > maxBlock) {
    sink.report(
      ['spec', 'blockSize'],
      `${blockSize} is out of range: IPv${family} block sizes are ${minBlock}-${maxBlock}`,
    );
  } else if (!spec.disabled && cidr.prefixLength > blockSize) {
    sink.report(
      ['spec', 'blockSize'],
      `a /${cidr.prefixLength} pool cannot hold /${blockSize} blocks: blockSize must be at least ${cidr.prefixLength}`,
    );
  }
  if (cidrsOverlap(cidr, LINK_LOCAL[family])) {
    sink.report(
      ['spec', 'cidr'],
      `${show(spec.cidr)} overlaps the link-local range ${formatCidr(LINK_LOCAL[family])}`,
    );
  }
  if (family === 6 && encapEnabled(spec.ipipMode)) {
    sink.report(['spec', 'ipipMode'], 'IPIP is not supported on an IPv6 pool: use Never');
  }
  if (encapEnabled(spec.ipipMode) && encapEnabled(spec.vxlanMode)) {
    sink.report(
      ['spec', 'vxlanMode'],
      `cannot be ${spec.vxlanMode} while ipipMode is ${spec.ipipMode}: a pool uses at most one encapsulation`,
    );
  }
  const uses = spec.allowedUses ?? [];
  if (uses.includes('LoadBalancer')) {
    if (uses.length > 1) {
      sink.report(['spec', 'allowedUses'], 'LoadBalancer cannot be combined with other uses');
    }
    if (encapEnabled(spec.ipipMode) || encapEnabled(spec.vxlanMode)) {
      sink.report(['spec', 'allowedUses'], 'a LoadBalancer pool cannot use IPIP or VXLAN');
    }
    if (spec.nodeSelector !== undefined && spec.nodeSelector !== 'all()') {
      sink.report(['spec', 'nodeSelector'], 'must be all() on a LoadBalancer pool');
    }
  }
}

function poolDefaults(pool: Resource<IPPoolSpec>): Resource<IPPoolSpec> {
  const spec = pool.spec ?? ({} as IPPoolSpec);
  const cidr = typeof spec.cidr === 'string' ? tryParseCidr(spec.cidr) : undefined;
  return {
    ...pool,
    spec: {
      ...spec,
      // Calico stores the normalised text ("fd00:0::/64" becomes "fd00::/64").
      ...(cidr ? { cidr: formatCidr(cidr) } : {}),
      ...(cidr && spec.blockSize === undefined
        ? { blockSize: DEFAULT_BLOCK_SIZE[cidr.family] }
        : {}),
      ipipMode: spec.ipipMode ?? 'Never',
      vxlanMode: spec.vxlanMode ?? 'Never',
      natOutgoing: spec.natOutgoing ?? false,
      disabled: spec.disabled ?? false,
      disableBGPExport: spec.disableBGPExport ?? false,
      nodeSelector: spec.nodeSelector || 'all()',
      allowedUses: spec.allowedUses?.length ? spec.allowedUses : [...DEFAULT_ALLOWED_USES],
      assignmentMode: spec.assignmentMode ?? 'Automatic',
    },
  };
}

function poolReplace(previous: Resource<IPPoolSpec>, next: Resource<IPPoolSpec>, sink: IssueSink) {
  const before = poolDefaults(previous).spec!;
  const after = poolDefaults(next).spec!;
  if (before.cidr !== after.cidr) {
    sink.report(
      ['spec', 'cidr'],
      `cannot be changed from ${show(previous.spec?.cidr)}: create a new pool instead`,
    );
  }
  if (before.blockSize !== after.blockSize) {
    sink.report(['spec', 'blockSize'], `cannot be changed from ${before.blockSize}`);
  }
  if (
    before.allowedUses?.includes('LoadBalancer') &&
    after.allowedUses?.some((u) => u !== 'LoadBalancer')
  ) {
    sink.report(
      ['spec', 'allowedUses'],
      'cannot be changed from LoadBalancer to Workload or Tunnel',
    );
  }
}

export const ipPoolModule: KindModule<IPPoolSpec> = {
  info: IPPOOL,
  spec: ipPoolSpecSchema,
  // Newer Calico records whether the pool passed its overlap check here.
  status: any,
  checkSemantics: checkPool,
  defaults: poolDefaults,
  checkReplace: poolReplace,
};

/** The parsed CIDR of a valid pool, or undefined. */
export function poolCidr(pool: Resource<IPPoolSpec>): Cidr | undefined {
  return typeof pool.spec?.cidr === 'string' ? tryParseCidr(pool.spec.cidr) : undefined;
}

export const ipReservationModule: KindModule<IPReservationSpec> = {
  info: IPRESERVATION,
  spec: obj({ reservedCIDRs: arr(strCheck(checkCidr()), { unique: true }) }),
};

export const ipamConfigurationModule: KindModule<IPAMConfigurationSpec> = {
  info: IPAMCONFIGURATION,
  spec: obj({
    strictAffinity: bool,
    maxBlocksPerHost: int(0, 1_000_000),
    autoAllocateBlocks: bool,
  }),
  checkName: (name) =>
    name === 'default'
      ? undefined
      : `${show(name)}: IPAMConfiguration is a singleton named "default"`,
  defaults: (config) => ({
    ...config,
    spec: {
      ...config.spec,
      strictAffinity: config.spec?.strictAffinity ?? false,
      maxBlocksPerHost: config.spec?.maxBlocksPerHost ?? 0,
      autoAllocateBlocks: config.spec?.autoAllocateBlocks ?? true,
    },
  }),
};
