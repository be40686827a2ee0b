/**
 * The Engine API's routing and the pieces every group of routes shares:
 * a table of method and path patterns (versioned `/vX.YY/...` paths and
 * unversioned ones alike), docker's stream frames, its query booleans,
 * JSON bodies, and errors mapped to the status codes docker answers with.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import type { StateDir } from "../engine/state.ts";
import { HttpError, type Request, type Response } from "./http.ts";
import { sleep } from "../os/async.ts";

/** The API version ctr speaks (docker 20.10's). */
export const API_VERSION = "1.41";

/** What a group of routes works on: the store and state directory of one ctr. */
export interface ApiContext {
  readonly g: Globals;
  readonly dir: StateDir;
}

/** One route's handler: the pattern's groups, percent-decoded, in `params`. */
export type Handler = (req: Request, res: Response, params: string[]) => Promise<void>;

/** A route table: the first pattern that matches the path and the method answers. */
export class Router {
  readonly #routes: [string, RegExp, Handler][] = [];

  /** Adds a route; `pattern` is a regular expression for the whole unversioned path. */
  add(method: string, pattern: string, h: Handler): void {
    this.#routes.push([method, new RegExp(`^${pattern}$`), h]);
  }

  /** Answers one request (the path may carry a /vX.YY prefix). */
  async handle(req: Request, res: Response): Promise<void> {
    const path = req.path.replace(/^\/v\d+\.\d+(?=\/)/, "");
    let methodMatched = false;
    for (const [m, re, h] of this.#routes) {
      const hit = re.exec(path);
      if (!hit) continue;
      if (m !== req.method) {
        methodMatched = true;
        continue;
      }
      const params = hit.slice(1).map((p) => decodeURIComponent(p));
      try {
        return await h(req, res, params);
      } catch (e) {
        throw toHttp(e);
      }
    }
    if (methodMatched) throw new HttpError(405, `method ${req.method} not allowed on ${path}`);
    throw new HttpError(404, `page not found: ${req.method} ${path}`);
  }
}

/** A request's JSON body (an empty body is `{}`); 400 when it does not parse or is no object. */
export function jsonBody(req: Request): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(req.body) || "{}");
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new HttpError(400, "invalid JSON: the body must be an object");
  }
  return v as Record<string, unknown>;
}

/**
 * Ends a hijacked stream as docker does: our side first (the client sees
 * EOF), then whatever the client still sends is read until it closes too,
 * so that closing never resets a connection with unread input.
 */
export async function endStream(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch { /* gone */ }
  const buf = new Uint8Array(4096);
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      sleep(until - Date.now()).then(() => null),
    ]);
    if (n === null) return;
  }
}

/** docker's stream frame: [stream, 0, 0, 0, length (32 bits, big-endian)] and the data. */
export function frame(stream: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

/** A boolean query parameter as docker's daemon reads one (Go's ParseBool: 1, t, true, True...). */
export function boolParam(req: Request, k: string): boolean {
  return /^(1|t|true)$/i.test(req.query.get(k) ?? "");
}

/** Errors as the API answers them: docker's status codes for its messages. */
export function toHttp(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const m = (e as Error).message ?? String(e);
  if (/^No such (container|image|object)|not found|Unable to find image/i.test(m)) {
    const image = /Unable to find image '([^']+)'/.exec(m);
    return new HttpError(404, image ? `No such image: ${image[1]}` : m);
  }
  if (
    /Conflict|already in use|is not running|is already paused|is not paused|cannot remove a running/i
      .test(m)
  ) {
    return new HttpError(409, m);
  }
  if (/invalid|unknown flag|requires|must|bad |Invalid filter/i.test(m)) {
    return new HttpError(400, m);
  }
  return new HttpError(500, m);
}
