/** NFS file handles from path names (slides 50-52): the layout, the walk back, staleness and collisions. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collides, decodeHandle, encodeHandle, HANDLE_DEPTH_MAX, narrowCode, resolveHandle, wideCode, type HandleTree } from '../../src/nfs/handle.ts';

/** An in-memory tree: directories as nested maps (a file is null). */
type Dir = Map<string, Dir | null>;
function tree(root: Dir): HandleTree {
  return {
    children(path) {
      let d: Dir | null | undefined = root;
      for (const n of path) d = d instanceof Map ? d.get(n) : undefined;
      return d instanceof Map ? [...d.keys()].sort() : undefined;
    },
  };
}
function mkdirs(root: Dir, path: readonly string[], file = true): void {
  let d = root;
  path.forEach((n, i) => {
    if (i === path.length - 1 && file) d.set(n, null);
    else {
      if (!(d.get(n) instanceof Map)) d.set(n, new Map());
      d = d.get(n) as Dir;
    }
  });
}

describe('the handle layout (slide 51)', () => {
  it('four 32-bit codes, then 8-bit codes, then zeros; the same path, the same handle', () => {
    const path = ['a', 'b', 'c', 'd', 'e', 'file'];
    const h = encodeHandle(path)!;
    expect(h.length).toBe(32);
    expect([h[0], h[1]]).toEqual([1, 6]);
    const view = new DataView(h.buffer);
    expect([2, 6, 10, 14].map((o) => view.getUint32(o))).toEqual(['a', 'b', 'c', 'd'].map(wideCode));
    expect([h[18], h[19]]).toEqual([narrowCode('e'), narrowCode('file')]);
    expect([...h.subarray(20)].every((b) => b === 0)).toBe(true);
    expect(encodeHandle([...path])).toEqual(h); // names only: every server computes the same bytes
    expect(encodeHandle([])).toEqual(Uint8Array.from([1, 0, ...new Array(30).fill(0)])); // the root
  });

  it('a path deeper than 18 components has no handle', () => {
    expect(encodeHandle(Array.from({ length: HANDLE_DEPTH_MAX }, (_, i) => `d${i}`))).toBeDefined();
    expect(encodeHandle(Array.from({ length: HANDLE_DEPTH_MAX + 1 }, (_, i) => `d${i}`))).toBeUndefined();
  });

  it('a bad handle is an error, never a throw: length, version, depth, zero code, padding', () => {
    const h = encodeHandle(['a', 'b'])!;
    expect(decodeHandle(h.subarray(0, 31))).toMatchObject({ ok: false });
    expect(decodeHandle(Uint8Array.from(h, (b, i) => (i === 0 ? 2 : b)))).toMatchObject({ ok: false, why: 'version 2' });
    expect(decodeHandle(Uint8Array.from(h, (b, i) => (i === 1 ? 19 : b)))).toMatchObject({ ok: false, why: 'depth 19 > 18' });
    expect(decodeHandle(Uint8Array.from(h, (b, i) => (i === 1 ? 3 : b)))).toMatchObject({ ok: false, why: 'component 3 has code 0' });
    expect(decodeHandle(Uint8Array.from(h, (b, i) => (i === 31 ? 7 : b)))).toMatchObject({ ok: false, why: 'padding after depth 2 is not zero' });
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (b) => {
      const d = decodeHandle(b);
      return d.ok === false || d.codes.length === d.depth;
    }));
  });
});

describe('rebuilding the path (slide 52)', () => {
  it('walks the tree matching each component; a removed file is stale', () => {
    const root: Dir = new Map();
    for (const p of [['a1', 'x'], ['a2', 'b1', 'y'], ['a2', 'b2', 'c1', 'file'], ['a2', 'b2', 'c2'], ['a3']]) mkdirs(root, p);
    const t = tree(root);
    const h = encodeHandle(['a2', 'b2', 'c1', 'file'])!;
    expect(resolveHandle(t, h)).toEqual({ kind: 'path', path: ['a2', 'b2', 'c1', 'file'] });
    expect(resolveHandle(t, encodeHandle([])!)).toEqual({ kind: 'path', path: [] });
    ((root.get('a2') as Dir).get('b2') as Dir).delete('c1');
    expect(resolveHandle(t, h)).toEqual({ kind: 'stale' });
    expect(resolveHandle(t, new Uint8Array(32))).toMatchObject({ kind: 'bad' });
  });

  it('every path of a random tree with no colliding siblings resolves to itself, deep ones included', () => {
    const name = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((n) => n !== '.' && n !== '..');
    fc.assert(fc.property(fc.array(fc.array(name, { minLength: 1, maxLength: HANDLE_DEPTH_MAX }), { minLength: 1, maxLength: 20 }), (paths) => {
      const root: Dir = new Map();
      const t = tree(root);
      const made: string[][] = [];
      for (const p of paths) {
        // As the server does: a name whose code collides with a sibling's is refused.
        let ok = true;
        for (let i = 0; i < p.length && ok; i++) if (collides(t, p.slice(0, i), p[i]!) !== undefined) ok = false;
        if (!ok) continue;
        mkdirs(root, p, false);
        made.push(p);
      }
      for (const p of made) for (let i = 0; i <= p.length; i++) {
        const prefix = p.slice(0, i);
        expect(resolveHandle(t, encodeHandle(prefix)!)).toEqual({ kind: 'path', path: prefix });
      }
    }), { numRuns: 200 });
  });
});

describe('collisions', () => {
  /** Two names with the same 8-bit code (found by search: 1 in 255 pairs). */
  function narrowPair(): [string, string] {
    const seen = new Map<number, string>();
    for (let i = 0; ; i++) {
      const n = `f${i}`;
      const c = narrowCode(n);
      const other = seen.get(c);
      if (other !== undefined) return [other, n];
      seen.set(c, n);
    }
  }

  it('a handle two paths share is ambiguous and refused, never guessed; the server refuses to create the second name', () => {
    const [x, y] = narrowPair();
    expect(narrowCode(x)).toBe(narrowCode(y));
    expect(wideCode(x)).not.toBe(wideCode(y));
    const deep = ['d1', 'd2', 'd3', 'd4'];
    const root: Dir = new Map();
    const t = tree(root);
    mkdirs(root, [...deep, x]);
    // Near the root the 32-bit codes differ: no collision there.
    expect(collides(t, [], y)).toBeUndefined();
    // At depth 5 the 8-bit codes are equal: creating y beside x is refused (NFS3ERR_EXIST)...
    expect(collides(t, deep, y)).toBe(x);
    // ...and a tree made by other means that has both leaves their handle ambiguous.
    mkdirs(root, [...deep, y]);
    const r = resolveHandle(t, encodeHandle([...deep, x])!);
    expect(r.kind).toBe('ambiguous');
    expect(r.kind === 'ambiguous' && r.paths.map((p) => p.at(-1)).sort()).toEqual([x, y].sort());
  });
});
