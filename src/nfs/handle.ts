/**
 * NFS file handles from path names (slides 50-52). A kernel NFS server puts (device, inode) in
 * its 32-byte handle; a user-space server reaches files by path, and a path does not fit in 32
 * bytes, so the handle *encodes* the path, component by component, and the server rebuilds the
 * path by walking the tree and matching each component's encoding (slide 52). The encoding
 * depends on names only, never on inodes, so the same file has the same handle on every server
 * of a replicated group (slide 49): a handle one server gave a client works on all of them.
 *
 *   byte 0       version, HANDLE_VERSION (1)
 *   byte 1       depth: how many components the path has (0 is the export's root)
 *   bytes 2-17   components 1-4: 32-bit codes, big-endian (slide 51's "32bit number"s)
 *   bytes 18-31  components 5-18: 8-bit codes (slide 51's "8bit number"s, deeper in the tree)
 *   unused slots 0 (slide 51's "0...0")
 *
 * A component's code is FNV-1a (32-bit) over the name's UTF-8 bytes, folded to 8 bits for the
 * deep components (XOR of its four bytes); a code of 0 is made 1, so a used slot is never 0.
 *
 * Rules, each what a client can count on:
 * - **Depth.** A path of more than `HANDLE_DEPTH_MAX` (18) components has no handle
 *   (`encodeHandle` returns undefined; the server answers NFS3ERR_NAMETOOLONG).
 * - **Collisions.** Two names in one directory may share a code (1 in 2^32 near the root; 1 in
 *   255 for components 5 and deeper). `resolveHandle` then finds several candidate paths and
 *   answers 'ambiguous' rather than guess one (the server answers NFS3ERR_STALE: a handle must
 *   never reach another file). A server that creates names (CREATE, MKDIR, RENAME, LINK,
 *   SYMLINK) refuses one whose code collides with a sibling's (`collides`; NFS3ERR_EXIST), so a
 *   tree built through the server never has an ambiguous handle; only a tree made by other means
 *   (files copied onto the lab's directory) can, and those files are unreachable by handle.
 * - **Staleness.** A handle whose path no longer exists (removed, renamed) is 'stale'; one with a
 *   bad version, depth or nonzero padding is 'bad' (NFS3ERR_BADHANDLE).
 * - The walk costs one directory listing per component (`HandleTree.children`); a server may
 *   cache handle -> path, since the encoding of a path never changes.
 *
 * Pure and sans-IO: the tree is an interface (an in-memory tree in the simulator, a directory
 * on disk in the lab).
 */

import { assert } from '../assert.ts';

export const HANDLE_LEN = 32;
export const HANDLE_VERSION = 1;
/** Components with 32-bit codes (the first ones, near the root: most of the names). */
export const HANDLE_WIDE = 4;
/** Components with 8-bit codes after the wide ones. */
export const HANDLE_NARROW = 14;
export const HANDLE_DEPTH_MAX = HANDLE_WIDE + HANDLE_NARROW;
const WIDE_OFF = 2;
const NARROW_OFF = WIDE_OFF + 4 * HANDLE_WIDE; // 18

/** What the walk needs of a tree: the names in a directory (undefined: not a directory, or gone). */
export interface HandleTree {
  children(path: readonly string[]): readonly string[] | undefined;
}

const utf8 = new TextEncoder();

/** A component's 32-bit code: FNV-1a over the name's UTF-8 bytes, never 0. */
export function wideCode(name: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(name)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/** A deep component's 8-bit code: the 32-bit code's four bytes XORed, never 0. */
export function narrowCode(name: string): number {
  const h = wideCode(name);
  const c = (h ^ (h >>> 8) ^ (h >>> 16) ^ (h >>> 24)) & 0xff;
  return c === 0 ? 1 : c;
}

/** The code of the component at `depth` (0-based) as the handle holds it. */
export function codeAt(name: string, depth: number): number {
  return depth < HANDLE_WIDE ? wideCode(name) : narrowCode(name);
}

/** The handle of `path` (components under the export's root), or undefined when it is too deep. */
export function encodeHandle(path: readonly string[]): Uint8Array | undefined {
  if (path.length > HANDLE_DEPTH_MAX) return undefined;
  const h = new Uint8Array(HANDLE_LEN);
  h[0] = HANDLE_VERSION;
  h[1] = path.length;
  path.forEach((name, i) => {
    assert(name !== '' && name !== '.' && name !== '..' && !name.includes('/'), `not a path component: ${JSON.stringify(name)}`);
    if (i < HANDLE_WIDE) {
      const c = wideCode(name);
      const o = WIDE_OFF + 4 * i;
      h[o] = c >>> 24;
      h[o + 1] = (c >>> 16) & 0xff;
      h[o + 2] = (c >>> 8) & 0xff;
      h[o + 3] = c & 0xff;
    } else h[NARROW_OFF + i - HANDLE_WIDE] = narrowCode(name);
  });
  return h;
}

export type HandleCheck = { readonly ok: true; readonly depth: number; readonly codes: readonly number[] } | { readonly ok: false; readonly why: string };

/** Read a handle's depth and codes; a wrong length, version, depth, zero code or nonzero padding is an error. Never throws. */
export function decodeHandle(h: Uint8Array): HandleCheck {
  if (h.length !== HANDLE_LEN) return { ok: false, why: `${h.length} bytes, a handle is ${HANDLE_LEN}` };
  if (h[0] !== HANDLE_VERSION) return { ok: false, why: `version ${h[0]}` };
  const depth = h[1]!;
  if (depth > HANDLE_DEPTH_MAX) return { ok: false, why: `depth ${depth} > ${HANDLE_DEPTH_MAX}` };
  const codes: number[] = [];
  for (let i = 0; i < HANDLE_DEPTH_MAX; i++) {
    const c = i < HANDLE_WIDE ? ((h[WIDE_OFF + 4 * i]! << 24) | (h[WIDE_OFF + 4 * i + 1]! << 16) | (h[WIDE_OFF + 4 * i + 2]! << 8) | h[WIDE_OFF + 4 * i + 3]!) >>> 0 : h[NARROW_OFF + i - HANDLE_WIDE]!;
    if (i < depth) {
      if (c === 0) return { ok: false, why: `component ${i + 1} has code 0` };
      codes.push(c);
    } else if (c !== 0) return { ok: false, why: `padding after depth ${depth} is not zero` };
  }
  return { ok: true, depth, codes };
}

export type Resolved =
  | { readonly kind: 'path'; readonly path: readonly string[] }
  /** No such path now (removed or renamed since the handle was made). */
  | { readonly kind: 'stale' }
  /** Several paths have this encoding (names whose codes collide): refused, never guessed. */
  | { readonly kind: 'ambiguous'; readonly paths: readonly (readonly string[])[] }
  | { readonly kind: 'bad'; readonly why: string };

/** Candidate paths examined at most per resolution (a guard against a tree full of collisions). */
export const RESOLVE_CANDIDATES_MAX = 64;

/**
 * Rebuild the path of handle `h` by walking `tree` from the root (slide 52): at each level keep
 * the children whose code matches the handle's. Every matching path is followed, so a collision
 * above the file is found too.
 */
export function resolveHandle(tree: HandleTree, h: Uint8Array): Resolved {
  const d = decodeHandle(h);
  if (!d.ok) return { kind: 'bad', why: d.why };
  let level: (readonly string[])[] = [[]];
  for (let i = 0; i < d.depth; i++) {
    const next: (readonly string[])[] = [];
    for (const dir of level) {
      const names = tree.children(dir);
      if (names === undefined) continue;
      for (const n of names) {
        if (codeAt(n, i) !== d.codes[i]) continue;
        next.push([...dir, n]);
        if (next.length > RESOLVE_CANDIDATES_MAX) return { kind: 'ambiguous', paths: next };
      }
    }
    if (next.length === 0) return { kind: 'stale' };
    level = next;
  }
  if (level.length > 1) return { kind: 'ambiguous', paths: level };
  return { kind: 'path', path: level[0]! };
}

/** Whether a new name `name` in directory `dir` would share its code with a sibling (the server refuses it). */
export function collides(tree: HandleTree, dir: readonly string[], name: string): string | undefined {
  const depth = dir.length;
  if (depth >= HANDLE_DEPTH_MAX) return undefined; // no handle at all: NAMETOOLONG decides
  const c = codeAt(name, depth);
  return tree.children(dir)?.find((n) => n !== name && codeAt(n, depth) === c);
}
