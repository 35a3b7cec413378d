/** The simulated network: cables and switches. */
export * from './link.ts';
export * from './switch.ts';
