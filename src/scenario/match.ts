/**
 * What a trace filter (an expectation's `match:`) may name, checked against the trace's field
 * specs when the scenario loads. Its own file so the loader (load.ts) and the evaluator
 * (expect.ts), which imports the loader's model, do not import each other.
 */

import { assertNever } from '../assert.ts';
import { isTraceKind, TRACE_KINDS, traceFields, type TraceFieldSpec } from '../trace.ts';

/** A filter that can never match, found at load time: `field` is its key, `atKey` whether to point at the key (else its value). */
export interface MatchProblem {
  readonly field: string;
  readonly atKey: boolean;
  readonly message: string;
}

const TYPE_NAMES: Readonly<Record<TraceFieldSpec['type'], string>> = { string: 'a string', enum: 'a string', int: 'a non-negative integer', number: 'a number', labels: 'a record of strings', detail: 'a record' };

/** Why an event field of `spec` can never equal `v` (reached as `sub` inside it for a dotted key), or undefined when it can. */
function valueProblem(spec: TraceFieldSpec, name: string, sub: readonly string[], v: unknown): string | undefined {
  if (spec.type === 'labels' || spec.type === 'detail') {
    if (sub.length === 0) return `${name} is ${TYPE_NAMES[spec.type]}: match one of its entries as ${name}.<key>`;
    if (sub.length > 1) return `the values in ${name} are not records: ${name}.${sub.join('.')} reaches nothing`;
    return spec.type === 'labels' && typeof v !== 'string' ? `the values in ${name} are strings, not ${JSON.stringify(v)}` : undefined;
  }
  if (sub.length > 0) return `${name} is ${TYPE_NAMES[spec.type]}, it has no entry ${sub.join('.')}`;
  switch (spec.type) {
    case 'string':
      return typeof v === 'string' ? undefined : `${name} is a string, never ${JSON.stringify(v)} (quote it)`;
    case 'enum':
      return typeof v === 'string' && (spec.values ?? []).includes(v) ? undefined : `${name} is one of ${(spec.values ?? []).join(', ')}, never ${JSON.stringify(v)}`;
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : `${name} is a non-negative integer, never ${JSON.stringify(v)}`;
    case 'number':
      return typeof v === 'number' ? undefined : `${name} is a number, never ${JSON.stringify(v)}`;
    default:
      return assertNever(spec.type, 'trace field type');
  }
}

/**
 * What in a `match:` filter no trace event can ever carry: an unknown `kind`, a field the kind
 * does not have, a value of the wrong type or outside an enum, a dotted key into a field that is
 * not a record. Such a filter matches nothing, so `never:` and `count: { max }` would pass
 * silently; the loader reports each at its line. Without `kind`, a field of any kind is allowed.
 */
export function matchProblems(m: Readonly<Record<string, unknown>>): MatchProblem[] {
  const kind = m['kind'];
  if (kind !== undefined && (typeof kind !== 'string' || !isTraceKind(kind))) {
    return [{ field: 'kind', atKey: false, message: `unknown event kind ${JSON.stringify(kind)} (kinds: ${TRACE_KINDS.join(', ')})` }];
  }
  const kinds = kind === undefined ? TRACE_KINDS : [kind];
  const problems: MatchProblem[] = [];
  for (const key of Object.keys(m)) {
    if (key === 'kind') continue;
    const [name = '', ...sub] = key.split('.');
    const why: string[] = [];
    let known = false;
    for (const k of kinds) {
      const spec = traceFields(k).find(([f]) => f === name)?.[1];
      if (spec === undefined) continue;
      known = true;
      const bad = valueProblem(spec, name, sub, m[key]);
      if (bad === undefined) {
        why.length = 0;
        break;
      }
      why.push(kinds.length === 1 ? bad : `in ${k} events, ${bad}`);
    }
    if (!known) {
      const fields = kind === undefined ? [...new Set(TRACE_KINDS.flatMap((k) => traceFields(k).map(([f]) => f)))] : traceFields(kind).map(([f]) => f);
      const what = kind === undefined ? 'no trace event has' : `${kind} events have no`;
      problems.push({ field: key, atKey: true, message: `${what} field '${name}' (${kind === undefined ? 'fields of any kind' : 'their fields'}: ${fields.join(', ')})` });
    } else if (why.length > 0) problems.push({ field: key, atKey: false, message: why.join('; ') });
  }
  return problems;
}
