/**
 * Bulk TCP throughput host → ADDR:PORT: writes MiB megabytes and prints MB/s.
 *   deno run -A scripts/net_throughput.ts ADDR PORT [MiB]
 */
const [addr, port, mib = "1024"] = Deno.args;
const total = Number(mib) * 1024 * 1024;
const chunk = new Uint8Array(1 << 20);
let conn: Deno.TcpConn | undefined;
for (let i = 0; i < 100 && !conn; i++) {
  try {
    conn = await Deno.connect({ hostname: addr, port: Number(port) });
  } catch {
    await new Promise((r) => setTimeout(r, 50));
  }
}
if (!conn) throw new Error(`cannot connect to ${addr}:${port}`);
const t0 = performance.now();
let sent = 0;
while (sent < total) {
  let off = 0;
  while (off < chunk.length) off += await conn.write(chunk.subarray(off));
  sent += chunk.length;
}
conn.close();
const s = (performance.now() - t0) / 1000;
console.log(
  `${(sent / 1e6 / s).toFixed(0)} MB/s (${(sent / 1048576).toFixed(0)} MiB in ${s.toFixed(2)} s)`,
);
