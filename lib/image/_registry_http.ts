/**
 * The HTTP side of the registry client, without state: WWW-Authenticate
 * challenges, registry URLs, upload locations, and errors from answers.
 * @module
 */

import type { Digest } from "./digest.ts";
import { DEFAULT_DOMAIN } from "./reference.ts";

/** The host that serves Docker Hub's registry API. */
export const DOCKER_HUB_REGISTRY = "registry-1.docker.io";
const MAX_ERROR_BODY = 64 << 10;

/** One challenge of a WWW-Authenticate header: `Bearer realm="...",service="..."`. */
export interface Challenge {
  /** The scheme, lowercase: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameters, names lowercase. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/**
 * Parses a WWW-Authenticate header (RFC 7235): one or more challenges, each a
 * scheme and comma-separated `name=value` or `name="quoted \" value"`
 * parameters. Several headers joined with ", " parse as one.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const ws = () => {
    while (i < header.length && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = () => {
    const m = TOKEN.exec(header.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  while (i < header.length) {
    ws();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const scheme = token();
    if (!scheme) break; // not a challenge: stop at what cannot be read
    const ch = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
    out.push(ch);
    for (;;) {
      ws();
      const start = i;
      const name = token();
      ws();
      if (!name || header[i] !== "=") {
        i = start; // the next challenge's scheme
        break;
      }
      i++;
      ws();
      let value = "";
      if (header[i] === '"') {
        for (i++; i < header.length && header[i] !== '"'; i++) {
          if (header[i] === "\\" && i + 1 < header.length) i++;
          value += header[i];
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(header.slice(i))!;
        value = m[0];
        i += m[0].length;
      }
      ch.params[name.toLowerCase()] = value;
      ws();
      if (header[i] !== ",") break;
      i++;
    }
  }
  return out;
}

/** Whether a registry (`host[:port]`) is on this machine: localhost, 127.0.0.0/8, ::1. */
export function isLoopback(domain: string): boolean {
  const host = domain.startsWith("[")
    ? domain.slice(1, domain.indexOf("]"))
    : domain.replace(/:\d+$/, "");
  return host === "localhost" || host.endsWith(".localhost") ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "::1";
}

/** The base URL of a registry's API: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
export function registryBase(domain: string, insecure = false): string {
  const host = domain === DEFAULT_DOMAIN ? DOCKER_HUB_REGISTRY : domain;
  return `${insecure || isLoopback(domain) ? "http" : "https"}://${host}`;
}

/**
 * The URL to PUT a monolithic upload to: the Location of the upload session
 * (absolute, or relative to `requestUrl`) with `digest=` added to the query it
 * already has (kept byte for byte: it may be signed).
 */
export function uploadUrl(requestUrl: string, location: string, digest: Digest): string {
  const url = new URL(location, requestUrl);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search.length > 1 ? `${url.search}&${param}` : `?${param}`;
  return url.href;
}

/** The scope of a token for one repository: `repository:NAME:pull,push`. */
export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${actions.join(",")}`;
}

/** A failed exchange with a registry. */
export class RegistryError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when the registry answered. */
    readonly status?: number,
    /** Whether trying again may help (network errors, 5xx, 429). */
    readonly retryable = false,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/**
 * Reads a response body, refusing more than `max` bytes; a transfer that
 * breaks off is a retryable RegistryError.
 */
export async function readBody(res: Response, max: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw new RegistryError(`The ${what} is too large (${declared} bytes, at most ${max})`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > max) throw new RegistryError(`The ${what} is too large (over ${max} bytes)`);
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    throw new RegistryError(`The ${what} broke off: ${(e as Error).message}`, 0, true);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) out.set(c, off), off += c.length;
  return out;
}

/** Discards an answer's body. */
export async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch { /* already read or closed */ }
}

/** The registry's own words from an error body (`{"errors": [{code, message}]}` and kin). */
function errorDetail(text: string): string {
  try {
    const j = JSON.parse(text);
    if (Array.isArray(j?.errors) && j.errors.length) {
      return j.errors.map((e: { code?: unknown; message?: unknown }) => {
        const code = String(e.code ?? "").toLowerCase().replaceAll("_", " ");
        return code && e.message ? `${code}: ${e.message}` : String(e.message ?? code);
      }).join("; ");
    }
    for (const k of ["details", "error_description", "error", "message"]) {
      if (typeof j?.[k] === "string") return j[k];
    }
  } catch { /* not JSON */ }
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

/** The registry's explanation in an error answer's body, if it gives one. */
export async function responseDetail(res: Response): Promise<string> {
  try {
    return errorDetail(new TextDecoder().decode(await readBody(res, MAX_ERROR_BODY, "error")));
  } catch {
    return ""; // the status says enough
  }
}

/** A RegistryError for a response that was not what `what` needed. */
export async function responseError(res: Response, what: string): Promise<RegistryError> {
  const detail = await responseDetail(res);
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  return new RegistryError(`${what}: ${status}${detail ? `: ${detail}` : ""}`, res.status);
}
