/**
 * The SG node's invariants as one check, for the fuzz tests and `sg fuzz` to run after every
 * frame and timeout they hand to a node (STYLE.md 9: safety checkers run every step). Between two
 * calls into the node:
 *
 * - the link table passes its own `checkInvariants` (both indexes, the free list, the bounds);
 * - each group's balancer counts, for each server, exactly the links of that group and server in
 *   the table (`GroupBalancer.openLinks`, the count that `linkOpened` / `linkClosed` keep: every
 *   path that adds a link to the table or takes one out, including remaps, expiry, a SYN reusing
 *   a closing link's port, and a slave applying or resetting the master's records, tells the
 *   balancer; the windowed loads are a different quantity and are not compared);
 * - every counter is a non-negative integer;
 * - every queue is under its bound (`SgNode.checkBounds`, which the node's sweep also runs).
 *
 * It costs O(table capacity) per call and allocates, so the engine does not call it itself.
 * A breach throws an AssertionError naming the node.
 */

import { AssertionError } from '../assert.ts';
import type { SgNode } from './sg-node.ts';

/** What the check reads of a node (all of it public on SgNode). */
export type CheckedNode = Pick<SgNode, 'cfg' | 'links' | 'balancers' | 'counters' | 'checkBounds'>;

/** Throws an AssertionError on the first broken invariant of `node`. */
export function checkNodeInvariants(node: CheckedNode): void {
  const name = node.cfg.name;
  function breach(msg: string): never {
    throw new AssertionError(`node ${name}: ${msg}`);
  }
  try {
    node.links.checkInvariants();
  } catch (e) {
    if (e instanceof AssertionError) breach(`link table: ${e.message}`);
    throw e;
  }

  const groups = node.cfg.groups;
  if (node.balancers.length !== groups.length) breach(`${node.balancers.length} balancers for ${groups.length} groups`);
  const inTable = groups.map((g) => new Array<number>(g.servers.length).fill(0));
  node.links.forEach((id) => {
    const g = node.links.group(id);
    const s = node.links.server(id);
    const row = inTable[g];
    if (row === undefined || s >= row.length) breach(`link ${id} names group ${g} server ${s}, which the config does not have`);
    row[s]!++;
  });
  inTable.forEach((row, g) => {
    const bal = node.balancers[g]!;
    row.forEach((links, s) => {
      const open = bal.openLinks(s);
      if (open !== links) breach(`group ${groups[g]!.name} server ${groups[g]!.servers[s]!.name}: the balancer counts ${open} open links, the link table holds ${links}`);
    });
  });

  checkCounts(node.counters, 'counters', breach);
  try {
    node.checkBounds();
  } catch (e) {
    if (e instanceof AssertionError) breach(e.message);
    throw e;
  }
}

/** Every number in `v` (a counter, or a Map, array or record of them) is a non-negative integer. */
function checkCounts(v: unknown, path: string, breach: (msg: string) => never): void {
  if (typeof v === 'number') {
    if (!(Number.isSafeInteger(v) && v >= 0)) breach(`${path} is ${v}, not a non-negative integer`);
  } else if (v instanceof Map) {
    for (const [k, x] of v) checkCounts(x, `${path}[${String(k)}]`, breach);
  } else if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    Array.from(v as ArrayLike<unknown>).forEach((x, i) => checkCounts(x, `${path}[${i}]`, breach));
  } else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) checkCounts(x, `${path}.${k}`, breach);
  } else breach(`${path} is a ${typeof v}, not a count`);
}
