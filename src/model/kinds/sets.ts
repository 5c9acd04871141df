// NetworkSet, GlobalNetworkSet and ClusterInformation.

import { checkCidr } from '../formats.js';
import { show, type IssueSink } from '../issues.js';
import { CLUSTERINFORMATION, GLOBALNETWORKSET, NETWORKSET } from '../kinds.js';
import type {
  ClusterInformationSpec,
  GlobalNetworkSetSpec,
  NetworkSetSpec,
  Resource,
} from '../resource.js';
import { arr, bool, obj, str, strCheck } from '../schema.js';
import type { KindModule } from './module.js';

// Calico's own label for a workload's namespace; a set may not claim it.
const NAMESPACE_LABEL = 'projectcalico.org/namespace';

const netsSchema = obj({ nets: arr(strCheck(checkCidr())) });

function checkSetLabels(set: Resource<unknown>, sink: IssueSink): void {
  if (set.metadata.labels && Object.hasOwn(set.metadata.labels, NAMESPACE_LABEL)) {
    sink.report(
      ['metadata', 'labels', NAMESPACE_LABEL],
      'is reserved for Calico and cannot be set on a network set',
    );
  }
}

export const networkSetModule: KindModule<NetworkSetSpec> = {
  info: NETWORKSET,
  spec: netsSchema,
  checkSemantics: checkSetLabels,
};

export const globalNetworkSetModule: KindModule<GlobalNetworkSetSpec> = {
  info: GLOBALNETWORKSET,
  spec: netsSchema,
  checkSemantics: checkSetLabels,
};

export const clusterInformationModule: KindModule<ClusterInformationSpec> = {
  info: CLUSTERINFORMATION,
  spec: obj({
    clusterGUID: str(),
    clusterType: str(),
    calicoVersion: str(),
    datastoreReady: bool,
    variant: str(),
  }),
  checkName: (name) =>
    name === 'default'
      ? undefined
      : `${show(name)}: ClusterInformation is a singleton named "default"`,
};
