/**
 * A simulated host's unicast routing table: connected routes (one per subnet of an interface
 * address) and static routes, looked up by longest-prefix match.
 *
 * Ties between routes of equal prefix length go to the one added first (connected routes are
 * added when the address is, so they usually win over a static route to the same prefix). There
 * is no routing protocol: multi-hop topologies are configured with static routes and a default
 * route (prefix length 0).
 */

import type { IfaceName } from '../../src/port.ts';
import { formatIpv4, type Ipv4Addr } from '../../src/wire/addr.ts';

/** Routes one host holds at most (STYLE.md 7); one more is a configuration error. */
export const ROUTES_MAX = 1024;

export type RouteOrigin = 'connected' | 'static';

export interface Route {
  /** Network address (host bits zero). */
  readonly dst: Ipv4Addr;
  readonly prefixLen: number;
  /** Next-hop gateway; absent when the destination is on the link. */
  readonly via?: Ipv4Addr;
  readonly iface: IfaceName;
  readonly origin: RouteOrigin;
}

/** The netmask of a prefix length, as an unsigned 32-bit number: 24 -> 0xffffff00. */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** The network address of `a` for a prefix length. */
export function networkOf(a: Ipv4Addr, prefixLen: number): Ipv4Addr {
  return ((a & prefixMask(prefixLen)) >>> 0) as Ipv4Addr;
}

/** Whether `a` lies in `net/prefixLen`. */
export function inPrefix(a: Ipv4Addr, net: Ipv4Addr, prefixLen: number): boolean {
  const m = prefixMask(prefixLen);
  return ((a & m) >>> 0) === ((net & m) >>> 0);
}

/** The directed broadcast address of a subnet (undefined for /31 and /32, which have none). */
export function directedBroadcast(a: Ipv4Addr, prefixLen: number): Ipv4Addr | undefined {
  if (prefixLen >= 31) return undefined;
  return ((a | ~prefixMask(prefixLen)) >>> 0) as Ipv4Addr;
}

export function isValidPrefixLen(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 32;
}

function sameRoute(a: Route, b: Route): boolean {
  return a.dst === b.dst && a.prefixLen === b.prefixLen && a.iface === b.iface && a.via === b.via;
}

export function formatRoute(r: Route): string {
  const via = r.via === undefined ? '' : ` via ${formatIpv4(r.via)}`;
  return `${formatIpv4(r.dst)}/${r.prefixLen}${via} dev ${r.iface} (${r.origin})`;
}

export class RouteTable {
  readonly #routes: Route[] = [];
  /** Addresses that keep each connected route, so two aliases in one subnet share it. */
  readonly #connectedRefs = new Map<Route, number>();

  /** Routes in the order they were added. */
  get routes(): readonly Route[] {
    return this.#routes;
  }

  /**
   * Add a static route. A prefix with host bits set, a bad prefix length or a duplicate is a
   * configuration error and throws.
   */
  addStatic(r: Omit<Route, 'origin'>): Route {
    const route: Route = { ...r, origin: 'static' };
    this.#check(route);
    if (this.#routes.some((x) => sameRoute(x, route))) throw new Error(`duplicate route ${formatRoute(route)}`);
    this.#push(route);
    return route;
  }

  /** Remove static routes matching dst/prefixLen (and iface/via when given); returns how many. */
  removeStatic(dst: Ipv4Addr, prefixLen: number, iface?: IfaceName, via?: Ipv4Addr): number {
    let n = 0;
    for (let i = this.#routes.length - 1; i >= 0; i--) {
      const r = this.#routes[i]!;
      if (r.origin !== 'static' || r.dst !== dst || r.prefixLen !== prefixLen) continue;
      if (iface !== undefined && r.iface !== iface) continue;
      if (via !== undefined && r.via !== via) continue;
      this.#routes.splice(i, 1);
      n++;
    }
    return n;
  }

  /** The connected route for an address on `iface` (shared by aliases in the same subnet). */
  addConnected(addr: Ipv4Addr, prefixLen: number, iface: IfaceName): void {
    const dst = networkOf(addr, prefixLen);
    const existing = this.#routes.find(
      (r) => r.origin === 'connected' && r.dst === dst && r.prefixLen === prefixLen && r.iface === iface,
    );
    if (existing !== undefined) {
      this.#connectedRefs.set(existing, (this.#connectedRefs.get(existing) ?? 0) + 1);
      return;
    }
    const route: Route = { dst, prefixLen, iface, origin: 'connected' };
    this.#check(route);
    this.#push(route);
    this.#connectedRefs.set(route, 1);
  }

  removeConnected(addr: Ipv4Addr, prefixLen: number, iface: IfaceName): void {
    const dst = networkOf(addr, prefixLen);
    const i = this.#routes.findIndex(
      (r) => r.origin === 'connected' && r.dst === dst && r.prefixLen === prefixLen && r.iface === iface,
    );
    if (i < 0) return;
    const route = this.#routes[i]!;
    const refs = (this.#connectedRefs.get(route) ?? 1) - 1;
    if (refs > 0) {
      this.#connectedRefs.set(route, refs);
      return;
    }
    this.#connectedRefs.delete(route);
    this.#routes.splice(i, 1);
  }

  /** Longest-prefix match; ties go to the route added first. */
  lookup(dst: Ipv4Addr): Route | undefined {
    let best: Route | undefined;
    for (const r of this.#routes) {
      if (best !== undefined && r.prefixLen <= best.prefixLen) continue;
      if (inPrefix(dst, r.dst, r.prefixLen)) best = r;
    }
    return best;
  }

  #check(r: Route): void {
    if (!isValidPrefixLen(r.prefixLen)) throw new Error(`bad prefix length ${r.prefixLen}`);
    if (networkOf(r.dst, r.prefixLen) !== r.dst) {
      throw new Error(`route ${formatRoute(r)}: host bits set in the destination`);
    }
  }

  #push(r: Route): void {
    if (this.#routes.length >= ROUTES_MAX) throw new Error(`more than ${ROUTES_MAX} routes`);
    this.#routes.push(r);
  }
}
