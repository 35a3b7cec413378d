/** Codecs: bytes <-> typed values, no state. */
export * from './addr.ts';
export * from './arp.ts';
export * from './checksum.ts';
export * from './ethernet.ts';
export * from './frame.ts';
export * from './icmp.ts';
export * from './igmp.ts';
export * from './ipv4.ts';
export * from './result.ts';
export * from './sgopt.ts';
export * from './tcp.ts';
export * from './udp.ts';
