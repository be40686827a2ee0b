/**
 * `ctr events` (and `ctr system events`): the events log as docker's `events`
 * prints it: past events from `--since`, then new ones as they are recorded,
 * until `--until` or an interrupt; `--filter` with docker's keys and
 * matching rules; `--format` with Go templates on docker's event fields.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { type EngineEvent, followEvents, formatEventLine } from "../engine/events.ts";
import { parseTemplate } from "../format/mod.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters } from "./filters.ts";
import { filterOption } from "./output.ts";

/** The keys of `events --filter` (docker's; `daemon` matches nothing here). */
export const EVENT_FILTERS = [
  "container",
  "event",
  "image",
  "label",
  "network",
  "type",
  "volume",
  "scope",
  "daemon",
];

/** The options of `ctr events`. */
export const EVENTS_OPTIONS: readonly OptionSpec[] = [
  filterOption(EVENT_FILTERS.filter((k) => k !== "daemon")),
  {
    name: "format",
    type: "string",
    arg: "TEMPLATE",
    help: "Format the output using the given Go template (json: one object per line)",
  },
  { name: "since", type: "string", arg: "TIME", help: "Show all events created since timestamp" },
  { name: "until", type: "string", arg: "TIME", help: "Stream events until this timestamp" },
];

/** Go's time.ParseDuration grammar: `300ms`, `1.5h`, `2h45m`. */
const GO_DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

function durationNs(text: string): number {
  const sign = text.startsWith("-") ? -1 : 1;
  let ns = 0;
  for (const m of text.replace(/^[-+]/, "").matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    ns += Number(m[1]) * UNIT_NS[m[2]];
  }
  return sign * ns;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|[zZ]|[+-]\d{2}:\d{2})?$/;

/**
 * docker's `--since`/`--until` value (timetypes.GetTimestamp) as
 * nanoseconds since the epoch: a Go duration before `nowMs` (`10m`), an
 * RFC 3339 date or time (local when it names no zone: `2024-01-02`,
 * `2024-01-02T15:04`, `2024-01-02T15:04:05.5Z`), or Unix seconds
 * (`1700000000.5`).
 */
export function parseEventTime(
  value: string,
  nowMs = Date.now(),
  offsetMinutes?: number,
): number {
  const v = value.trim();
  if (v !== "0" && GO_DURATION.test(v)) return nowMs * 1e6 - durationNs(v);
  const m = DATE_TIME.exec(v);
  if (m) {
    const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
    const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
    let offset: number;
    if (zone === undefined) {
      offset = offsetMinutes ?? -new Date(utc).getTimezoneOffset();
    } else if (/^[zZ]$/.test(zone)) {
      offset = 0;
    } else {
      offset = (zone[0] === "-" ? -1 : 1) *
        (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
    }
    return (utc - offset * 60_000) * 1e6 + Number((frac + "000000000").slice(0, 9));
  }
  if (/^\d+(\.\d{1,9})?$/.test(v)) {
    const [sec, frac = ""] = v.split(".");
    return Number(sec) * 1e9 + Number((frac + "000000000").slice(0, 9));
  }
  throw new UsageError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
}

/** A reference without its tag (`busybox:1` → `busybox`), as docker's stripTag. */
function stripTag(ref: string): string {
  const at = ref.indexOf("@");
  if (at >= 0) return ref.slice(0, at);
  const colon = ref.lastIndexOf(":");
  return colon > ref.lastIndexOf("/") ? ref.slice(0, colon) : ref;
}

/** Whether an event passes docker's event filters. */
export function eventMatches(f: Filters, e: EngineEvent): boolean {
  const attrs = e.Actor.Attributes;
  // docker: a value matches exactly, or as a prefix of the id or name.
  const fuzzy = (key: string) =>
    f.match(
      key,
      (v) => e.Type === key && [e.Actor.ID, attrs.name ?? ""].some((x) => x.startsWith(v)),
    );
  const imageName = attrs[e.Type === "image" ? "name" : "image"] ?? "";
  const fuzzyEvent = f.values("event").some((v) =>
    ["health_status", "exec_create", "exec_start"].includes(v)
  );
  return f.match("event", (v) => fuzzyEvent ? e.Action.startsWith(v) : e.Action === v) &&
    f.match("type", (v) => e.Type === v) &&
    f.match("scope", (v) => v === e.scope) &&
    !f.has("daemon") &&
    fuzzy("container") &&
    fuzzy("network") &&
    fuzzy("volume") &&
    f.match(
      "image",
      (v) => [e.Actor.ID, imageName, stripTag(e.Actor.ID), stripTag(imageName)].includes(v),
    ) &&
    f.values("label").every((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? Object.hasOwn(attrs, l) : attrs[l.slice(0, eq)] === l.slice(eq + 1);
    });
}

/** The event as a Go template sees docker's events.Message (its Go field names). */
export function eventTemplateData(e: EngineEvent): Record<string, unknown> {
  return {
    Status: e.status ?? "",
    ID: e.id ?? "",
    From: e.from ?? "",
    Type: e.Type,
    Action: e.Action,
    Actor: e.Actor,
    Scope: e.scope,
    Time: e.time,
    TimeNano: e.timeNano,
  };
}

/** Formats events one line each: docker's default line, JSON, or a template. */
export function eventPrinter(format: string | undefined): (e: EngineEvent) => string {
  if (format === undefined || format === "") return (e) => formatEventLine(e);
  const f = format.trim();
  // docker marshals the message with its JSON names (status, id, from, scope, time...).
  if (f === "json" || /^\{\{\s*json\s+\.\s*\}\}$/.test(f)) return (e) => JSON.stringify(e);
  const tpl = parseTemplate(f.replaceAll("\\t", "\t").replaceAll("\\n", "\n"));
  return (e) => tpl.execute(eventTemplateData(e));
}

/** Runs `ctr events`; streams until --until passes or the process is interrupted. */
export async function eventsCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, EVENTS_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr events" accepts no arguments`);
  const filters = Filters.parse(opts.filter as string[] | undefined, EVENT_FILTERS);
  const now = Date.now();
  const since = opts.since !== undefined ? parseEventTime(opts.since as string, now) : undefined;
  const until = opts.until !== undefined ? parseEventTime(opts.until as string, now) : undefined;
  if (since !== undefined && until !== undefined && since > until) {
    throw new UsageError("--since must be before --until");
  }
  const print = eventPrinter(opts.format as string | undefined);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    for await (const e of followEvents(g.stateDir, { since, until, signal: stop.signal })) {
      if (eventMatches(filters, e)) console.log(print(e));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  return 0;
}
