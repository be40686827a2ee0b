/**
 * Progress of pulls and pushes, as docker shows it: one line per layer
 * (`3f4d90098f5b: Downloading [==>    ]  1.2MB/3.4MB`), rewritten in place on a
 * terminal; elsewhere (a log, a pipe) one plain line each time a layer
 * changes state (`3f4d90098f5b: Pull complete`), never a line per chunk.
 * @module
 */

import { humanDuration } from "../format/units.ts";

/** Where pulls and pushes report. */
export interface Progress {
  /** A line of its own: a heading or a status. */
  line(text: string): void;
  /** The state of one item (a layer, by short digest) on its own line. */
  update(id: string, status: string, current?: number, total?: number): void;
}

/** Reports nothing. */
export const NO_PROGRESS: Progress = { line() {}, update() {} };

/** What progress is written to: Deno.stderr, or a test double. */
export interface ProgressOut {
  writeSync(p: Uint8Array): number;
  isTerminal(): boolean;
}

/** A size as docker prints it: 4.26MB (powers of 1000, three significant digits). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes, i = 0;
  while (v >= 1000 && i < units.length - 1) v /= 1000, i++;
  return `${i === 0 ? v : v.toPrecision(3).replace(/\.?0+$/, "")}${units[i]}`;
}

const BAR_WIDTH = 50;

/** docker's progress bar and counts: `[=====>     ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current).padStart(8);
  const done = Math.min(BAR_WIDTH, Math.floor((current / total) * BAR_WIDTH));
  const arrow = done < BAR_WIDTH ? ">" : "";
  const bar = `[${"=".repeat(done)}${arrow}${" ".repeat(BAR_WIDTH - done - arrow.length)}]`;
  return `${bar} ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** Minimum time between two redraws of one item's counts on a terminal. */
const REDRAW_MS = 100;

/** A Progress that writes to `out`: in place on a terminal, plain lines elsewhere. */
export function progressTo(out: ProgressOut): Progress {
  const enc = new TextEncoder();
  const write = (s: string) => {
    const b = enc.encode(s);
    for (let off = 0; off < b.length;) off += out.writeSync(b.subarray(off));
  };
  if (!out.isTerminal()) {
    const last = new Map<string, string>();
    return {
      line: (text) => write(`${text}\n`),
      update(id, status, _current, total) {
        if (last.get(id) === status) return;
        last.set(id, status);
        const size = total !== undefined && /^(Downloading|Pushing)$/.test(status)
          ? ` ${humanSize(total)}`
          : "";
        write(`${id}: ${status}${size}\n`);
      },
    };
  }
  let columns = 0;
  try {
    columns = Deno.consoleSize().columns;
  } catch { /* not the console: no truncation */ }
  const fit = (s: string) => columns > 1 && s.length >= columns ? s.slice(0, columns - 1) : s;
  /** Every line written so far: an item's id, or undefined for a plain line. */
  const rows: (string | undefined)[] = [];
  const shown = new Map<string, { status: string; at: number }>();
  return {
    line(text) {
      rows.push(undefined);
      write(`${fit(text)}\n`);
    },
    update(id, status, current, total) {
      const now = Date.now();
      const prev = shown.get(id);
      if (prev && prev.status === status && current !== undefined && now - prev.at < REDRAW_MS) {
        if (current !== total) return;
      }
      shown.set(id, { status, at: now });
      const counts = current !== undefined ? ` ${progressBar(current, total ?? 0)}` : "";
      const text = fit(`${id}: ${status}${counts}`);
      const row = rows.lastIndexOf(id);
      if (row === -1) {
        rows.push(id);
        write(`${text}\n`);
        return;
      }
      const up = rows.length - row;
      write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
    },
  };
}

/** How long ago, as docker prints it: "3 days ago" (go-units' HumanDuration). */
export function humanAge(created: string | undefined, now = Date.now()): string {
  const t = created ? Date.parse(created) : NaN;
  return isNaN(t) ? "N/A" : `${humanDuration(now - t)} ago`;
}
