/**
 * `sg diff A.jsonl B.jsonl`: where two runs of one scenario made different decisions; made for a
 * simulator trace against a lab trace (issue 9's sim-vs-real agreement), but any two traces do.
 *
 * Three kinds of decision are compared, each as an ordered sequence:
 * - **mastership**: the order in which nodes became master (bidd `state` events to master), each
 *   at a time that must agree within `toleranceUs`;
 * - **server states**: per server (entity group/server) the order of states it went through,
 *   each transition within the tolerance;
 * - **link targets**: per SG node and group, the servers its new links went to, in order. The two
 *   runs need not open the same number of links (real clients are real), so the shorter sequence
 *   must be a prefix of the longer: under a deterministic policy such as round robin the choices
 *   are then the same.
 */

export interface DiffEvent {
  readonly kind: string;
  readonly t: number;
  readonly node?: string;
  readonly entity?: string;
  readonly machine?: string;
  readonly from?: string;
  readonly to?: string;
  readonly what?: string;
  readonly detail?: unknown;
}

export interface DiffCheck {
  readonly name: string;
  readonly agree: boolean;
  /** What each side did (short), and where they part. */
  readonly a: string;
  readonly b: string;
  readonly where?: string;
}

/** Parse a JSON Lines trace (the header and unparsable lines are skipped). */
export function readTrace(text: string): DiffEvent[] {
  const out: DiffEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const ev = JSON.parse(line) as DiffEvent;
      if (ev.kind !== 'header') out.push(ev);
    } catch {
      // not an event
    }
  }
  return out;
}

interface Timed {
  readonly v: string;
  readonly t: number;
}

function masters(evs: readonly DiffEvent[]): Timed[] {
  return evs.filter((e) => e.kind === 'state' && e.machine === 'bidd' && e.to === 'master').map((e) => ({ v: String(e.entity), t: e.t }));
}

function serverStates(evs: readonly DiffEvent[]): Map<string, Timed[]> {
  const m = new Map<string, Timed[]>();
  for (const e of evs) {
    if (e.kind !== 'state' || e.machine !== 'server') continue;
    // Every node with health checks reports the same server: key by node too.
    const k = `${e.node}:${e.entity}`;
    m.set(k, [...(m.get(k) ?? []), { v: `${e.from}->${e.to}`, t: e.t }]);
  }
  return m;
}

function linkTargets(evs: readonly DiffEvent[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const e of evs) {
    if (e.kind !== 'decision' || e.what !== 'link-new') continue;
    const d = e.detail as { group?: string; server?: string } | undefined;
    const k = `${e.node}:${d?.group}`;
    m.set(k, [...(m.get(k) ?? []), String(d?.server)]);
  }
  return m;
}

const fmtT = (us: number) => `${(us / 1e6).toFixed(3)}s`;
const show = (xs: readonly Timed[]) => xs.map((x) => `${x.v}@${fmtT(x.t)}`).join(' ') || '(none)';

function compareTimed(name: string, a: readonly Timed[], b: readonly Timed[], tol: number): DiffCheck {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || x.v !== y.v) return { name, agree: false, a: show(a), b: show(b), where: `#${i + 1}: ${x ? x.v : '(nothing)'} vs ${y ? y.v : '(nothing)'}` };
    if (Math.abs(x.t - y.t) > tol) return { name, agree: false, a: show(a), b: show(b), where: `#${i + 1} ${x.v}: ${fmtT(x.t)} vs ${fmtT(y.t)}, more than ${fmtT(tol)} apart` };
  }
  return { name, agree: true, a: show(a), b: show(b) };
}

/** Compare two traces; every check agrees when the decisions do. */
export function diffTraces(a: readonly DiffEvent[], b: readonly DiffEvent[], toleranceUs: number): DiffCheck[] {
  const checks: DiffCheck[] = [compareTimed('mastership', masters(a), masters(b), toleranceUs)];
  const sa = serverStates(a);
  const sb = serverStates(b);
  for (const k of [...new Set([...sa.keys(), ...sb.keys()])].sort()) checks.push(compareTimed(`server ${k}`, sa.get(k) ?? [], sb.get(k) ?? [], toleranceUs));
  const la = linkTargets(a);
  const lb = linkTargets(b);
  for (const k of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
    const x = la.get(k) ?? [];
    const y = lb.get(k) ?? [];
    const n = Math.min(x.length, y.length);
    let at = -1;
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) {
      at = i;
      break;
    }
    const sum = (s: readonly string[]) => `${s.length} links: ${s.slice(0, 8).join(' ')}${s.length > 8 ? ' ...' : ''}`;
    const agree = at < 0 && (x.length > 0) === (y.length > 0);
    checks.push({ name: `links ${k}`, agree, a: sum(x), b: sum(y), ...(agree ? {} : { where: at >= 0 ? `link #${at + 1}: ${x[at]} vs ${y[at]}` : 'one side opened no links' }) });
  }
  return checks;
}

export function formatDiff(checks: readonly DiffCheck[], nameA: string, nameB: string): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.agree ? 'agree ' : 'DIFFER'}  ${c.name}`);
    if (!c.agree) {
      lines.push(`        ${nameA}: ${c.a}`, `        ${nameB}: ${c.b}`);
      if (c.where) lines.push(`        first difference: ${c.where}`);
    }
  }
  const bad = checks.filter((c) => !c.agree).length;
  lines.push('', bad === 0 ? `AGREE: ${checks.length} decision sequence(s)` : `DIFFER: ${bad} of ${checks.length} decision sequence(s)`);
  return lines.join('\n') + '\n';
}
