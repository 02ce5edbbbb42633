/**
 * Timelines of stream work: spans recorded with timing events around the ops as they are
 * queued (no host synchronisation on the hot path), resolved to milliseconds once the streams
 * have run, and exported as Chrome trace JSON (chrome://tracing, Perfetto) or an SVG Gantt chart.
 */
import { Event } from './event.js';
import type { Stream } from './stream.js';

/** One resolved span: ms from the timeline's origin. */
export interface TimelineSpan {
  readonly rank: number;
  /** Stream label ('compute', 'transfer'...). */
  readonly lane: string;
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
}

interface PendingSpan {
  readonly lane: string;
  readonly name: string;
  readonly start: Event;
  readonly end: Event;
}

export class Timeline {
  private origin: Event | null = null;
  private spans: PendingSpan[] = [];

  constructor(readonly rank: number) {}

  /** Marks time zero on `stream` (the rank's compute stream, at the iteration's start). */
  begin(stream: Stream): void {
    this.dispose();
    this.origin = stream.recordEvent({ timing: true });
  }

  /** Queues `issue`'s work between two timing events on `stream` and returns its result. */
  span<T>(name: string, lane: string, stream: Stream, issue: () => T): T {
    if (this.origin === null) return issue();
    const start = stream.recordEvent({ timing: true });
    const result = issue();
    this.spans.push({ lane, name, start, end: stream.recordEvent({ timing: true }) });
    return result;
  }

  /** Resolves the spans once every stream has run them (waits for the events). */
  async collect(): Promise<TimelineSpan[]> {
    const origin = this.origin;
    if (origin === null) return [];
    await Promise.all(this.spans.map((s) => s.end.synchronize()));
    const spans = this.spans.map((s) => ({
      rank: this.rank,
      lane: s.lane,
      name: s.name,
      startMs: origin.elapsedMs(s.start),
      endMs: origin.elapsedMs(s.end),
    }));
    this.dispose();
    return spans;
  }

  dispose(): void {
    for (const s of this.spans) {
      s.start.dispose();
      s.end.dispose();
    }
    this.spans = [];
    this.origin?.dispose();
    this.origin = null;
  }
}

/** Runs `issue` inside a span when a timeline is attached, plainly otherwise. */
export function traced<T>(timeline: Timeline | null, name: string, lane: string, stream: Stream, issue: () => T): T {
  return timeline === null ? issue() : timeline.span(name, lane, stream, issue);
}

/** Chrome trace format: one process per rank, one thread per lane, complete events in µs. */
export function toChromeTrace(spans: readonly TimelineSpan[]): { traceEvents: object[] } {
  const lanes = [...new Set(spans.map((s) => s.lane))];
  const meta = [...new Set(spans.map((s) => s.rank))].flatMap((rank) => [
    { name: 'process_name', ph: 'M', pid: rank, args: { name: `rank ${rank}` } },
    ...lanes.map((lane, tid) => ({ name: 'thread_name', ph: 'M', pid: rank, tid, args: { name: lane } })),
  ]);
  const events = spans.map((s) => ({
    name: s.name,
    ph: 'X',
    pid: s.rank,
    tid: lanes.indexOf(s.lane),
    ts: s.startMs * 1000,
    dur: Math.max(0, s.endMs - s.startMs) * 1000,
  }));
  return { traceEvents: [...meta, ...events] };
}

const COLOURS: Record<string, string> = { FNEC: '#7aa6c2', BNEC: '#4f7f9e', FEC: '#e3a857', BEC: '#c27f2f', A2A: '#9bc47a', TRANS: '#d46a6a', AGG: '#a94646', STEP: '#888888' };

/** An SVG Gantt chart: one row per (rank, lane), time on the x axis. */
export function toSvg(spans: readonly TimelineSpan[], width = 1200): string {
  const rows = [...new Set(spans.map((s) => `${s.rank}:${s.lane}`))].sort();
  const end = Math.max(1e-9, ...spans.map((s) => s.endMs));
  const rowHeight = 22;
  const left = 130;
  const scale = (width - left - 10) / end;
  const escape = (t: string) => t.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const bars = spans.map((s) => {
    const y = rows.indexOf(`${s.rank}:${s.lane}`) * rowHeight + 20;
    const kind = s.name.split(/[:\s]/)[0]?.toUpperCase() ?? '';
    const w = Math.max(0.5, (s.endMs - s.startMs) * scale);
    return `<rect x="${(left + s.startMs * scale).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${rowHeight - 4}" fill="${COLOURS[kind] ?? '#bbbbbb'}"><title>${escape(s.name)}: ${s.startMs.toFixed(3)}–${s.endMs.toFixed(3)} ms</title></rect>`;
  });
  const labels = rows.map((r, i) => {
    const [rank, lane] = r.split(':');
    return `<text x="4" y="${i * rowHeight + 34}" font-size="12" font-family="sans-serif">rank ${rank} ${escape(lane ?? '')}</text>`;
  });
  const height = rows.length * rowHeight + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<text x="4" y="14" font-size="12" font-family="sans-serif">one iteration, ${end.toFixed(2)} ms</text>`,
    ...labels,
    ...bars,
    '</svg>',
  ].join('\n');
}
