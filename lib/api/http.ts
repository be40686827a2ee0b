/**
 * A small HTTP/1.1 server on a stream socket, for the Docker Engine API.
 *
 * Written here rather than on Deno.serve because docker's clients need what
 * Deno.serve does not give: the raw connection after a `101 UPGRADED`
 * answer (attach and exec "hijack" the connection for a byte stream in both
 * directions), and response headers flushed before a body that comes
 * minutes later (`wait`). It reads requests one after the other on a
 * keep-alive connection: the request line and headers (at most 64 KiB:
 * 431 beyond), a body by Content-Length or chunked (at most `maxBody`), and
 * answers with a Content-Length, a chunked stream, or a hijack.
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Most bytes of a request line and its headers. */
export const MAX_HEAD = 64 * 1024;

/** An error with the HTTP status it is answered with. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}

/** A parsed request. */
export interface Request {
  readonly method: string;
  /** The path, percent-decoded segment by segment by the router; the query apart. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

/** Reads a connection through a buffer (what a request's head over-read stays for the next). */
export class ConnReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** Bytes read but not consumed yet (the start of a hijacked stream). */
  takeBuffered(): Uint8Array {
    const b = this.#buf;
    this.#buf = new Uint8Array(0);
    return b;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(32 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** The bytes up to `\r\n\r\n` (excluded), or undefined at a clean EOF before any byte. */
  async head(): Promise<string | undefined> {
    for (;;) {
      const end = indexOf(this.#buf, CRLFCRLF);
      if (end >= 0) {
        if (end > MAX_HEAD) throw new HttpError(431, "request header fields too large");
        const head = dec.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.subarray(end + 4);
        return head;
      }
      if (this.#buf.length > MAX_HEAD) {
        throw new HttpError(431, "request header fields too large");
      }
      if (!await this.#fill()) {
        if (this.#buf.length === 0) return undefined;
        throw new HttpError(400, "the connection ended in the middle of a request");
      }
    }
  }

  /** Exactly `n` bytes. */
  async exactly(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!await this.#fill()) throw new HttpError(400, "the connection ended in a body");
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** One CRLF-terminated line (chunk sizes). */
  async line(): Promise<string> {
    for (;;) {
      const i = indexOf(this.#buf, CRLF);
      if (i >= 0) {
        const l = dec.decode(this.#buf.subarray(0, i));
        this.#buf = this.#buf.subarray(i + 2);
        return l;
      }
      if (this.#buf.length > 1024) throw new HttpError(400, "a chunk size line is too long");
      if (!await this.#fill()) throw new HttpError(400, "the connection ended in a body");
    }
  }
}

const CRLF = enc.encode("\r\n");
const CRLFCRLF = enc.encode("\r\n\r\n");

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Parses a request head: `METHOD TARGET HTTP/1.x` and `Name: value` lines. */
export function parseHead(head: string): Omit<Request, "body"> {
  const lines = head.split("\r\n");
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!m) throw new HttpError(400, `bad request line: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i <= 0) throw new HttpError(400, `bad header line: ${JSON.stringify(l.slice(0, 80))}`);
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const q = m[2].indexOf("?");
  const rawPath = q < 0 ? m[2] : m[2].slice(0, q);
  return {
    method: m[1],
    path: rawPath,
    query: new URLSearchParams(q < 0 ? "" : m[2].slice(q + 1)),
    headers,
  };
}

/** Reads the next request on a connection; undefined when the client closed it. */
export async function readRequest(r: ConnReader, maxBody: number): Promise<Request | undefined> {
  const text = await r.head();
  if (text === undefined) return undefined;
  const head = parseHead(text);
  let body: Uint8Array = new Uint8Array(0);
  const te = head.headers.get("transfer-encoding")?.toLowerCase();
  if (te === "chunked") {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const size = parseInt((await r.line()).split(";")[0], 16);
      if (!Number.isFinite(size) || size < 0) throw new HttpError(400, "bad chunk size");
      if (size === 0) {
        while ((await r.line()) !== ""); // trailers
        break;
      }
      total += size;
      if (total > maxBody) throw new HttpError(413, "request body too large");
      parts.push(await r.exactly(size));
      await r.exactly(2);
    }
    body = new Uint8Array(total);
    let off = 0;
    for (const p of parts) body.set(p, off), off += p.length;
  } else if (head.headers.has("content-length")) {
    const n = Number(head.headers.get("content-length"));
    if (!Number.isInteger(n) || n < 0) throw new HttpError(400, "bad Content-Length");
    if (n > maxBody) throw new HttpError(413, "request body too large");
    body = await r.exactly(n);
  }
  return { ...head, body };
}

const REASONS: Record<number, string> = {
  101: "UPGRADED",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
};

/** Writes all of `b`. */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  b: Uint8Array,
): Promise<void> {
  for (let off = 0; off < b.length;) off += await w.write(b.subarray(off));
}

/** How a handler answers: once, with one of these. */
export class Response {
  #sent = false;
  /** Set by hijack(): the server stops reading requests on the connection. */
  hijacked = false;
  /** Set when the answer ends the connection (a stream without a length). */
  close = false;
  constructor(readonly conn: Deno.Conn, readonly reader: ConnReader, readonly head: boolean) {}

  get sent(): boolean {
    return this.#sent;
  }

  #headText(status: number, headers: Record<string, string>): Uint8Array {
    this.#sent = true;
    const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}`];
    for (const [k, v] of Object.entries({ Server: "ctr", ...headers })) lines.push(`${k}: ${v}`);
    return enc.encode(lines.join("\r\n") + "\r\n\r\n");
  }

  /** A whole body with its length. */
  async send(
    status: number,
    body: Uint8Array | string = "",
    headers: Record<string, string> = {},
  ): Promise<void> {
    const b = typeof body === "string" ? enc.encode(body) : body;
    const h = status === 204 || status === 304 ? headers : {
      "Content-Length": String(b.length),
      ...headers,
    };
    await writeAll(this.conn, this.#headText(status, h));
    if (!this.head && b.length && status !== 204) await writeAll(this.conn, b);
  }

  /** A JSON body. */
  async json(status: number, value: unknown, headers: Record<string, string> = {}): Promise<void> {
    await this.send(status, JSON.stringify(value) + "\n", {
      "Content-Type": "application/json",
      ...headers,
    });
  }

  /**
   * A body written as it comes (chunked): the headers go at once, so that a
   * client waits for the body without waiting for the answer.
   */
  async stream(
    status: number,
    headers: Record<string, string>,
  ): Promise<{ write(b: Uint8Array): Promise<void>; end(): Promise<void> }> {
    await writeAll(
      this.conn,
      this.#headText(status, { "Transfer-Encoding": "chunked", ...headers }),
    );
    return {
      write: async (b: Uint8Array) => {
        if (b.length === 0) return;
        await writeAll(this.conn, enc.encode(b.length.toString(16) + "\r\n"));
        await writeAll(this.conn, b);
        await writeAll(this.conn, CRLF);
      },
      end: async () => await writeAll(this.conn, enc.encode("0\r\n\r\n")),
    };
  }

  /**
   * Takes the connection for a raw stream: `101 UPGRADED` when the client
   * asked for `Upgrade: tcp`, else 200 with no length (the stream ends with
   * the connection). Returns what the client sent beyond its request.
   */
  async hijack(upgrade: boolean, contentType: string): Promise<Uint8Array> {
    this.hijacked = true;
    const headers: Record<string, string> = upgrade
      ? { "Content-Type": contentType, Connection: "Upgrade", Upgrade: "tcp" }
      : { "Content-Type": contentType };
    await writeAll(this.conn, this.#headText(upgrade ? 101 : 200, headers));
    return this.reader.takeBuffered();
  }
}

/** Serves one connection: requests one after the other until it closes or is hijacked. */
export async function serveConn(
  conn: Deno.Conn,
  handle: (req: Request, res: Response) => Promise<void>,
  o: { maxBody: number; log?: (line: string) => void },
): Promise<void> {
  const reader = new ConnReader(conn);
  try {
    for (;;) {
      let req: Request | undefined;
      const res = new Response(conn, reader, false);
      try {
        req = await readRequest(reader, o.maxBody);
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 400;
        await res.json(status, { message: (e as Error).message }, { Connection: "close" })
          .catch(() => {});
        return;
      }
      if (!req) return;
      const r2 = new Response(conn, reader, req.method === "HEAD");
      const t0 = performance.now();
      try {
        await handle(req, r2);
      } catch (e) {
        if (!r2.sent) {
          const status = e instanceof HttpError ? e.status : 500;
          await r2.json(status, { message: (e as Error).message });
        } else {
          // A stream broke off half-way: nothing to say on this connection any more.
          o.log?.(`${req.method} ${req.path}: ${(e as Error).message}`);
          return;
        }
      }
      o.log?.(`${req.method} ${req.path} ${(performance.now() - t0).toFixed(1)} ms`);
      if (r2.hijacked || r2.close || req.headers.get("connection")?.toLowerCase() === "close") {
        return;
      }
    }
  } catch {
    /* the client went away */
  } finally {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}
