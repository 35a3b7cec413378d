/** The IGMPv2 host machine lives with the engine (SG nodes join groups too); hosts use the same one. */
export * from '../../src/engine/igmp-host.ts';
