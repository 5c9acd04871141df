import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calico, manifestIssues, objectIssues } from './test-support.js';

const gnp = (spec: Record<string, unknown>, name = 'policy') =>
  calico('GlobalNetworkPolicy', name, spec);
const np = (spec: Record<string, unknown>, name = 'policy') =>
  calico('NetworkPolicy', name, spec, 'prod');
const ingress = (...rules: Record<string, unknown>[]) => gnp({ selector: 'all()', ingress: rules });
const egress = (...rules: Record<string, unknown>[]) => gnp({ selector: 'all()', egress: rules });

describe('rules: action and protocol', () => {
  it('needs an action from Allow, Deny, Log, Pass', () => {
    assert.deepEqual(objectIssues(ingress({ protocol: 'TCP' })), [
      'spec.ingress[0].action: is required',
    ]);
    assert.deepEqual(objectIssues(ingress({ action: 'allow' })), [
      'spec.ingress[0].action: "allow" is not one of Allow, Deny, Log, Pass',
    ]);
    for (const action of ['Allow', 'Deny', 'Log', 'Pass'])
      assert.deepEqual(objectIssues(ingress({ action })), []);
  });

  it('accepts protocol names and numbers 1-255', () => {
    for (const protocol of ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite', 6, 255, '17']) {
      assert.deepEqual(objectIssues(ingress({ action: 'Allow', protocol })), [], String(protocol));
    }
    assert.deepEqual(objectIssues(ingress({ action: 'Allow', protocol: 'tcp' })), [
      'spec.ingress[0].protocol: "tcp" is not a valid protocol: use TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255',
    ]);
    assert.equal(objectIssues(ingress({ action: 'Allow', protocol: 0 })).length, 1);
    assert.equal(objectIssues(ingress({ action: 'Allow', notProtocol: 256 })).length, 1);
  });

  it('takes ipVersion 4 or 6', () => {
    assert.deepEqual(objectIssues(ingress({ action: 'Allow', ipVersion: 5 })), [
      'spec.ingress[0].ipVersion: 5 is not one of 4, 6',
    ]);
  });
});

describe('rules: ports', () => {
  it('need a protocol with ports, with the exact line', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web
spec:
  ingress:
    - action: Allow
      destination:
        ports: [80]
`;
    assert.deepEqual(manifestIssues(text, 'web.yaml'), [
      "web.yaml:9: spec.ingress[0].destination.ports: need the rule's protocol to be TCP, UDP, SCTP or UDPLite (it is not set)",
    ]);
  });

  it('accept TCP, UDP, SCTP, UDPLite and their numbers', () => {
    for (const protocol of ['TCP', 'UDP', 'SCTP', 'UDPLite', 6, 17, 132, 136]) {
      assert.deepEqual(
        objectIssues(ingress({ action: 'Allow', protocol, source: { notPorts: [22] } })),
        [],
        String(protocol),
      );
    }
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'ICMP', source: { notPorts: [22] } })),
      [
        `spec.ingress[0].source.notPorts: need the rule's protocol to be TCP, UDP, SCTP or UDPLite (it is "ICMP")`,
      ],
    );
  });

  it('are numbers, ranges or named ports', () => {
    assert.deepEqual(
      objectIssues(
        ingress({
          action: 'Allow',
          protocol: 'TCP',
          destination: { ports: [80, '8080:8090', 'http', '443'] },
        }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(
        ingress({
          action: 'Allow',
          protocol: 'TCP',
          destination: { ports: [80, '90:80', 70000, 0, 'bad name!'] },
        }),
      ),
      [
        'spec.ingress[0].destination.ports[1]: "90:80" is not a valid port range: 90 is greater than 80',
        'spec.ingress[0].destination.ports[2]: 70000 is not a valid port: must be 1-65535',
        'spec.ingress[0].destination.ports[3]: 0 is not a valid port: must be 1-65535',
        'spec.ingress[0].destination.ports[4]: "bad name!" is not a valid port, port range or port name',
      ],
    );
  });
});

describe('rules: ICMP', () => {
  it('needs protocol ICMP or ICMPv6', () => {
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'TCP', icmp: { type: 8 } })),
      ["spec.ingress[0].icmp: needs the rule's protocol to be ICMP or ICMPv6"],
    );
    assert.deepEqual(objectIssues(ingress({ action: 'Allow', notICMP: { type: 8 } })), [
      "spec.ingress[0].notICMP: needs the rule's protocol to be ICMP or ICMPv6",
    ]);
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 } })),
      [],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 58, notICMP: { type: 128 } })),
      [],
    );
  });

  it('needs a type with a code, and both in range', () => {
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'ICMP', icmp: { code: 3 } })),
      ['spec.ingress[0].icmp.code: needs a type too: an ICMP code cannot be matched alone'],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'ICMP', icmp: { type: 255, code: 256 } })),
      [
        'spec.ingress[0].icmp.type: 255 is out of range: must be 0-254',
        'spec.ingress[0].icmp.code: 256 is out of range: must be 0-255',
      ],
    );
  });

  it('ties ICMP to IPv4 and ICMPv6 to IPv6', () => {
    assert.deepEqual(objectIssues(ingress({ action: 'Allow', protocol: 'ICMP', ipVersion: 6 })), [
      'spec.ingress[0].ipVersion: must be 4 with protocol "ICMP"',
    ]);
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', notProtocol: 'ICMPv6', ipVersion: 4 })),
      ['spec.ingress[0].ipVersion: must be 6 with notProtocol "ICMPv6"'],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', protocol: 'ICMPv6', ipVersion: 6 })),
      [],
    );
  });
});

describe('rules: nets', () => {
  it('must be valid, masked CIDRs', () => {
    assert.deepEqual(
      objectIssues(ingress({ action: 'Deny', source: { nets: ['10.0.0.0/33', '10.1.2.3/16'] } })),
      [
        'spec.ingress[0].source.nets[0]: "10.0.0.0/33" is not a valid CIDR',
        'spec.ingress[0].source.nets[1]: "10.1.2.3/16" has host bits set: the network is "10.1.0.0/16"',
      ],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Deny', source: { nets: ['10.1.0.0/16', '192.0.2.7/32'] } })),
      [],
    );
  });

  it('must match ipVersion and not mix families', () => {
    assert.deepEqual(
      objectIssues(
        ingress({ action: 'Deny', ipVersion: 4, destination: { notNets: ['fd00::/8'] } }),
      ),
      ["spec.ingress[0].destination.notNets: has IPv6 CIDRs but the rule's ipVersion is 4"],
    );
    assert.deepEqual(
      objectIssues(
        ingress({
          action: 'Deny',
          source: { nets: ['10.0.0.0/8'] },
          destination: { nets: ['fd00::/8'] },
        }),
      ),
      [
        'spec.ingress[0].destination.nets: mixes IPv4 and IPv6 CIDRs in one rule: split the rule by IP version',
      ],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Deny', ipVersion: 6, source: { nets: ['fd00::/8'] } })),
      [],
    );
  });
});

describe('rules: selectors and services', () => {
  it('reject bad selectors with the column, and global() outside a namespaceSelector', () => {
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', source: { selector: "role = 'db'" } })),
      [
        `spec.ingress[0].source.selector: "role = 'db'" is not a valid selector: column 6: expected an operator (==, !=, in, not in, contains, starts with, ends with)`,
      ],
    );
    assert.deepEqual(objectIssues(ingress({ action: 'Allow', source: { selector: 'global()' } })), [
      "spec.ingress[0].source.selector: global() can only be used in a rule's namespaceSelector",
    ]);
    assert.deepEqual(
      objectIssues(
        ingress({ action: 'Allow', source: { namespaceSelector: 'global() && a == "b"' } }),
      ),
      [
        'spec.ingress[0].source.namespaceSelector: global() cannot be combined with other selectors',
      ],
    );
    assert.deepEqual(
      objectIssues(ingress({ action: 'Allow', source: { namespaceSelector: 'global()' } })),
      [],
    );
  });

  it('put services only on the far side, and alone', () => {
    assert.deepEqual(
      objectIssues(
        egress({
          action: 'Allow',
          destination: { services: { name: 'kube-dns', namespace: 'kube-system' } },
        }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(
        egress({
          action: 'Allow',
          protocol: 'UDP',
          destination: { services: { name: 'dns' }, ports: [53], nets: ['10.0.0.0/8'] },
        }),
      ),
      [
        'spec.egress[0].destination.services.namespace: is required in a GlobalNetworkPolicy',
        'spec.egress[0].destination.services: cannot be combined with nets or notNets in the same rule',
        "spec.egress[0].destination.ports: cannot be used with destination services: the service's own ports apply",
      ],
    );
    assert.deepEqual(
      objectIssues(
        ingress({ action: 'Allow', destination: { services: { name: 'web', namespace: 'a' } } }),
      ),
      ["spec.ingress[0].destination.services: is not allowed in an ingress rule's destination"],
    );
    assert.deepEqual(
      objectIssues(
        np({ egress: [{ action: 'Allow', destination: { services: { name: 'web' } } }] }),
      ),
      [],
    );
  });

  it('keep http to ingress Allow rules over TCP', () => {
    assert.deepEqual(
      objectIssues(
        ingress({
          action: 'Allow',
          http: { methods: ['GET'], paths: [{ exact: '/health' }, { prefix: '/api' }] },
        }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(
        egress({
          action: 'Deny',
          protocol: 'UDP',
          http: { paths: [{ exact: '/a', prefix: '/b' }, { prefix: 'api' }] },
        }),
      ),
      [
        'spec.egress[0].http: is only allowed in Allow rules',
        'spec.egress[0].http: is not allowed in egress rules',
        'spec.egress[0].protocol: must be TCP (or unset) in a rule with http',
        'spec.egress[0].http.paths[0]: set exact or prefix, not both',
        'spec.egress[0].http.paths[1]: "api" must start with "/" and contain no "?", "#" or space',
      ],
    );
  });
});

describe('policies', () => {
  it('check the policy selector, types and hints', () => {
    assert.deepEqual(objectIssues(gnp({ selector: 'app in {', types: ['Ingress', 'Ingress'] })), [
      `spec.selector: "app in {" is not a valid selector: column 9: expected a quoted string or }`,
      'spec.types[1]: "Ingress" is listed more than once',
    ]);
    assert.deepEqual(objectIssues(gnp({ types: ['ingress'] })), [
      'spec.types[0]: "ingress" is not one of Ingress, Egress',
    ]);
    assert.deepEqual(
      objectIssues(gnp({ performanceHints: ['AssumeNeededOnEveryNode'], order: 10.5 })),
      [],
    );
  });

  it('apply the preDNAT and doNotTrack rules of GlobalNetworkPolicy', () => {
    assert.deepEqual(
      objectIssues(
        gnp({ preDNAT: true, doNotTrack: true, egress: [{ action: 'Allow' }], types: ['Egress'] }),
      ),
      [
        'spec.preDNAT: cannot be true together with doNotTrack',
        'spec.egress: a preDNAT policy cannot have egress rules',
        "spec.types: a preDNAT policy cannot have type 'Egress'",
        'spec.applyOnForward: must be true when preDNAT or doNotTrack is true',
      ],
    );
    assert.deepEqual(
      objectIssues(gnp({ preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny' }] })),
      [],
    );
  });

  it('allow only GlobalNetworkPolicy fields on a GlobalNetworkPolicy', () => {
    assert.deepEqual(objectIssues(np({ preDNAT: true })), ['spec.preDNAT: unknown field']);
  });

  it('name policies "<name>" or "<tier>.<name>" in their own tier', () => {
    assert.deepEqual(objectIssues(gnp({ tier: 'security' }, 'security.allow-dns')), []);
    assert.deepEqual(objectIssues(gnp({ tier: 'security' }, 'allow-dns')), []);
    assert.deepEqual(objectIssues(gnp({}, 'default.allow-dns')), []);
    assert.deepEqual(objectIssues(gnp({}, 'security.allow-dns')), [
      'metadata.name: "security.allow-dns" starts with tier "security." but the policy is in tier "default": name it "default.allow-dns" or set spec.tier',
    ]);
    assert.deepEqual(objectIssues(gnp({}, 'a.b.c')), [
      `metadata.name: "a.b.c" is not a valid policy name: use lower case letters, digits and '-', with at most one '.' (after the tier's name)`,
    ]);
    assert.deepEqual(objectIssues(np({}, 'knp.default.from-k8s')), []);
  });

  it('take tier names without dots', () => {
    assert.deepEqual(objectIssues(gnp({ tier: 'my.tier' })), [
      `spec.tier: "my.tier" is not a valid name: use lower case letters, digits and '-', starting and ending with a letter or digit (tier names have no dots)`,
    ]);
  });
});

describe('Tier and Profile', () => {
  it('checks tier names and the fixed orders', () => {
    assert.deepEqual(
      objectIssues(calico('Tier', 'security', { order: 100, defaultAction: 'Pass' })),
      [],
    );
    assert.deepEqual(objectIssues(calico('Tier', 'sec.urity', { order: 100 })).length, 1);
    assert.deepEqual(objectIssues(calico('Tier', 'default', { order: 5 })), [
      "spec.order: the default tier's order is fixed at 1000000",
    ]);
    assert.deepEqual(objectIssues(calico('Tier', 'security', { defaultAction: 'Allow' })), [
      'spec.defaultAction: "Allow" is not one of Deny, Pass',
    ]);
  });

  it('checks profile rules and labels', () => {
    assert.deepEqual(
      objectIssues(
        calico('Profile', 'kns.default', {
          ingress: [{ action: 'Allow' }],
          egress: [{ action: 'Allow' }],
          labelsToApply: { 'pcns.projectcalico.org/name': 'default' },
        }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(
        calico('Profile', 'p', {
          ingress: [{ action: 'Allow', protocol: 'ICMP', destination: { ports: [1] } }],
        }),
      ),
      [
        `spec.ingress[0].destination.ports: need the rule's protocol to be TCP, UDP, SCTP or UDPLite (it is "ICMP")`,
      ],
    );
  });
});

describe('Kubernetes NetworkPolicy', () => {
  const knp = (spec: Record<string, unknown>) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web', namespace: 'prod' },
    spec,
  });

  it('accepts a typical policy', () => {
    const text = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        - ipBlock:
            cidr: 172.17.0.0/16
            except:
              - 172.17.1.0/24
        - namespaceSelector:
            matchLabels:
              project: myproject
        - podSelector:
            matchLabels:
              role: frontend
      ports:
        - protocol: TCP
          port: 6379
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 5978
          endPort: 6000
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('checks peers, ipBlocks and ports', () => {
    assert.deepEqual(
      objectIssues(
        knp({
          ingress: [
            {
              from: [
                {},
                {
                  ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16', '10.0.0.0/8'] },
                  podSelector: {},
                },
              ],
              ports: [
                { protocol: 'ICMP' },
                { port: 'http', endPort: 90 },
                { port: 100, endPort: 90 },
                { port: 'Not_A_Name' },
              ],
            },
          ],
        }),
      ),
      [
        'spec.ingress[0].ports[0].protocol: "ICMP" is not one of TCP, UDP, SCTP',
        `spec.ingress[0].ports[3].port: "Not_A_Name" is not a valid port name: may contain only lower case letters, digits and '-'`,
      ],
    );
    assert.deepEqual(
      objectIssues(
        knp({
          podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] },
          egress: [
            {
              to: [
                {},
                {
                  ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16', '10.0.0.0/8'] },
                  podSelector: {},
                },
              ],
              ports: [
                { port: 'http', endPort: 90 },
                { port: 100, endPort: 90 },
              ],
            },
          ],
        }),
      ),
      [
        'spec.podSelector.matchExpressions[0].values: must be non-empty for operator In',
        'spec.egress[0].to[0]: must set podSelector, namespaceSelector or ipBlock',
        'spec.egress[0].to[1]: may not set ipBlock together with podSelector or namespaceSelector',
        'spec.egress[0].to[1].ipBlock.except[0]: "11.0.0.0/16" must be strictly inside the block\'s cidr 10.0.0.0/8',
        'spec.egress[0].to[1].ipBlock.except[1]: "10.0.0.0/8" must be strictly inside the block\'s cidr 10.0.0.0/8',
        'spec.egress[0].ports[0].endPort: needs port to be a number',
        'spec.egress[0].ports[1].endPort: must be at least port (100)',
      ],
    );
  });

  it('has no Calico fields', () => {
    assert.deepEqual(objectIssues(knp({ selector: 'all()' })), ['spec.selector: unknown field']);
  });
});
