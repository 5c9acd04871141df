// Every kind's module, by kind.

import type { KindInfo } from '../kinds.js';
import { bgpConfigurationModule, bgpPeerModule } from './bgp.js';
import { hostEndpointModule, nodeModule, workloadEndpointModule } from './endpoints.js';
import { felixConfigurationModule } from './felix.js';
import { ipamConfigurationModule, ipPoolModule, ipReservationModule } from './ipam.js';
import { k8sNetworkPolicyModule } from './k8s-policy.js';
import type { KindModule } from './module.js';
import {
  globalNetworkPolicyModule,
  networkPolicyModule,
  profileModule,
  tierModule,
} from './policy.js';
import { clusterInformationModule, globalNetworkSetModule, networkSetModule } from './sets.js';

const MODULES: readonly KindModule[] = [
  ipPoolModule,
  ipReservationModule,
  ipamConfigurationModule,
  nodeModule,
  workloadEndpointModule,
  hostEndpointModule,
  profileModule,
  tierModule,
  networkPolicyModule,
  globalNetworkPolicyModule,
  networkSetModule,
  globalNetworkSetModule,
  bgpPeerModule,
  bgpConfigurationModule,
  felixConfigurationModule,
  clusterInformationModule,
  k8sNetworkPolicyModule,
];

const BY_INFO = new Map<KindInfo, KindModule>(MODULES.map((module) => [module.info, module]));

/** The module for a registered kind; every kind in ALL_KINDS has one. */
export function moduleFor(info: KindInfo): KindModule {
  const module = BY_INFO.get(info);
  if (!module) throw new Error(`no validation module for kind ${info.kind} (${info.apiVersion})`);
  return module;
}
