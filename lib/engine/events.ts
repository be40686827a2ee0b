/**
 * The events log: what happened to containers, images, networks and volumes,
 * in docker's event shape (`Type`, `Action`, `Actor.ID`, `Actor.Attributes`,
 * `scope`, `time`, `timeNano`, and for containers and images the legacy
 * `status`, `id` and `from`), so that `ctr events` prints what `docker
 * events` prints.
 *
 * dockerd keeps its events in memory; ctr has no daemon, so every ctr
 * process that changes something appends a line to `STATE/events.log`
 * (one `write` with O_APPEND per event: lines from concurrent processes
 * never interleave). The file is rotated by size to `events.log.1` (one old
 * file is kept), so the log never grows without bound; a reader that follows
 * it notices the rotation by the inode. Recording an event never fails the
 * work it records: a log that cannot be written is skipped.
 * @module
 */

import { FileLock } from "../os/lock.ts";
import type { ContainerState } from "./state.ts";

/** The kinds of object an event is about. */
export type EventType = "container" | "image" | "network" | "volume";

/** One event, as docker's API and `docker events --format '{{json .}}'` give it. */
export interface EngineEvent {
  /** Legacy fields of container and image events (the action, the id, the image). */
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
  readonly Type: EventType;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: "local";
  /** Seconds since the epoch. */
  readonly time: number;
  /** Nanoseconds since the epoch (microsecond precision: a double holds no more). */
  readonly timeNano: number;
}

/** The log's file name in the state directory. */
export const EVENTS_FILE = "events.log";

/** Bytes after which the log is rotated (to `events.log.1`, replacing the older one). */
export const EVENTS_MAX_SIZE = 1 << 20;

/** Microseconds since the epoch, from the monotonic clock's origin (finer than Date.now()). */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * An event of `type` with docker's fields. `at` is microseconds since the
 * epoch (now when omitted).
 */
export function makeEvent(
  type: EventType,
  action: string,
  actor: { id: string; attributes?: Readonly<Record<string, string>> },
  at: number = nowMicros(),
): EngineEvent {
  const attributes = actor.attributes ?? {};
  const legacy = type === "container"
    ? {
      status: action,
      id: actor.id,
      ...(attributes.image !== undefined && { from: attributes.image }),
    }
    : type === "image"
    ? { status: action, id: actor.id }
    : {};
  return {
    ...legacy,
    Type: type,
    Action: action,
    Actor: { ID: actor.id, Attributes: sortedAttributes(attributes) },
    scope: "local",
    time: Math.floor(at / 1e6),
    timeNano: at * 1000,
  };
}

function sortedAttributes(a: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(a).sort()) out[k] = a[k];
  return out;
}

/**
 * The attributes docker gives a container's events: its labels, `image` and
 * `name`, and what the action adds (`exitCode`, `signal`, `execID`, ...).
 */
export function containerAttributes(
  c: {
    readonly name: string;
    readonly image: string;
    readonly labels?: Readonly<Record<string, string>>;
  },
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return { ...(c.labels ?? {}), image: c.image, name: c.name, ...extra };
}

/** The log's path in a state directory. */
export function eventsPath(stateDir: string): string {
  return `${stateDir}/${EVENTS_FILE}`;
}

const enc = new TextEncoder();

/**
 * Appends an event to the log of `stateDir`, rotating the log when it has
 * grown past `maxSize`. Never throws: an event that cannot be written is lost,
 * the work it describes is not.
 */
export function recordEvent(
  stateDir: string,
  event: EngineEvent,
  opts: { maxSize?: number } = {},
): void {
  const path = eventsPath(stateDir);
  const max = opts.maxSize ?? EVENTS_MAX_SIZE;
  try {
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    } catch (e) {
      // The state directory is made by the first writer: not looked for at every event.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    }
    let size: number;
    try {
      // One write: O_APPEND puts the whole line at the end, whoever else appends.
      f.writeSync(enc.encode(JSON.stringify(event) + "\n"));
      size = f.statSync().size;
    } finally {
      f.close();
    }
    if (size > max) rotate(path, max);
  } catch { /* a full disk or a read-only state directory: the event is lost */ }
}

/** Moves a full log aside under its lock (two writers that both see it full rotate once). */
function rotate(path: string, maxSize: number): void {
  const lock = FileLock.try(`${path}.lock`, "exclusive");
  if (!lock) return; // another process rotates it right now
  try {
    if (Deno.statSync(path).size > maxSize) Deno.renameSync(path, `${path}.1`);
  } finally {
    lock.release();
  }
}

/** Records a container's event with docker's attributes. */
export function containerEvent(
  stateDir: string,
  c: {
    readonly id: string;
    readonly name: string;
    readonly image: string;
    readonly labels?: Readonly<Record<string, string>>;
  },
  action: string,
  extra: Readonly<Record<string, string>> = {},
): void {
  recordEvent(
    stateDir,
    makeEvent("container", action, { id: c.id, attributes: containerAttributes(c, extra) }),
  );
}

/** Records a network's event (`create`, `destroy`; `connect`, `disconnect` name the container). */
export function networkEvent(
  stateDir: string,
  network: { readonly id: string; readonly name: string } | undefined,
  action: string,
  containerId?: string,
): void {
  if (!network) return;
  recordEvent(
    stateDir,
    makeEvent("network", action, {
      id: network.id,
      attributes: {
        ...(containerId !== undefined && { container: containerId }),
        name: network.name,
        type: "bridge",
      },
    }),
  );
}

/** Records a volume's event (`create`, `destroy`). */
export function volumeEvent(stateDir: string, name: string, action: string): void {
  recordEvent(stateDir, makeEvent("volume", action, { id: name, attributes: { driver: "local" } }));
}

/**
 * Records `mount` (at a start) or `unmount` (at the end) for each named
 * volume a container uses, with docker's attributes.
 */
export function volumeMountEvents(
  stateDir: string,
  s: Pick<ContainerState, "id" | "volumes" | "config">,
  action: "mount" | "unmount",
): void {
  for (const name of s.volumes ?? []) {
    const m = s.config?.mounts.find((m) =>
      m.type === "bind" && m.source.endsWith(`/volumes/${name}/_data`)
    );
    const attributes: Record<string, string> = action === "mount"
      ? {
        container: s.id,
        destination: m?.destination ?? "",
        driver: "local",
        propagation: "",
        "read/write": String(!(m?.type === "bind" && m.readonly)),
      }
      : { container: s.id, driver: "local" };
    recordEvent(stateDir, makeEvent("volume", action, { id: name, attributes }));
  }
}

/**
 * Records an image's event. Docker names the image by its ID and puts the
 * name the action concerns in `name` (a pull names the reference).
 */
export function imageEvent(
  stateDir: string,
  id: string,
  action: string,
  attributes: Readonly<Record<string, string>> = {},
): void {
  recordEvent(stateDir, makeEvent("image", action, { id, attributes }));
}

const dec = new TextDecoder();

function parseLines(text: string): EngineEvent[] {
  const out: EngineEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a line cut by a crash: skipped */ }
  }
  return out;
}

function readText(path: string, from = 0): { text: string; ino: number; size: number } | undefined {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path);
  } catch {
    return undefined;
  }
  try {
    const st = f.statSync();
    if (from > st.size) from = 0;
    f.seekSync(from, Deno.SeekMode.Start);
    const buf = new Uint8Array(st.size - from);
    let off = 0;
    while (off < buf.length) {
      const n = f.readSync(buf.subarray(off));
      if (n === null || n === 0) break;
      off += n;
    }
    // Only whole lines: a writer may be in the middle of one.
    const end = buf.subarray(0, off).lastIndexOf(0x0a) + 1;
    return { text: dec.decode(buf.subarray(0, end)), ino: st.ino ?? 0, size: from + end };
  } finally {
    f.close();
  }
}

/** Every recorded event, oldest first (the rotated file, then the current one). */
export function readEvents(stateDir: string): EngineEvent[] {
  const path = eventsPath(stateDir);
  return [
    ...parseLines(readText(`${path}.1`)?.text ?? ""),
    ...parseLines(readText(path)?.text ?? ""),
  ];
}

/** Where a follower has read the log to: the file's inode and the offset of the next line. */
export interface LogPosition {
  readonly ino: number;
  readonly offset: number;
}

/**
 * The events recorded since `pos` (from the start when undefined), and the
 * new position. A rotation since `pos` is seen by the inode: the rest of the
 * old file (now `events.log.1`) comes first.
 */
export function readEventsFrom(
  stateDir: string,
  pos: LogPosition | undefined,
): { events: EngineEvent[]; pos: LogPosition } {
  const path = eventsPath(stateDir);
  const events: EngineEvent[] = [];
  if (pos === undefined) {
    events.push(...parseLines(readText(`${path}.1`)?.text ?? ""));
  }
  let cur = readText(path, 0);
  if (pos !== undefined && cur && cur.ino !== pos.ino) {
    // Rotated: the file we were reading is events.log.1 now (or gone).
    const old = readText(`${path}.1`, pos.offset);
    if (old && old.ino === pos.ino) events.push(...parseLines(old.text));
  } else if (pos !== undefined && cur) {
    cur = readText(path, pos.offset);
  }
  if (!cur) return { events, pos: pos ?? { ino: 0, offset: 0 } };
  events.push(...parseLines(cur.text));
  return { events, pos: { ino: cur.ino, offset: cur.size } };
}

/**
 * Reads recorded events and then new ones as they are appended, until
 * `until` (nanoseconds since the epoch) has passed or `signal` aborts.
 * Past events are given only from `since` on; without `since`, only new ones
 * (docker's behaviour).
 */
export async function* followEvents(
  stateDir: string,
  opts: { since?: number; until?: number; signal?: AbortSignal; pollMs?: number } = {},
): AsyncGenerator<EngineEvent> {
  const inRange = (e: EngineEvent) =>
    (opts.since === undefined || e.timeNano >= opts.since) &&
    (opts.until === undefined || e.timeNano <= opts.until);
  let { events, pos } = readEventsFrom(stateDir, undefined);
  if (opts.since !== undefined) { for (const e of events) if (inRange(e)) yield e; }
  const poll = opts.pollMs ?? 100;
  while (!opts.signal?.aborted) {
    if (opts.until !== undefined && Date.now() * 1e6 > opts.until) return;
    await new Promise((r) => setTimeout(r, poll));
    ({ events, pos } = readEventsFrom(stateDir, pos));
    for (const e of events) if (inRange(e)) yield e;
  }
}

/** A time as Go's RFC3339Nano with fixed nanoseconds, in the local zone (docker's event lines). */
export function formatEventTime(
  timeNano: number,
  offsetMinutes = -new Date().getTimezoneOffset(),
): string {
  const micros = Math.round(timeNano / 1000);
  const local = new Date(Math.floor(micros / 1000) + offsetMinutes * 60_000);
  const frac = String(micros % 1_000_000).padStart(6, "0") + "000";
  const zone = offsetMinutes === 0
    ? "Z"
    : `${offsetMinutes > 0 ? "+" : "-"}${
      String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, "0")
    }:${String(Math.abs(offsetMinutes) % 60).padStart(2, "0")}`;
  return `${local.toISOString().slice(0, 19)}.${frac}${zone}`;
}

/**
 * An event as `docker events` prints it without --format:
 * `TIME TYPE ACTION ID (k=v, k=v)`, the attributes sorted by key.
 */
export function formatEventLine(e: EngineEvent, offsetMinutes?: number): string {
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${formatEventTime(e.timeNano, offsetMinutes)} ${e.Type} ${e.Action} ${e.Actor.ID}${
    attrs.length ? ` (${attrs.join(", ")})` : ""
  }`;
}
