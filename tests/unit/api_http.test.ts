/**
 * The Engine API's HTTP/1.1 reader (lib/api/http.ts) on real socket pairs:
 * requests one after the other, bodies by length and chunked, and the
 * answers to what is malformed or too large.
 */
import assert from "node:assert/strict";
import { ConnReader, HttpError, MAX_HEAD, parseHead, readRequest } from "../../lib/api/http.ts";

const enc = new TextEncoder();

/** A unix socket pair: what `send` writes, `read` parses. */
async function pair(bytes: Uint8Array): Promise<ConnReader> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s`;
  const l = Deno.listen({ transport: "unix", path });
  const client = await Deno.connect({ transport: "unix", path });
  const server = await l.accept();
  l.close();
  (async () => {
    for (let off = 0; off < bytes.length;) off += await client.write(bytes.subarray(off));
    client.closeWrite();
  })().catch(() => {});
  return new ConnReader(server);
}

Deno.test("parseHead() splits the request line, the query and the headers", () => {
  const h = parseHead(
    "POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: x\r\nContent-Type: a/b",
  );
  assert.equal(h.method, "POST");
  assert.equal(h.path, "/v1.41/containers/create");
  assert.equal(h.query.get("name"), "web");
  assert.equal(h.headers.get("content-type"), "a/b");
  assert.throws(() => parseHead("GARBAGE"), (e) => e instanceof HttpError && e.status === 400);
  assert.throws(() => parseHead("GET / HTTP/1.1\r\nno colon"), /bad header line/);
});

Deno.test("readRequest() reads keep-alive requests, Content-Length and chunked bodies", async () => {
  const r = await pair(enc.encode(
    "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
      "GET /c HTTP/1.1\r\n\r\n",
  ));
  const a = await readRequest(r, 1024);
  assert.equal(new TextDecoder().decode(a!.body), "hello");
  const b = await readRequest(r, 1024);
  assert.equal(new TextDecoder().decode(b!.body), "abcde");
  const c = await readRequest(r, 1024);
  assert.equal(c!.path, "/c");
  assert.equal(await readRequest(r, 1024), undefined, "EOF between requests: none");
  r.conn.close();
});

Deno.test("readRequest(): 431 for a head over the limit, 413 for a body over it", async () => {
  const big = await pair(enc.encode(`GET / HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD + 10)}\r\n\r\n`));
  await assert.rejects(readRequest(big, 1024), (e) => e instanceof HttpError && e.status === 431);
  big.conn.close();
  const body = await pair(enc.encode("POST / HTTP/1.1\r\nContent-Length: 2048\r\n\r\n"));
  await assert.rejects(readRequest(body, 1024), (e) => e instanceof HttpError && e.status === 413);
  body.conn.close();
  const cut = await pair(enc.encode("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  await assert.rejects(readRequest(cut, 1024), (e) => e instanceof HttpError && e.status === 400);
  cut.conn.close();
});
