// The standalone path: the plugin runs in this process, against a datastore
// it opens for the one call. Loaded lazily by main.ts only when no agent
// answers, so the thin path never pays for these imports.

import { oneShotContexts } from './context.js';
import { tortieIpamVerbs } from './ipam-plugin.js';
import { tortieVerbs } from './plugin.js';
import type { PluginName } from './protocol.js';
import { runSkel, type SkelInput, type SkelOutput } from './skel.js';

export const ABOUT: Record<PluginName, string> = {
  tortie: 'CNI plugin tortie: Calico-style routed workload networking',
  'tortie-ipam': 'CNI plugin tortie-ipam: addresses from Tortie IP pools',
};

export function runStandalone(plugin: PluginName, input: SkelInput): Promise<SkelOutput> {
  const contexts = oneShotContexts();
  const verbs = plugin === 'tortie' ? tortieVerbs({ contexts }) : tortieIpamVerbs(contexts);
  return runSkel(input, verbs, ABOUT[plugin]);
}
