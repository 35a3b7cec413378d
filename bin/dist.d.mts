// Types of bin/dist.mjs for the TypeScript that imports it (tests).
export declare const ROOT: string;
export declare const DIST: string;
export declare function sourceHash(root?: string): string;
export declare function distState(root?: string): 'fresh' | 'absent' | 'stale';
export declare function build(root?: string, opts?: { force?: boolean }): 'fresh' | 'built';
