/**
 * The timeline page. Loads a trace (from `?trace=URL` as `sg viz` serves it, from a trace embedded
 * in the page as `sg run --report` writes it, or from a file picker or drag and drop), builds the
 * model (`model.ts`) and draws it with d3: SVG for lanes, state bands and markers (few elements),
 * canvas for the dense layers (control arrows, data-rate heat strips, metric curves). Zoom and pan
 * with the wheel and drag, brush the metrics to zoom to a window; click anything to inspect the
 * event and its chain of causes. The view (time window, lane filter, selection, layers) lives in
 * the URL's hash, so a link shows the same view.
 */
import * as d3 from 'd3';
import { buildModel, causeChain, decodeSummary, eventLabel, eventsNear, flowArrows, flowPort, parseTrace, windowMetrics, windowRates, type Arrow, type Model, type TraceEv } from './model.ts';

const LANE_H = 34;
const ROW_H = 9;
const LEFT = 120;
const TOP = 24;

const ROLE_COLORS: Record<string, string> = { master: '#2a9d4b', slave: '#8ab4f8', bid: '#f4b400', initial: '#ddd', exit: '#999' };
const SERVER_COLORS: Record<string, string> = { alive: '#b7e1c1', pending: '#ffd27f', dead: '#e06666' };
const ARROW_COLORS: Record<string, string> = { bidd: '#2a9d4b', sync: '#7b61ff', ctl: '#d63384', probe: '#888', arp: '#c77d00', igmp: '#00a3a3' };

interface View {
  t0: number;
  t1: number;
  lanes: string;
  sel: number | undefined;
  arrows: boolean;
  rates: boolean;
  /** Arrow kinds and marker kinds not shown (e.g. 'sync', 'probe', 'decision'). */
  hide: Set<string>;
}

let model: Model | undefined;
let events: TraceEv[] = [];
/** The selected client flow, drawn as a sequence diagram over the timeline. */
let flow: { port: number; arrows: Arrow[] } | undefined;
const view: View = { t0: 0, t1: 1, lanes: '', sel: undefined, arrows: true, rates: true, hide: new Set() };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => ($('status').textContent = s);

function readHash(): void {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has('t0')) view.t0 = Number(h.get('t0'));
  if (h.has('t1')) view.t1 = Number(h.get('t1'));
  view.lanes = h.get('lanes') ?? '';
  view.sel = h.has('sel') ? Number(h.get('sel')) : undefined;
  view.arrows = h.get('arrows') !== '0';
  view.rates = h.get('rates') !== '0';
  // State sync is a stream to every slave on every link change: hidden unless asked for.
  view.hide = new Set((h.has('hide') ? (h.get('hide') ?? '') : 'sync').split(',').filter(Boolean));
}

function writeHash(): void {
  const h = new URLSearchParams();
  h.set('t0', String(Math.round(view.t0)));
  h.set('t1', String(Math.round(view.t1)));
  if (view.lanes) h.set('lanes', view.lanes);
  if (view.sel !== undefined) h.set('sel', String(view.sel));
  if (!view.arrows) h.set('arrows', '0');
  if (!view.rates) h.set('rates', '0');
  h.set('hide', [...view.hide].join(','));
  history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
}

const fmtT = (us: number) => (Math.abs(us) >= 1e6 ? `${(us / 1e6).toFixed(3)} s` : `${(us / 1e3).toFixed(2)} ms`);

export function load(text: string, source: string): void {
  const t0 = performance.now();
  const parsed = parseTrace(text);
  events = parsed.events.sort((a, b) => a.t - b.t || a.id - b.id);
  const t1 = performance.now();
  model = buildModel(events, parsed.header);
  const t2 = performance.now();
  const hadView = location.hash.includes('t0=');
  readHash();
  if (!hadView || view.t1 <= view.t0) {
    view.t0 = model.start;
    view.t1 = model.end;
  }
  const kinds = [...model.kinds].map(([k, n]) => `${k} ${n}`).join(', ');
  status(`${source}: ${model.events.toLocaleString()} events (${kinds})${parsed.bad ? `, ${parsed.bad} bad lines skipped (${parsed.problems.join('; ')}${parsed.bad > parsed.problems.length ? '; ...' : ''})` : ''}; parsed in ${(t1 - t0).toFixed(0)} ms, modelled in ${(t2 - t1).toFixed(0)} ms`);
  ($('laneFilter') as HTMLInputElement).value = view.lanes;
  ($('showArrows') as HTMLInputElement).checked = view.arrows;
  ($('showRates') as HTMLInputElement).checked = view.rates;
  kindFilters(model);
  const t3 = performance.now();
  draw();
  document.body.dataset['events'] = String(model.events);
  document.body.dataset['arrows'] = String(model.arrows.length);
  document.body.dataset['bands'] = String(model.bands.length);
  document.body.dataset['markers'] = String(model.markers.length);
  document.body.dataset['loaded'] = 'true';
  document.body.dataset['loadMs'] = String(Math.round(t2 - t0));
  document.body.dataset['drawMs'] = String(Math.round(performance.now() - t3));
  if (view.sel !== undefined) inspect(view.sel);
}

/** One checkbox per arrow kind present in the trace and per marker kind: show or hide it. */
function kindFilters(m: Model): void {
  const box = $('kinds');
  box.innerHTML = '';
  const kinds = [...new Set(m.arrows.map((a) => a.label))].sort().concat(['fault', 'decision']);
  for (const k of kinds) {
    const label = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.dataset['kind'] = k;
    cb.checked = !view.hide.has(k);
    cb.onchange = () => {
      if (cb.checked) view.hide.delete(k);
      else view.hide.add(k);
      writeHash();
      draw();
    };
    label.append(cb, ` ${k}`);
    box.appendChild(label);
  }
}

function visibleLanes(m: Model): string[] {
  if (!view.lanes) return [...m.lanes];
  let re: RegExp;
  try {
    re = new RegExp(view.lanes);
  } catch {
    return [...m.lanes];
  }
  return m.lanes.filter((l) => re.test(l));
}

function draw(): void {
  const m = model;
  if (m === undefined) return;
  const lanes = visibleLanes(m);
  const rowsOf = new Map<string, string[]>();
  for (const b of m.bands) {
    const r = rowsOf.get(b.lane) ?? [];
    if (!r.includes(b.row)) r.push(b.row);
    rowsOf.set(b.lane, r);
  }
  const laneY = new Map<string, number>();
  let y = TOP;
  for (const l of lanes) {
    laneY.set(l, y);
    y += Math.max(LANE_H, 14 + (rowsOf.get(l)?.length ?? 0) * (ROW_H + 1));
  }
  const width = Math.max(600, ($('timeline').clientWidth || window.innerWidth - 360));
  const height = y + 22;
  const x = d3.scaleLinear().domain([view.t0, view.t1]).range([LEFT, width - 10]);
  const root = d3.select('#timeline');
  root.selectAll('*').remove();
  root.style('height', `${height}px`);
  const canvas = root.append('canvas').attr('width', width).attr('height', height).style('position', 'absolute').style('left', '0').style('top', '0').node()!;
  const svg = root.append('svg').attr('width', width).attr('height', height).style('position', 'absolute').style('left', '0').style('top', '0');
  const ctx = canvas.getContext('2d')!;
  // Data rates: a heat strip along each lane, re-bucketed for a zoomed window.
  if (view.rates) {
    const zoomed = (view.t1 - view.t0) * 50 < m.end - m.start;
    const wr = zoomed ? windowRates(events, new Set(lanes), view.t0, view.t1, 400) : { bucketUs: m.bucketUs, rates: m.rates };
    const origin = zoomed ? view.t0 : m.start;
    for (const l of lanes) {
      const r = wr.rates.get(l);
      if (r === undefined) continue;
      const max = d3.max(r) ?? 1;
      const ly = laneY.get(l)! + 2;
      for (let i = 0; i < r.length; i++) {
        if (r[i] === 0) continue;
        const bx0 = x(origin + i * wr.bucketUs);
        const bx1 = x(origin + (i + 1) * wr.bucketUs);
        if (bx1 < LEFT || bx0 > width) continue;
        ctx.fillStyle = `rgba(30, 90, 200, ${0.12 + 0.6 * (r[i]! / max)})`;
        ctx.fillRect(Math.max(LEFT, bx0), ly, Math.max(1, bx1 - bx0), 4);
      }
    }
  }
  // Control arrows (canvas): sender lane -> receiver lane.
  if (view.arrows) {
    for (const a of m.arrows) {
      const y0 = laneY.get(a.from);
      const y1 = laneY.get(a.to);
      if (y0 === undefined || y1 === undefined || a.t1 < view.t0 || a.t0 > view.t1 || view.hide.has(a.label)) continue;
      ctx.strokeStyle = ARROW_COLORS[a.label] ?? '#555';
      ctx.globalAlpha = 0.5;
      ctx.beginPath();
      ctx.moveTo(x(a.t0), y0 + 10);
      ctx.lineTo(x(a.t1), y1 + 10);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }
  // The selected flow: thick arrows with their TCP flags, a sequence diagram across the lanes.
  if (flow !== undefined) {
    ctx.lineWidth = 2;
    ctx.font = '10px sans-serif';
    for (const a of flow.arrows) {
      const y0 = laneY.get(a.from);
      const y1 = laneY.get(a.to);
      if (y0 === undefined || y1 === undefined || a.t1 < view.t0 || a.t0 > view.t1) continue;
      const x0 = x(a.t0);
      const x1 = Math.max(x0 + 2, x(a.t1));
      ctx.strokeStyle = '#e8590c';
      ctx.fillStyle = '#e8590c';
      ctx.beginPath();
      ctx.moveTo(x0, y0 + 12);
      ctx.lineTo(x1, y1 + 12);
      ctx.stroke();
      const dir = Math.sign(y1 - y0) || 1;
      ctx.beginPath();
      ctx.moveTo(x1, y1 + 12);
      ctx.lineTo(x1 - 3, y1 + 12 - 6 * dir);
      ctx.lineTo(x1 + 3, y1 + 12 - 6 * dir);
      ctx.fill();
      ctx.fillText(a.label, x1 + 3, y1 + 10);
    }
    ctx.lineWidth = 1;
  }
  // Lanes, bands, markers (SVG).
  const g = svg.append('g');
  for (const l of lanes) {
    const ly = laneY.get(l)!;
    g.append('line').attr('x1', 0).attr('x2', width).attr('y1', ly).attr('y2', ly).attr('stroke', '#e4e4e4');
    g.append('text').attr('class', 'lane-label').attr('data-lane', l).attr('x', 6).attr('y', ly + 13).text(l);
    (rowsOf.get(l) ?? []).forEach((row, ri) => {
      g.append('text').attr('x', LEFT - 4).attr('y', ly + 16 + ri * (ROW_H + 1) + ROW_H - 1).attr('text-anchor', 'end').attr('font-size', 8).attr('fill', '#777').text(row);
    });
  }
  const bandSel = g
    .selectAll('rect.band')
    .data(m.bands.filter((b) => laneY.has(b.lane) && b.to >= view.t0 && b.from <= view.t1))
    .join('rect')
    .attr('class', 'band')
    .attr('data-lane', (b) => b.lane)
    .attr('data-row', (b) => b.row)
    .attr('data-state', (b) => b.state)
    .attr('x', (b) => Math.max(LEFT, x(b.from)))
    .attr('width', (b) => Math.max(1, Math.min(width, x(b.to)) - Math.max(LEFT, x(b.from))))
    .attr('y', (b) => laneY.get(b.lane)! + 16 + (rowsOf.get(b.lane)!.indexOf(b.row)) * (ROW_H + 1))
    .attr('height', ROW_H)
    .attr('fill', (b) => (b.row === 'role' ? ROLE_COLORS[b.state] : SERVER_COLORS[b.state]) ?? '#ccc');
  bandSel.append('title').text((b) => `${b.lane} ${b.row}: ${b.state} ${fmtT(b.from)} - ${fmtT(b.to)}`);
  bandSel.on('click', (_ev, b) => {
    const near = eventsNear(events, b.lane, b.from, 1);
    const e = near.find((x) => x.kind === 'state') ?? near[0];
    if (e) inspect(e.id);
  });
  const mk = g
    .selectAll('g.marker')
    .data(m.markers.filter((mm) => laneY.has(mm.lane) && mm.t >= view.t0 && mm.t <= view.t1 && !view.hide.has(mm.kind)))
    .join('g')
    .attr('class', 'marker')
    .attr('data-id', (mm) => mm.id)
    .attr('data-kind', (mm) => mm.kind)
    .attr('transform', (mm) => `translate(${x(mm.t)},${laneY.get(mm.lane)!})`)
    .on('click', (_ev, mm) => inspect(mm.id));
  mk.append('line').attr('y1', 0).attr('y2', LANE_H - 4).attr('stroke', (mm) => (mm.kind === 'fault' ? '#d00' : '#555'));
  mk.append('text').attr('x', 3).attr('y', 9).attr('fill', (mm) => (mm.kind === 'fault' ? '#d00' : '#555')).text((mm) => mm.label);
  // Legend.
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(${LEFT},${height - 8})`);
  const entries: [string, string][] = [...Object.entries(ROLE_COLORS), ...Object.entries(SERVER_COLORS), ...Object.entries(ARROW_COLORS).map(([k, c]): [string, string] => [`${k} →`, c])];
  entries.forEach(([k, c], i) => {
    legend.append('rect').attr('x', i * 62).attr('y', -8).attr('width', 8).attr('height', 8).attr('fill', c);
    legend.append('text').attr('x', i * 62 + 11).attr('y', 0).attr('font-size', 9).text(k);
  });
    // Time axis.
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${TOP - 4})`).call(d3.axisTop(x).ticks(8).tickFormat((d) => fmtT(Number(d))));
  // Zoom and pan on the time axis.
  const zoom = d3
    .zoom<SVGSVGElement, unknown>()
    .scaleExtent([1, 1e6])
    .on('end', (ev: d3.D3ZoomEvent<SVGSVGElement, unknown>) => {
      // A plain click also ends a (null) zoom gesture: redraw only when the view moved, or the
      // redraw would replace the element being clicked.
      if (ev.transform.k === 1 && ev.transform.x === 0 && ev.transform.y === 0) return;
      const nx = ev.transform.rescaleX(x);
      const [a, b] = nx.domain() as [number, number];
      view.t0 = a;
      view.t1 = b;
      writeHash();
      draw();
    });
  svg.call(zoom).on('dblclick.zoom', null);
  // Click on empty timeline space: the nearest event in that lane.
  svg.on('click', (ev: MouseEvent) => {
    if ((ev.target as Element).closest('.band, .marker')) return;
    const [px, py] = d3.pointer(ev);
    const lane = lanes.find((l) => py >= laneY.get(l)! && py < laneY.get(l)! + LANE_H);
    const near = eventsNear(events, lane, x.invert(px), (view.t1 - view.t0) / 200, 1);
    if (near[0]) inspect(near[0].id);
  });
  drawMetrics(m, x, width);
}

function drawMetrics(m: Model, x: d3.ScaleLinear<number, number>, width: number): void {
  const root = d3.select('#metrics');
  root.selectAll('*').remove();
  const H = 150;
  const svg = root.append('svg').attr('width', width).attr('height', H * 2 + 40 + H / 2 + 10);
  // Whole-trace buckets when they resolve the window well enough; otherwise re-bucket the window.
  const zoomed = (view.t1 - view.t0) * 50 < (m.end - m.start);
  const w = zoomed ? windowMetrics(events, view.t0, view.t1, 200) : { bucketUs: m.bucketUs, metrics: m.metrics.filter((b) => b.t >= view.t0 - m.bucketUs && b.t <= view.t1), links: m.links };
  const inView = w.metrics;
  const perSec = 1e6 / w.bucketUs;
  const yReq = d3.scaleLinear().domain([0, (d3.max(inView, (b) => b.requests) ?? 1) * perSec || 1]).nice().range([H, 10]);
  const panel = svg.append('g').attr('class', 'requests');
  panel.append('g').attr('class', 'axis').attr('transform', `translate(${LEFT},0)`).call(d3.axisLeft(yReq).ticks(4));
  panel.append('text').attr('x', 6).attr('y', 20).attr('class', 'lane-label').text('requests/s');
  const line = (f: (b: (typeof inView)[number]) => number) => d3.line<(typeof inView)[number]>().defined((b) => Number.isFinite(f(b))).x((b) => x(b.t)).y((b) => f(b));
  panel.append('path').datum(inView).attr('fill', 'none').attr('stroke', '#1f6feb').attr('d', line((b) => yReq(b.requests * perSec)));
  panel.append('path').datum(inView).attr('class', 'failures').attr('fill', 'none').attr('stroke', '#d00').attr('d', line((b) => yReq(b.failures * perSec)));
  const lat = svg.append('g').attr('class', 'latency').attr('transform', `translate(0,${H + 20})`);
  const yLat = d3.scaleLinear().domain([0, d3.max(inView, (b) => (Number.isFinite(b.p99) ? b.p99 : 0)) || 1]).nice().range([H, 10]);
  lat.append('g').attr('class', 'axis').attr('transform', `translate(${LEFT},0)`).call(d3.axisLeft(yLat).ticks(4).tickFormat((d) => fmtT(Number(d))));
  lat.append('text').attr('x', 6).attr('y', 20).attr('class', 'lane-label').text('latency p50/p99');
  lat.append('path').datum(inView).attr('fill', 'none').attr('stroke', '#2a9d4b').attr('d', line((b) => yLat(b.p50)));
  lat.append('path').datum(inView).attr('fill', 'none').attr('stroke', '#f4b400').attr('d', line((b) => yLat(b.p99)));
  // New links per server (the balancer's choices), one line per server.
  const lk = svg.append('g').attr('class', 'links').attr('transform', `translate(0,${2 * H + 40})`);
  const base = zoomed ? view.t0 : m.start;
  const series = [...w.links].map(([k, arr]) => ({ k, pts: inView.map((b) => ({ t: b.t, v: arr[Math.round((b.t - base) / w.bucketUs)] ?? 0 })) }));
  const yL = d3.scaleLinear().domain([0, (d3.max(series.flatMap((s) => s.pts.map((p) => p.v))) ?? 1) * perSec || 1]).nice().range([H / 2, 10]);
  lk.append('g').attr('class', 'axis').attr('transform', `translate(${LEFT},0)`).call(d3.axisLeft(yL).ticks(3));
  lk.append('text').attr('x', 6).attr('y', 20).attr('class', 'lane-label').text('new links/s');
  const colors = d3.schemeTableau10;
  series.forEach((s, i) => {
    lk.append('path').datum(s.pts).attr('class', 'server-links').attr('data-server', s.k).attr('fill', 'none').attr('stroke', colors[i % 10]!).attr('d', d3.line<{ t: number; v: number }>().x((p) => x(p.t)).y((p) => yL(p.v * perSec)));
    lk.append('text').attr('x', width - 120).attr('y', 14 + i * 11).attr('font-size', 9).attr('fill', colors[i % 10]!).text(s.k);
  });
  // Brush a window to zoom to it.
  const brush = d3.brushX().extent([[LEFT, 0], [width - 10, H]]).on('end', (ev: d3.D3BrushEvent<unknown>) => {
    if (!ev.selection) return;
    const [a, b] = ev.selection as [number, number];
    view.t0 = x.invert(a);
    view.t1 = x.invert(b);
    writeHash();
    draw();
  });
  panel.append('g').attr('class', 'brush').call(brush);
}

function inspect(id: number): void {
  const m = model;
  if (m === undefined) return;
  const e = m.byId.get(id);
  const box = $('inspector');
  if (e === undefined) {
    box.innerHTML = `<em>no event ${id}</em>`;
    return;
  }
  view.sel = id;
  writeHash();
  // A frame of a TCP/UDP flow: draw the whole flow as a sequence diagram.
  const port = e.kind === 'frame' ? flowPort(String(e.summary ?? '')) : undefined;
  if (port !== undefined && port !== flow?.port) {
    flow = { port, arrows: flowArrows(m, events, port, e.t - 5_000_000, e.t + 5_000_000) };
    document.body.dataset['flow'] = String(flow.arrows.length);
    draw();
  }
  const chain = causeChain(m, id).slice(1);
  box.innerHTML = '';
  const h = document.createElement('h3');
  h.textContent = `event ${e.id}: ${e.kind} at ${fmtT(e.t)}${e.node ? ` on ${e.node}` : ''}`;
  box.appendChild(h);
  box.dataset['event'] = String(e.id);
  if (e.kind === 'frame' && typeof e.summary === 'string') {
    const table = document.createElement('table');
    table.className = 'decoded';
    for (const [k, v] of Object.entries(decodeSummary(e.summary))) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
    box.appendChild(table);
  }
  const pre = document.createElement('pre');
  pre.className = 'fields';
  pre.textContent = JSON.stringify(e, null, 2);
  box.appendChild(pre);
  if (chain.length > 0) {
    const c = document.createElement('div');
    c.className = 'causes';
    c.innerHTML = '<strong>caused by</strong>';
    const ol = document.createElement('ol');
    for (const x of chain) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = '#';
      a.textContent = `#${x.id} ${x.kind} ${x.node ?? ''} ${fmtT(x.t)} ${eventLabel(x)}`;
      a.onclick = (ev) => {
        ev.preventDefault();
        inspect(x.id);
      };
      li.appendChild(a);
      ol.appendChild(li);
    }
    c.appendChild(ol);
    box.appendChild(c);
  }
}

async function boot(): Promise<void> {
  readHash();
  ($('file') as HTMLInputElement).onchange = async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) load(await f.text(), f.name);
  };
  document.body.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    document.body.classList.add('dragging');
  });
  document.body.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.body.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    document.body.classList.remove('dragging');
    const f = ev.dataTransfer?.files[0];
    if (f) load(await f.text(), f.name);
  });
  ($('laneFilter') as HTMLInputElement).oninput = (ev) => {
    view.lanes = (ev.target as HTMLInputElement).value;
    writeHash();
    draw();
  };
  ($('showArrows') as HTMLInputElement).onchange = (ev) => {
    view.arrows = (ev.target as HTMLInputElement).checked;
    writeHash();
    draw();
  };
  ($('showRates') as HTMLInputElement).onchange = (ev) => {
    view.rates = (ev.target as HTMLInputElement).checked;
    writeHash();
    draw();
  };
  $('reset').onclick = () => {
    if (!model) return;
    view.t0 = model.start;
    view.t1 = model.end;
    writeHash();
    draw();
  };
  window.addEventListener('resize', () => draw());
  // An embedded trace (sg run --report) or one served next to the page (sg viz).
  const embedded = document.getElementById('sg-trace');
  if (embedded?.textContent) {
    load(embedded.textContent, document.title);
    return;
  }
  const url = new URLSearchParams(location.search).get('trace');
  if (url) {
    status(`loading ${url}…`);
    const res = await fetch(url);
    load(await res.text(), url);
  }
}

void boot();
