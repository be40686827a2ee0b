/**
 * `docker search`: repositories of a registry whose name holds a term.
 *
 * A term names its registry as an image name does (`127.0.0.1:5000/busy`),
 * else Docker Hub. The registry's v1 search endpoint (`/v1/search`, what
 * Docker Hub answers) is asked first, as docker's daemon asks it; a registry
 * without one (the distribution registry answers 404) is listed through its
 * v2 catalog (`/v2/_catalog`, page by page) and its repositories matched by
 * name, as podman does. Everything a registry answers is checked field by
 * field before use.
 * @module
 */

import { DEFAULT_DOMAIN, splitDomain } from "./reference.ts";
import { type ClientOptions, RegistryClient } from "./registry.ts";
import { readBody } from "./_registry_http.ts";

/** One result, with the field names of docker's API (`GET /images/search`). */
export interface SearchResult {
  readonly name: string;
  readonly description: string;
  readonly star_count: number;
  readonly is_official: boolean;
  readonly is_automated: boolean;
}

/** What `docker search` filters on (`--filter stars=3`, `is-official=true`, `is-automated=false`). */
export interface SearchFilters {
  readonly stars?: number;
  readonly isOfficial?: boolean;
  readonly isAutomated?: boolean;
}

/** The filter keys, as docker names them. */
export const SEARCH_FILTERS = ["stars", "is-official", "is-automated"] as const;

/** docker's bounds on `--limit`. */
export const SEARCH_LIMIT = { min: 1, max: 100, default: 25 } as const;

/** The largest answer read from a registry for a search, and the most catalog pages followed. */
const MAX_ANSWER = 8 << 20;
const MAX_PAGES = 20;

/** A term's registry and what is looked for there. */
export function searchTarget(term: string): { domain: string; query: string } {
  if (term.trim() === "") throw new Error("A search term is required");
  const [domain, query] = splitDomain(term);
  return { domain, query };
}

/** Checks a `--limit`; throws docker's message when it is out of range. */
export function checkSearchLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < SEARCH_LIMIT.min || limit > SEARCH_LIMIT.max) {
    throw new Error(
      `limit ${limit} is outside the range of [${SEARCH_LIMIT.min}, ${SEARCH_LIMIT.max}]`,
    );
  }
  return limit;
}

/** Whether a result passes the filters. Pure. */
export function matchesSearch(r: SearchResult, f: SearchFilters): boolean {
  return (f.stars === undefined || r.star_count >= f.stars) &&
    (f.isOfficial === undefined || r.is_official === f.isOfficial) &&
    (f.isAutomated === undefined || r.is_automated === f.isAutomated);
}

/** A v1 search answer's results, each checked; names of other registries get their domain. */
export function parseV1Results(value: unknown, domain: string): SearchResult[] {
  const results = (value as { results?: unknown })?.results;
  if (!Array.isArray(results)) throw new Error(`${domain}: the search answer has no results list`);
  return results.flatMap((r): SearchResult[] => {
    if (r === null || typeof r !== "object") return [];
    const o = r as Record<string, unknown>;
    if (typeof o.name !== "string" || o.name === "") return [];
    return [{
      name: domain === DEFAULT_DOMAIN ? o.name : `${domain}/${o.name}`,
      description: typeof o.description === "string" ? o.description : "",
      star_count: typeof o.star_count === "number" && o.star_count >= 0
        ? Math.floor(o.star_count)
        : 0,
      is_official: o.is_official === true,
      is_automated: o.is_automated === true,
    }];
  });
}

/** The repositories of a catalog page that hold `query` (case-insensitively), as results. */
export function catalogResults(
  repositories: readonly string[],
  query: string,
  domain: string,
): SearchResult[] {
  const q = query.toLowerCase();
  return repositories.filter((r) => r.toLowerCase().includes(q)).map((r) => ({
    name: `${domain}/${r}`,
    description: "",
    star_count: 0,
    is_official: false,
    is_automated: false,
  }));
}

/** The next page of a catalog, from its `Link: <...>; rel="next"` header. */
function nextPage(link: string | null): string | undefined {
  const m = link?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
  return m?.[1];
}

async function json(res: Response, what: string): Promise<unknown> {
  const body = await readBody(res, MAX_ANSWER, what);
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new Error(`${what}: the registry's answer is not JSON`);
  }
}

/**
 * Searches the registry a term names; at most `limit` results that pass
 * `filters`, in the registry's order.
 */
export async function searchImages(
  term: string,
  opts: ClientOptions & { limit?: number; filters?: SearchFilters } = {},
): Promise<SearchResult[]> {
  const limit = checkSearchLimit(opts.limit ?? SEARCH_LIMIT.default);
  const { domain, query } = searchTarget(term);
  const client = new RegistryClient(domain, opts);
  const filters = opts.filters ?? {};
  const keep = (rs: SearchResult[]) => rs.filter((r) => matchesSearch(r, filters)).slice(0, limit);
  // Docker Hub answers searches at its index, not at its registry's host.
  const v1 = domain === DEFAULT_DOMAIN ? `https://index.docker.io/v1/search` : `/v1/search`;
  const what = `search ${domain}`;
  const res = await client.request(
    "GET",
    `${v1}?q=${encodeURIComponent(query)}&n=${limit}`,
    { what },
  );
  if (res.ok) return keep(parseV1Results(await json(res, what), domain));
  if (domain === DEFAULT_DOMAIN || (res.status !== 404 && res.status !== 405)) {
    throw await client.fail(res, what);
  }
  await res.body?.cancel();
  const found: SearchResult[] = [];
  let page: string | undefined = "/v2/_catalog?n=1000";
  for (let n = 0; page !== undefined && n < MAX_PAGES && found.length < limit; n++) {
    const r = await client.request("GET", page, {
      what: `list the catalog of ${domain}`,
      scope: "registry:catalog:*",
    });
    if (!r.ok) throw await client.fail(r, `list the catalog of ${domain}`);
    const repos = (await json(r, `the catalog of ${domain}`) as { repositories?: unknown })
      ?.repositories;
    if (!Array.isArray(repos)) throw new Error(`${domain}: the catalog has no repositories list`);
    found.push(...keep(catalogResults(repos.filter((x) => typeof x === "string"), query, domain)));
    page = nextPage(r.headers.get("link"));
  }
  return found.slice(0, limit);
}
