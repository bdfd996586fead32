/**
 * IPv4 routing: connected routes of each interface, local addresses (delivered through loopback, as Linux's local
 * table does), and a default gateway. Longest prefix wins.
 */
export interface Route {
  readonly network: number;
  readonly prefixLength: number;
  readonly mask: number;
  readonly ifIndex: number;
  /** 0 for a connected route (the destination itself is the next hop). */
  readonly gateway: number;
}

export interface RouteResult {
  ifIndex: number;
  nextHop: number;
}

export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export class RouteTable {
  private routes: Route[] = [];
  /** Our own addresses → loopback interface index (packets to ourselves never touch the wire). */
  private readonly local = new Map<number, number>();
  private loopbackIndex = -1;

  add(route: Route): void {
    this.routes.push(route);
    // Longest prefix first, so the first match wins.
    this.routes.sort((a, b) => b.prefixLength - a.prefixLength);
  }

  removeInterface(ifIndex: number): void {
    this.routes = this.routes.filter((r) => r.ifIndex !== ifIndex);
    for (const [addr, i] of this.local) if (i === ifIndex) this.local.delete(addr);
    if (this.loopbackIndex === ifIndex) this.loopbackIndex = -1;
  }

  setLoopback(ifIndex: number): void {
    this.loopbackIndex = ifIndex;
  }

  addLocal(address: number): void {
    this.local.set(address, -1);
  }

  removeLocal(address: number): void {
    this.local.delete(address);
  }

  isLocal(address: number): boolean {
    return this.local.has(address) || (address >>> 24) === 127;
  }

  /** Writes the interface and next hop for `dst` into `out`; false if there is no route (ENETUNREACH). */
  lookup(dst: number, out: RouteResult): boolean {
    if (this.loopbackIndex >= 0 && this.isLocal(dst)) {
      out.ifIndex = this.loopbackIndex;
      out.nextHop = dst;
      return true;
    }
    for (const r of this.routes) {
      if (((dst & r.mask) >>> 0) === r.network) {
        out.ifIndex = r.ifIndex;
        out.nextHop = r.gateway || dst;
        return true;
      }
    }
    return false;
  }

  list(): readonly Route[] {
    return this.routes;
  }
}
