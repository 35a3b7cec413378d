/** The in-memory tree an NFS server serves: the NFSv3 operations and the statuses they give. */
import { describe, expect, it } from 'vitest';
import { encodeHandle, narrowCode, resolveHandle } from '../../src/nfs/handle.ts';
import { MemTree, NFS3 } from '../../src/nfs/tree.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('MemTree', () => {
  it('create, write, read, getattr, lookup, list; handles resolve to the paths', () => {
    const t = new MemTree();
    expect(t.mkdir([], 'a', 0o755, 1)).toEqual({ ok: true, value: ['a'] });
    expect(t.create(['a'], 'f', 0o644, 2)).toEqual({ ok: true, value: ['a', 'f'] });
    expect(t.write(['a', 'f'], 0, bytes('hello'), 3)).toEqual({ ok: true, value: 5 });
    expect(t.write(['a', 'f'], 7, bytes('!!'), 4)).toEqual({ ok: true, value: 2 });
    const r = t.read(['a', 'f'], 0, 100, 5);
    expect(r.ok && [text(r.value.data), r.value.eof]).toEqual(['hello\0\0!!', true]);
    const part = t.read(['a', 'f'], 1, 3, 5);
    expect(part.ok && [text(part.value.data), part.value.eof]).toEqual(['ell', false]);
    expect(t.getattr(['a', 'f'])).toMatchObject({ ok: true, value: { type: 'reg', size: 9, mode: 0o644, mtime: 4 } });
    expect(t.lookup(['a'], 'f')).toEqual({ ok: true, value: ['a', 'f'] });
    expect(t.lookup(['a'], '..')).toEqual({ ok: true, value: [] });
    expect(t.lookup(['a'], 'nope')).toEqual({ ok: false, status: NFS3.noent });
    expect(t.children([])).toEqual(['a']);
    expect(resolveHandle(t, encodeHandle(['a', 'f'])!)).toEqual({ kind: 'path', path: ['a', 'f'] });
    expect(t.used).toBe(9);
  });

  it('the statuses: exist, notdir, isdir, notempty, inval, nametoolong, stale', () => {
    const t = new MemTree();
    t.mkdir([], 'd', 0o755, 0);
    t.create(['d'], 'f', 0o644, 0);
    expect(t.create(['d'], 'f', 0o644, 0)).toEqual({ ok: false, status: NFS3.exist });
    expect(t.create(['d', 'f'], 'x', 0o644, 0)).toEqual({ ok: false, status: NFS3.notdir });
    expect(t.write(['d'], 0, bytes('x'), 0)).toEqual({ ok: false, status: NFS3.isdir });
    expect(t.rmdir([], 'd', 0)).toEqual({ ok: false, status: NFS3.notempty });
    expect(t.remove([], 'd', 0)).toEqual({ ok: false, status: NFS3.isdir });
    for (const bad of ['', '.', '..', 'a/b']) expect(t.create([], bad, 0o644, 0)).toEqual({ ok: false, status: NFS3.inval });
    expect(t.create([], 'x'.repeat(256), 0o644, 0)).toEqual({ ok: false, status: NFS3.nametoolong });
    expect(t.getattr(['gone'])).toEqual({ ok: false, status: NFS3.stale });
    expect(t.remove(['d'], 'f', 1)).toEqual({ ok: true, value: true });
    expect(t.rmdir([], 'd', 1)).toEqual({ ok: true, value: true });
  });

  it('a full tree answers NOSPC (the failure a replica is turned off for); removing frees the space', () => {
    const t = new MemTree({ capacity: 10 });
    t.create([], 'f', 0o644, 0);
    expect(t.write(['f'], 0, new Uint8Array(10), 0)).toEqual({ ok: true, value: 10 });
    expect(t.write(['f'], 10, new Uint8Array(1), 0)).toEqual({ ok: false, status: NFS3.nospc });
    expect(t.write(['f'], 0, new Uint8Array(10), 0)).toEqual({ ok: true, value: 10 }); // overwriting needs no room
    expect(t.setattr(['f'], { size: 4 }, 1)).toMatchObject({ ok: true, value: { size: 4 } });
    expect(t.used).toBe(4);
    t.remove([], 'f', 2);
    expect(t.used).toBe(0);
  });

  it('rename moves a subtree (its handles change with its path); not into itself; a non-empty directory is not replaced', () => {
    const t = new MemTree();
    t.mkdir([], 'a', 0o755, 0);
    t.mkdir([], 'b', 0o755, 0);
    t.create(['a'], 'f', 0o644, 0);
    expect(t.rename([], 'a', ['a'], 'x', 1)).toEqual({ ok: false, status: NFS3.inval });
    expect(t.rename([], 'a', [], 'b', 1)).toEqual({ ok: true, value: true }); // b was empty
    expect(t.children([])).toEqual(['b']);
    expect(resolveHandle(t, encodeHandle(['b', 'f'])!)).toEqual({ kind: 'path', path: ['b', 'f'] });
    expect(resolveHandle(t, encodeHandle(['a', 'f'])!)).toEqual({ kind: 'stale' });
    t.mkdir([], 'c', 0o755, 2);
    t.create(['c'], 'g', 0o644, 2);
    expect(t.rename([], 'b', [], 'c', 3)).toEqual({ ok: false, status: NFS3.notempty });
  });

  it("refuses a name whose handle code collides with a sibling's (NFS3ERR_EXIST), so no handle is ambiguous", () => {
    const t = new MemTree();
    const deep = ['d1', 'd2', 'd3', 'd4'];
    deep.forEach((d, i) => t.mkdir(deep.slice(0, i), d, 0o755, 0));
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const n = `f${i}`;
      const o = seen.get(narrowCode(n));
      if (o !== undefined) pair = [o, n];
      else seen.set(narrowCode(n), n);
    }
    expect(t.create(deep, pair[0], 0o644, 0).ok).toBe(true);
    expect(t.create(deep, pair[1], 0o644, 0)).toEqual({ ok: false, status: NFS3.exist });
    expect(t.rename(deep, pair[0], deep, pair[1], 1)).toEqual({ ok: true, value: true }); // its own code: no clash
  });
});
