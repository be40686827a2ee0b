/**
 * The Engine API's `GET /events`: the events log (lib/engine/events.ts) as
 * docker's event objects, one JSON document per line on a chunked stream:
 * those since `since`, then new ones as they are recorded, until `until`
 * passes or the client goes away (without `until`, for ever). Filters are
 * `ctr events --filter`'s, with docker's keys and matching.
 * @module
 */

import { HttpError, type Request, type Response } from "./http.ts";
import type { ApiContext, Router } from "./router.ts";
import { queryFilters } from "./filters.ts";

/** The keys `GET /events` filters on (`ctr events --filter`'s). */
const EVENT_FILTERS = [
  "container",
  "event",
  "image",
  "label",
  "network",
  "type",
  "volume",
  "scope",
];

/** `GET /events`. */
export class EventRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/events", (q, res) => this.#events(q, res));
  }

  async #events(req: Request, res: Response): Promise<void> {
    const { eventMatches, parseEventTime } = await import("../cli/events.ts");
    const { followEvents } = await import("../engine/events.ts");
    const filters = queryFilters(req, EVENT_FILTERS);
    const now = Date.now();
    const time = (k: string) => {
      const v = req.query.get(k);
      return v ? parseEventTime(v, now) : undefined;
    };
    const until = time("until");
    // As docker's daemon: with `until` alone, the past events before it come too.
    const since = time("since") ?? (until !== undefined ? 0 : undefined);
    if (since !== undefined && until !== undefined && since > until) {
      throw new HttpError(400, "since must be before until");
    }
    // The connection ends with the stream: the watch below reads from it.
    res.close = true;
    const out = await res.stream(200, { "Content-Type": "application/json" });
    const stop = new AbortController();
    watchClose(res.conn, stop);
    const enc = new TextEncoder();
    try {
      const opts = { since, until, signal: stop.signal };
      for await (const e of followEvents(this.ctx.g.stateDir, opts)) {
        if (eventMatches(filters, e)) await out.write(enc.encode(JSON.stringify(e) + "\n"));
      }
      await out.end();
    } catch {
      // The client went away (a write failed): nothing more to answer.
    } finally {
      stop.abort();
    }
  }
}

/**
 * Aborts `stop` when the client closes its side: a client that follows
 * events sends nothing more, and without this a quiet log would never show
 * that it left.
 */
function watchClose(conn: Deno.Conn, stop: AbortController): void {
  const buf = new Uint8Array(1);
  conn.read(buf).then((n) => {
    if (n === null) stop.abort();
  }, () => stop.abort());
}
