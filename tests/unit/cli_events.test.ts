/** The events log and `ctr events`' time, filter and format rules, without root. */
import assert from "node:assert/strict";
import {
  containerAttributes,
  type EngineEvent,
  eventsPath,
  formatEventLine,
  makeEvent,
  readEvents,
  readEventsFrom,
  recordEvent,
} from "../../lib/engine/events.ts";
import { eventMatches, eventPrinter, parseEventTime } from "../../lib/cli/events.ts";
import { Filters } from "../../lib/cli/filters.ts";
import { UsageError } from "../../lib/cli/args.ts";

const ID = "ab".repeat(32);
const AT = 1_700_000_000_123_456; // µs

Deno.test("makeEvent() gives docker's fields, the legacy ones for containers and images only", () => {
  const e = makeEvent("container", "start", {
    id: ID,
    attributes: containerAttributes({ name: "web", image: "busybox", labels: { z: "1", a: "2" } }),
  }, AT);
  assert.deepEqual(e, {
    status: "start",
    id: ID,
    from: "busybox",
    Type: "container",
    Action: "start",
    Actor: { ID, Attributes: { a: "2", image: "busybox", name: "web", z: "1" } },
    scope: "local",
    time: 1_700_000_000,
    timeNano: 1_700_000_000_123_456_000,
  });
  assert.equal(JSON.stringify(e).includes('"timeNano":1700000000123456000'), true);
  const v = makeEvent("volume", "create", { id: "data", attributes: { driver: "local" } }, AT);
  assert.deepEqual(Object.keys(v), ["Type", "Action", "Actor", "scope", "time", "timeNano"]);
});

Deno.test("formatEventLine() prints docker's line: time, type, action, id, sorted attributes", () => {
  const e = makeEvent("container", "die", {
    id: ID,
    attributes: { name: "web", image: "busybox", exitCode: "137" },
  }, AT);
  assert.equal(
    formatEventLine(e, 0),
    `2023-11-14T22:13:20.123456000Z container die ${ID} (exitCode=137, image=busybox, name=web)`,
  );
  assert.match(formatEventLine(e, 60), /^2023-11-14T23:13:20\.123456000\+01:00 /);
  const bare = makeEvent("network", "destroy", { id: "n1" }, AT);
  assert.equal(formatEventLine(bare, 0), "2023-11-14T22:13:20.123456000Z network destroy n1");
});

Deno.test("recordEvent() appends lines; a full log rotates and a follower reads across the rotation", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const ev = (n: number) => makeEvent("volume", "create", { id: `v${n}` }, AT + n);
    recordEvent(dir, ev(1));
    let { events, pos } = readEventsFrom(dir, undefined);
    assert.deepEqual(events.map((e) => e.Actor.ID), ["v1"]);
    const size = Deno.statSync(eventsPath(dir)).size;
    // Three more events with a limit of two lines: the log moves to events.log.1 once.
    for (const n of [2, 3, 4]) recordEvent(dir, ev(n), { maxSize: size * 2 });
    ({ events, pos } = readEventsFrom(dir, pos));
    assert.deepEqual(events.map((e) => e.Actor.ID), ["v2", "v3", "v4"]);
    assert.deepEqual(readEvents(dir).map((e) => e.Actor.ID), ["v1", "v2", "v3", "v4"]);
    ({ events } = readEventsFrom(dir, pos));
    assert.deepEqual(events, []);
    // A line cut short by a crash is skipped, and a partial line waits for its end.
    Deno.writeTextFileSync(eventsPath(dir), "{broken\n", { append: true });
    Deno.writeTextFileSync(eventsPath(dir), '{"Type":"volume"', { append: true });
    ({ events, pos } = readEventsFrom(dir, pos));
    assert.deepEqual(events, []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("recordEvent() never throws: a state directory it cannot write loses the event", () => {
  recordEvent("/proc/version/nope", makeEvent("volume", "create", { id: "x" }));
});

Deno.test("parseEventTime() takes docker's forms: durations, RFC 3339 dates and times, Unix seconds", () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  assert.equal(parseEventTime("10m", now), (now - 600_000) * 1e6);
  assert.equal(parseEventTime("1h30m", now), (now - 5_400_000) * 1e6);
  assert.equal(parseEventTime("0", now), 0);
  assert.equal(parseEventTime("1700000000", now), 1_700_000_000e9);
  assert.equal(parseEventTime("1700000000.5", now), 1_700_000_000.5e9);
  assert.equal(parseEventTime("2024-01-02T10:00:00Z", now), Date.UTC(2024, 0, 2, 10) * 1e6);
  assert.equal(
    parseEventTime("2024-01-02T10:00:00.25+02:00", now),
    Date.UTC(2024, 0, 2, 8) * 1e6 + 250e6,
  );
  // Without a zone: local time (here, a zone an hour east of UTC).
  assert.equal(parseEventTime("2024-01-02", now, 60), Date.UTC(2024, 0, 1, 23) * 1e6);
  assert.equal(parseEventTime("2024-01-02T10:30", now, 0), Date.UTC(2024, 0, 2, 10, 30) * 1e6);
  assert.throws(() => parseEventTime("yesterday", now), UsageError);
});

Deno.test("eventMatches() applies docker's event filters", () => {
  const c = makeEvent("container", "exec_start: sh -c true", {
    id: ID,
    attributes: { name: "web", image: "busybox:1", tier: "front" },
  });
  const img = makeEvent("image", "tag", {
    id: "sha256:" + "cd".repeat(32),
    attributes: { name: "app:v1" },
  });
  const f = (...v: string[]) =>
    Filters.parse(v, [
      "container",
      "event",
      "image",
      "label",
      "network",
      "type",
      "volume",
      "scope",
      "daemon",
    ]);
  assert.ok(eventMatches(f(), c));
  assert.ok(eventMatches(f("container=web"), c));
  assert.ok(eventMatches(f("container=abab"), c));
  assert.ok(!eventMatches(f("container=db"), c));
  assert.ok(!eventMatches(f("container=web"), img));
  assert.ok(eventMatches(f("event=exec_start"), c));
  assert.ok(!eventMatches(f("event=start"), c));
  assert.ok(eventMatches(f("type=image", "type=volume"), img));
  assert.ok(eventMatches(f("image=busybox"), c));
  assert.ok(eventMatches(f("image=app"), img));
  assert.ok(eventMatches(f("label=tier=front", "label=tier"), c));
  assert.ok(!eventMatches(f("label=tier=back"), c));
});

Deno.test("eventPrinter(): json is the record as logged; templates see docker's Go field names", () => {
  const e: EngineEvent = makeEvent("container", "stop", {
    id: ID,
    attributes: { name: "web", image: "bb" },
  }, AT);
  assert.equal(eventPrinter("json")(e), JSON.stringify(e));
  assert.equal(eventPrinter("{{json .}}")(e), JSON.stringify(e));
  assert.equal(
    eventPrinter(
      "{{.Type}} {{.Status}} {{.Action}} {{.Actor.Attributes.name}} {{.From}} {{.Time}}",
    )(e),
    "container stop stop web bb 1700000000",
  );
});
