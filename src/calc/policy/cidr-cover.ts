// Set contents for an nftables interval set, which refuses overlapping
// elements: of a multiset of CIDRs (several network sets may name the same
// or nested CIDRs), the set holds exactly the maximal ones — those not inside
// another present CIDR. Changes come out as element additions and removals.

import { makeCidr, networkMask, parseCidr, formatCidr, type Cidr } from '../../model/cidr.js';

export interface CoverDelta {
  add: string[];
  remove: string[];
}

function containing(cidr: Cidr, prefixLength: number): string {
  const mask = networkMask(cidr.family, prefixLength);
  return formatCidr(makeCidr(cidr.family, cidr.network & mask, prefixLength));
}

export class CidrCover {
  /** Every CIDR present, with how many times. */
  private readonly counts = new Map<string, number>();
  /** The maximal CIDRs (what the set holds). */
  private readonly cover = new Set<string>();
  /** Prefix lengths present among counts, for containment look-ups. */
  private readonly lengths = new Map<number, number>();

  get size(): number {
    return this.cover.size;
  }

  elements(): string[] {
    return [...this.cover].sort();
  }

  has(cidr: string): boolean {
    return this.counts.has(cidr);
  }

  /** The present CIDR strictly containing `c`, if any. */
  private containedBy(c: Cidr): string | undefined {
    for (const [len] of this.lengths) {
      if (len >= c.prefixLength) continue;
      const outer = containing(c, len);
      if (this.counts.has(outer)) return outer;
    }
    return undefined;
  }

  add(text: string, out: CoverDelta): void {
    const n = this.counts.get(text) ?? 0;
    this.counts.set(text, n + 1);
    if (n > 0) return;
    const c = parseCidr(text);
    this.lengths.set(c.prefixLength, (this.lengths.get(c.prefixLength) ?? 0) + 1);
    if (this.containedBy(c)) return;
    // It may swallow maximal CIDRs already held.
    for (const held of [...this.cover]) {
      const h = parseCidr(held);
      if (
        h.family === c.family &&
        h.prefixLength > c.prefixLength &&
        containing(h, c.prefixLength) === text
      ) {
        this.cover.delete(held);
        out.remove.push(held);
      }
    }
    this.cover.add(text);
    out.add.push(text);
  }

  remove(text: string, out: CoverDelta): void {
    const n = this.counts.get(text);
    if (n === undefined) return;
    if (n > 1) {
      this.counts.set(text, n - 1);
      return;
    }
    this.counts.delete(text);
    const c = parseCidr(text);
    const left = (this.lengths.get(c.prefixLength) ?? 1) - 1;
    if (left === 0) this.lengths.delete(c.prefixLength);
    else this.lengths.set(c.prefixLength, left);
    if (!this.cover.delete(text)) return;
    out.remove.push(text);
    // CIDRs it covered become maximal unless another covers them.
    const freed: Cidr[] = [];
    for (const other of this.counts.keys()) {
      const o = parseCidr(other);
      if (
        o.family === c.family &&
        o.prefixLength > c.prefixLength &&
        containing(o, c.prefixLength) === text
      ) {
        freed.push(o);
      }
    }
    for (const o of freed) {
      if (this.containedBy(o)) continue;
      const t = formatCidr(o);
      this.cover.add(t);
      out.add.push(t);
    }
  }
}
