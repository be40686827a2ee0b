/**
 * An Engine API server that does no work, for the benchmarks only: it
 * answers the requests of `docker run --rm IMAGE true` (ping, version,
 * create, attach, wait, start) at once with what a daemon answers for a
 * command that exits 0 and prints nothing. Timing docker's CLI against it
 * gives the client's own share of a run (its start, its five requests, its
 * hijacked stream), to subtract from a run through a real server.
 *
 *   deno run -A scripts/_null_engine.ts /path/to.sock
 */

const [path] = Deno.args;
if (!path) {
  console.error("usage: _null_engine.ts SOCKET");
  Deno.exit(2);
}
try {
  Deno.removeSync(path);
} catch { /* none */ }

const enc = new TextEncoder();
const dec = new TextDecoder();
const ID = "0".repeat(64);

function reply(status: string, headers: Record<string, string>, body = ""): Uint8Array {
  const h = Object.entries({ ...headers, "Content-Length": String(enc.encode(body).length) })
    .map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return enc.encode(`HTTP/1.1 ${status}\r\nApi-Version: 1.41\r\n${h}\r\n${head ? "" : body}`);
}

/** Whether the request being answered is a HEAD (its answer has no body). */
let head = false;

const json = (status: string, v: unknown) =>
  reply(status, { "Content-Type": "application/json" }, JSON.stringify(v) + "\n");

/** The answer to one request; undefined: hijack (101, then the stream ends at once). */
function answer(method: string, url: string): Uint8Array | undefined {
  const p = url.replace(/^\/v[\d.]+/, "").split("?")[0];
  if (p === "/_ping") return reply("200 OK", { "Content-Type": "text/plain" }, "OK");
  if (p === "/version") {
    return json("200 OK", {
      ApiVersion: "1.41",
      MinAPIVersion: "1.12",
      Version: "0",
      Os: "linux",
      Arch: "amd64",
    });
  }
  if (method === "POST" && p === "/containers/create") {
    return json("201 Created", { Id: ID, Warnings: [] });
  }
  if (method === "POST" && p.endsWith("/attach")) return undefined;
  if (method === "POST" && p.endsWith("/wait")) {
    return json("200 OK", { StatusCode: 0, Error: null });
  }
  if (method === "POST" && p.endsWith("/start")) return reply("204 No Content", {});
  return json("404 Not Found", { message: `not found: ${method} ${p}` });
}

/** Reads requests off one connection and answers each. */
async function serve(conn: Deno.Conn): Promise<void> {
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      let end: number;
      while ((end = dec.decode(buf).indexOf("\r\n\r\n")) < 0) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf = new Uint8Array([...buf, ...chunk.subarray(0, n)]);
      }
      const [line, ...fields] = dec.decode(buf.subarray(0, end)).split("\r\n");
      const [method, url] = line.split(" ");
      const length = Number(
        fields.find((f) => /^content-length:/i.test(f))?.split(":")[1]?.trim() ?? 0,
      );
      while (buf.length < end + 4 + length) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf = new Uint8Array([...buf, ...chunk.subarray(0, n)]);
      }
      buf = buf.subarray(end + 4 + length);
      head = method === "HEAD";
      const out = answer(method, url);
      if (out === undefined) {
        await conn.write(
          enc.encode(
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n" +
              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
          ),
        );
        return;
      }
      await conn.write(out);
    }
  } catch {
    /* the client went away */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

const listener = Deno.listen({ transport: "unix", path });
Deno.addSignalListener("SIGTERM", () => {
  listener.close();
  Deno.exit(0);
});
for await (const conn of listener) serve(conn);
