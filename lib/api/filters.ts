/**
 * docker's `filters` query parameter, which every list and prune route
 * takes, as the Filters of the command line's `--filter`, so that a route
 * matches as its command does.
 * @module
 */

import { HttpError, type Request } from "./http.ts";
import { Filters } from "../cli/filters.ts";

/**
 * The `filters` query parameter: docker's JSON map of key to values, either
 * `{"label": {"a=b": true}}` or the older `{"label": ["a=b"]}`; keys outside
 * `allowed` are a 400, as docker's `Invalid filter`.
 */
export function queryFilters(req: Request, allowed: readonly string[]): Filters {
  const text = req.query.get("filters");
  if (!text) return new Filters();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid filters: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new HttpError(400, `invalid filters: ${text}`);
  }
  const m = new Map<string, string[]>();
  for (const [key, values] of Object.entries(v as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw new HttpError(400, `Invalid filter '${key}'`);
    const list = Array.isArray(values)
      ? values
      : Object.entries((values ?? {}) as Record<string, unknown>).filter(([, on]) => on === true)
        .map(([k]) => k);
    m.set(key, list.map(String));
  }
  return new Filters(m);
}

/** The `filters` query parameter as `--filter` values (`key=value`), for the prune filters. */
export function queryFilterArgs(req: Request, allowed: readonly string[]): string[] {
  return [...queryFilters(req, allowed).byKey].flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`));
}
