// Truth tables: the cells of a reachability probe and how to print them, as
// the Kubernetes netpol e2e framework prints them: one matrix per protocol
// and port, sources down, destinations across.

export interface Cell {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp';
  port: number | undefined;
  expected: boolean;
  observed: boolean | undefined;
  /** What `policy explain` said, when asked. */
  explained?: boolean;
}

export const cellKey = (c: Pick<Cell, 'proto' | 'port'>) =>
  c.port === undefined ? c.proto : `${c.proto}/${c.port}`;

/**
 * Matrices of expected and observed verdicts: "." allowed, "X" denied;
 * a cell that differs is marked "!" (allowed but should not be) or "?"
 * (dropped but should not be) in the observed matrix.
 */
export function formatTruthTable(cells: readonly Cell[], pods: readonly string[]): string {
  const groups = new Map<string, Cell[]>();
  for (const c of cells) {
    const k = cellKey(c);
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const width = Math.max(...pods.map((p) => p.length)) + 1;
  const out: string[] = [];
  for (const [k, list] of groups) {
    const at = (src: string, dst: string) => list.find((c) => c.src === src && c.dst === dst);
    const header = ' '.repeat(width) + pods.map((p) => p.padStart(width)).join('');
    const matrix = (pick: (c: Cell) => string) => [
      header,
      ...pods.map(
        (src) =>
          src.padEnd(width) +
          pods
            .map((dst) => {
              const c = at(src, dst);
              return (c ? pick(c) : ' ').padStart(width);
            })
            .join(''),
      ),
    ];
    const expected = matrix((c) => (c.expected ? '.' : 'X'));
    const observed = matrix((c) =>
      c.observed === undefined
        ? '-'
        : c.observed === c.expected
          ? c.observed
            ? '.'
            : 'X'
          : c.observed
            ? '!'
            : '?',
    );
    out.push(`${k}: expected${' '.repeat(Math.max(1, header.length - k.length - 10))}   observed`);
    for (let i = 0; i < expected.length; i++)
      out.push(`${expected[i]!.padEnd(header.length)}   ${observed[i]}`);
    out.push('');
  }
  return out.join('\n');
}
