/**
 * The directory tree an NFS server serves, as the operations NFSv3 needs (RFC 1813): look up,
 * read, write, create, remove, rename, make and remove directories, get and set attributes, list.
 * `MemTree` is the simulator's in-memory tree; the lab's server serves a directory on disk
 * through the same interface. Paths are component lists under the export's root, as handles
 * encode them (handle.ts).
 *
 * Rules, each an NFS status the server answers:
 * - A name is 1 to `NAME_MAX` (255) UTF-8 bytes, not "." or "..", no "/" (NFS3ERR_NAMETOOLONG,
 *   NFS3ERR_INVAL); a path deeper than the handle holds is NFS3ERR_NAMETOOLONG.
 * - Creating a name whose handle code collides with a sibling's is NFS3ERR_EXIST (handle.ts:
 *   a handle must never reach two files), as is creating a name that exists.
 * - The tree has a size limit in bytes (`capacity`): a write or create past it is NFS3ERR_NOSPC,
 *   the failure slide 15 turns a replica off for.
 * - Times are the caller's clock (µs), so a simulated server's attributes are deterministic.
 *   File ids are assigned in creation order: replicas' ids differ, which is why the nfs3
 *   analyzer compares no result bytes by default.
 */

import { collides, HANDLE_DEPTH_MAX, type HandleTree } from './handle.ts';

export const NAME_MAX = 255;

/** NFSv3 status codes the tree gives (nfsstat3, RFC 1813 section 2.6). */
export const NFS3 = {
  ok: 0, perm: 1, noent: 2, io: 5, acces: 13, exist: 17, notdir: 20, isdir: 21, inval: 22, fbig: 27, nospc: 28, rofs: 30,
  nametoolong: 63, notempty: 66, stale: 70, badhandle: 10001,
} as const;
export type Nfs3Status = (typeof NFS3)[keyof typeof NFS3];

export type FileType = 'reg' | 'dir';

export interface Attrs {
  readonly type: FileType;
  readonly mode: number;
  readonly size: number;
  readonly fileid: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
}

interface Node {
  type: FileType;
  mode: number;
  fileid: number;
  atime: number;
  mtime: number;
  ctime: number;
  data: Uint8Array;
  children: Map<string, Node> | undefined;
}

export type TreeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly status: Nfs3Status };

const utf8 = new TextEncoder();
const bad = (status: Nfs3Status): { ok: false; status: Nfs3Status } => ({ ok: false, status });
const good = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

/** Why `name` cannot be a directory entry, or undefined. */
export function nameProblem(name: string): Nfs3Status | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return NFS3.inval;
  if (utf8.encode(name).length > NAME_MAX) return NFS3.nametoolong;
  return undefined;
}

export class MemTree implements HandleTree {
  readonly #root: Node;
  #nextId = 1;
  #used = 0;
  /** Bytes of file data the tree holds at most (NFS3ERR_NOSPC beyond). */
  capacity: number;

  constructor(opts: { readonly capacity?: number; readonly now?: number } = {}) {
    this.capacity = opts.capacity ?? 64 * 1024 * 1024;
    this.#root = this.#node('dir', 0o755, opts.now ?? 0);
  }

  /** Bytes of file data held. */
  get used(): number {
    return this.#used;
  }

  #node(type: FileType, mode: number, now: number): Node {
    return { type, mode, fileid: this.#nextId++, atime: now, mtime: now, ctime: now, data: new Uint8Array(0), children: type === 'dir' ? new Map() : undefined };
  }

  #find(path: readonly string[]): Node | undefined {
    let n: Node | undefined = this.#root;
    for (const c of path) {
      n = n.children?.get(c);
      if (n === undefined) return undefined;
    }
    return n;
  }

  children(path: readonly string[]): readonly string[] | undefined {
    const n = this.#find(path);
    return n?.children === undefined ? undefined : [...n.children.keys()].sort();
  }

  getattr(path: readonly string[]): TreeResult<Attrs> {
    const n = this.#find(path);
    if (n === undefined) return bad(NFS3.stale);
    return good({ type: n.type, mode: n.mode, size: n.data.length, fileid: n.fileid, atime: n.atime, mtime: n.mtime, ctime: n.ctime });
  }

  lookup(dir: readonly string[], name: string): TreeResult<readonly string[]> {
    const d = this.#find(dir);
    if (d === undefined) return bad(NFS3.stale);
    if (d.children === undefined) return bad(NFS3.notdir);
    if (name === '.') return good(dir);
    if (name === '..') return good(dir.slice(0, -1));
    return d.children.has(name) ? good([...dir, name]) : bad(NFS3.noent);
  }

  #creatable(dir: readonly string[], name: string): TreeResult<Node> {
    const d = this.#find(dir);
    if (d === undefined) return bad(NFS3.stale);
    if (d.children === undefined) return bad(NFS3.notdir);
    const p = nameProblem(name);
    if (p !== undefined) return bad(p);
    if (dir.length + 1 > HANDLE_DEPTH_MAX) return bad(NFS3.nametoolong);
    if (d.children.has(name) || collides(this, dir, name) !== undefined) return bad(NFS3.exist);
    return good(d);
  }

  create(dir: readonly string[], name: string, mode: number, now: number): TreeResult<readonly string[]> {
    return this.#make(dir, name, 'reg', mode, now);
  }

  mkdir(dir: readonly string[], name: string, mode: number, now: number): TreeResult<readonly string[]> {
    return this.#make(dir, name, 'dir', mode, now);
  }

  #make(dir: readonly string[], name: string, type: FileType, mode: number, now: number): TreeResult<readonly string[]> {
    const c = this.#creatable(dir, name);
    if (!c.ok) return c;
    c.value.children!.set(name, this.#node(type, mode & 0o7777, now));
    c.value.mtime = c.value.ctime = now;
    return good([...dir, name]);
  }

  read(path: readonly string[], offset: number, count: number, now: number): TreeResult<{ readonly data: Uint8Array; readonly eof: boolean }> {
    const n = this.#find(path);
    if (n === undefined) return bad(NFS3.stale);
    if (n.type === 'dir') return bad(NFS3.isdir);
    n.atime = now;
    const data = n.data.subarray(Math.min(offset, n.data.length), Math.min(offset + count, n.data.length));
    return good({ data: data.slice(), eof: offset + data.length >= n.data.length });
  }

  write(path: readonly string[], offset: number, data: Uint8Array, now: number): TreeResult<number> {
    const n = this.#find(path);
    if (n === undefined) return bad(NFS3.stale);
    if (n.type === 'dir') return bad(NFS3.isdir);
    const end = offset + data.length;
    if (!Number.isSafeInteger(end)) return bad(NFS3.fbig);
    const grow = Math.max(0, end - n.data.length);
    if (this.#used + grow > this.capacity) return bad(NFS3.nospc);
    if (grow > 0) {
      const next = new Uint8Array(end);
      next.set(n.data);
      n.data = next;
      this.#used += grow;
    }
    n.data.set(data, offset);
    n.mtime = n.ctime = now;
    return good(data.length);
  }

  /** SETATTR's size and mode (a size change truncates or extends with zeros). */
  setattr(path: readonly string[], set: { readonly size?: number; readonly mode?: number }, now: number): TreeResult<Attrs> {
    const n = this.#find(path);
    if (n === undefined) return bad(NFS3.stale);
    if (set.size !== undefined) {
      if (n.type === 'dir') return bad(NFS3.isdir);
      if (!Number.isSafeInteger(set.size) || set.size < 0) return bad(NFS3.inval);
      const grow = set.size - n.data.length;
      if (grow > 0 && this.#used + grow > this.capacity) return bad(NFS3.nospc);
      const next = new Uint8Array(set.size);
      next.set(n.data.subarray(0, Math.min(set.size, n.data.length)));
      this.#used += grow;
      n.data = next;
      n.mtime = now;
    }
    if (set.mode !== undefined) n.mode = set.mode & 0o7777;
    n.ctime = now;
    return this.getattr(path);
  }

  remove(dir: readonly string[], name: string, now: number): TreeResult<true> {
    return this.#unlink(dir, name, 'reg', now);
  }

  rmdir(dir: readonly string[], name: string, now: number): TreeResult<true> {
    return this.#unlink(dir, name, 'dir', now);
  }

  #unlink(dir: readonly string[], name: string, type: FileType, now: number): TreeResult<true> {
    const d = this.#find(dir);
    if (d === undefined) return bad(NFS3.stale);
    if (d.children === undefined) return bad(NFS3.notdir);
    const n = d.children.get(name);
    if (n === undefined) return bad(NFS3.noent);
    if (type === 'reg' && n.type === 'dir') return bad(NFS3.isdir);
    if (type === 'dir' && n.type !== 'dir') return bad(NFS3.notdir);
    if (type === 'dir' && n.children!.size > 0) return bad(NFS3.notempty);
    d.children.delete(name);
    this.#used -= n.data.length;
    d.mtime = d.ctime = now;
    return good(true);
  }

  /** RENAME: an existing target of the same kind is replaced (a non-empty directory is not). */
  rename(fromDir: readonly string[], from: string, toDir: readonly string[], to: string, now: number): TreeResult<true> {
    const fd = this.#find(fromDir);
    const td = this.#find(toDir);
    if (fd === undefined || td === undefined) return bad(NFS3.stale);
    if (fd.children === undefined || td.children === undefined) return bad(NFS3.notdir);
    const n = fd.children.get(from);
    if (n === undefined) return bad(NFS3.noent);
    const p = nameProblem(to);
    if (p !== undefined) return bad(p);
    const self = [...fromDir, from];
    if (n.type === 'dir' && toDir.length >= self.length && self.every((c, i) => toDir[i] === c)) return bad(NFS3.inval); // into itself
    const old = td.children.get(to);
    if (old !== undefined && old !== n) {
      if (old.type !== n.type) return bad(old.type === 'dir' ? NFS3.isdir : NFS3.notdir);
      if (old.type === 'dir' && old.children!.size > 0) return bad(NFS3.notempty);
    } else if (old === undefined) {
      const clash = collides(this, toDir, to);
      if (clash !== undefined && !(fd === td && clash === from)) return bad(NFS3.exist);
    }
    if (old !== undefined && old !== n) this.#used -= old.data.length;
    fd.children.delete(from);
    td.children.set(to, n);
    fd.mtime = fd.ctime = td.mtime = td.ctime = n.ctime = now;
    return good(true);
  }
}
