/**
 * The limits of an ARP table (RFC 826), one vocabulary for the project's two tables: the SG
 * node's (src/engine/arp.ts, sans-IO, polled) and a simulated host's (sim/host/arp.ts, Linux's
 * neighbour-table habits, on the host's timers). The tables differ in policy, not in what they
 * bound: a host drops the oldest waiting packet when a hop's queue overflows and refuses a new
 * entry when the table is full (as Linux does); the SG node, a NAT in front of many servers,
 * drops the newest frame and evicts the oldest entry instead.
 */

import { seconds, type Duration } from './time.ts';
import { assert } from './assert.ts';

export interface ArpLimits {
  /** A learnt entry is forgotten this long after its last update. */
  readonly entryTimeout: Duration;
  /** Time between requests for an unresolved next hop. */
  readonly retryInterval: Duration;
  /** Requests sent for a next hop before resolution fails (Linux mcast_solicit). */
  readonly requestsMax: number;
  /** Frames waiting per unresolved next hop (Linux unres_qlen). */
  readonly pendingPerHopMax: number;
  /** Entries in the table. */
  readonly entriesMax: number;
}

/** A simulated host: Linux's defaults (60 s entries, 1 s retries, 3 requests, 3 queued packets). */
export const HOST_ARP_LIMITS: ArpLimits = {
  entryTimeout: seconds(60),
  retryInterval: seconds(1),
  requestsMax: 3,
  pendingPerHopMax: 3,
  entriesMax: 1024,
};

/** The SG node: Linux's timing, but room for a NAT's bursts (64 frames a hop) and its servers. */
export const SG_ARP_LIMITS: ArpLimits = {
  entryTimeout: seconds(60),
  retryInterval: seconds(1),
  requestsMax: 3,
  pendingPerHopMax: 64,
  entriesMax: 65_536,
};

/** `base` with `overrides` applied, every limit asserted positive (a zero bound is our bug). */
export function arpLimits(base: ArpLimits, overrides: Partial<ArpLimits> = {}): ArpLimits {
  const l: ArpLimits = { ...base, ...overrides };
  for (const k of ['entryTimeout', 'retryInterval', 'requestsMax', 'pendingPerHopMax', 'entriesMax'] as const) {
    assert(Number.isSafeInteger(l[k]) && l[k] > 0, `ARP limit ${k} must be a positive integer, got ${l[k]}`);
  }
  return l;
}
