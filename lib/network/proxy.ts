/**
 * A userspace proxy for published ports, as docker-proxy: it listens on the
 * host address and port and relays each TCP connection or UDP flow to the
 * container's address. DNAT rules do not see traffic to 127.0.0.1 (the
 * kernel does not route loopback addresses out, without route_localnet), so
 * `curl 127.0.0.1:8080` on the host reaches a container only through here;
 * it also serves containers of the port's own network, and every client
 * when neither nf_tables nor iptables is available.
 *
 * It runs in the process that waits for the container (`ctr run`); it is
 * stopped at the container's exit. TCP uses Deno.listen and Deno.connect.
 * UDP uses node:dgram, because Deno.listenDatagram needs --unstable-net.
 * @module
 */

import type { RemoteInfo, Socket } from "node:dgram";
import type { Buffer } from "node:buffer";
import { formatPort, type PortMapping } from "./ports.ts";

/** How long a UDP flow without traffic is kept, as docker-proxy does. */
export const UDP_IDLE_MS = 90_000;
const COPY_BUFFER = 64 * 1024;

/** A running proxy for one published port. */
export interface PortProxy {
  /** The mapping, with the host port chosen when it was 0. */
  readonly port: PortMapping;
  /** Connections (TCP) or flows (UDP) open now. */
  readonly active: number;
  /** Stops listening and closes every connection or flow. */
  stop(): Promise<void>;
}

/** Starts a proxy from `port` (host side) to `containerIp:port.containerPort`. */
export async function startProxy(port: PortMapping, containerIp: string): Promise<PortProxy> {
  return port.protocol === "tcp" ? startTcp(port, containerIp) : await startUdp(port, containerIp);
}

/** Starts one proxy per mapping; when one cannot start, the others are stopped and it throws. */
export async function startProxies(
  ports: readonly PortMapping[],
  containerIp: string,
): Promise<PortProxy[]> {
  const started: PortProxy[] = [];
  try {
    for (const p of ports) started.push(await startProxy(p, containerIp));
  } catch (e) {
    await stopProxies(started);
    throw e;
  }
  return started;
}

/** Stops proxies; the first error is thrown after all were tried. */
export async function stopProxies(proxies: readonly PortProxy[]): Promise<void> {
  const results = await Promise.allSettled(proxies.map((p) => p.stop()));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function bindError(port: PortMapping, e: unknown): Error {
  const why = e instanceof Deno.errors.AddrInUse || (e as { code?: string })?.code === "EADDRINUSE"
    ? "the address is in use"
    : (e as Error).message;
  return new Error(`Cannot publish ${formatPort(port)}: ${why}`);
}

// ---------------------------------------------------------------------------
// TCP

function startTcp(port: PortMapping, containerIp: string): PortProxy {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: port.hostIp ?? "0.0.0.0", port: port.hostPort });
  } catch (e) {
    throw bindError(port, e);
  }
  const chosen = { ...port, hostPort: listener.addr.port };
  const conns = new Set<Deno.Conn>();
  const relays = new Set<Promise<void>>();
  let stopped = false;

  const serve = (async () => {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept() as Deno.TcpConn;
      } catch {
        return; // closed by stop()
      }
      if (stopped) {
        client.close();
        return;
      }
      const relay = relayTcp(client, containerIp, port.containerPort, conns);
      relays.add(relay);
      relay.finally(() => relays.delete(relay));
    }
  })();

  return {
    port: chosen,
    get active() {
      return relays.size;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      listener.close();
      for (const c of conns) closeQuietly(c);
      await serve;
      await Promise.allSettled([...relays]);
    },
  };
}

async function relayTcp(
  client: Deno.TcpConn,
  ip: string,
  port: number,
  conns: Set<Deno.Conn>,
): Promise<void> {
  conns.add(client);
  let upstream: Deno.TcpConn | undefined;
  try {
    upstream = await Deno.connect({ hostname: ip, port });
    conns.add(upstream);
    // Each direction ends with a half-close, so a client that shuts down its
    // sending side still gets the whole answer.
    await Promise.all([copy(client, upstream), copy(upstream, client)]);
  } catch {
    // A refused or reset connection ends the relay; the client sees its socket close.
  } finally {
    for (const c of [client, upstream]) {
      if (c) {
        conns.delete(c);
        closeQuietly(c);
      }
    }
  }
}

async function copy(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(COPY_BUFFER);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await to.write(buf.subarray(off, n));
  }
  try {
    await to.closeWrite();
  } catch { /* already closed */ }
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

// ---------------------------------------------------------------------------
// UDP

interface Flow {
  socket: Socket;
  timer: number;
}

/**
 * node:dgram, loaded on the first UDP port: importing it starts Deno's Node
 * compatibility layer, which every `ctr run --net` would otherwise pay (10-20 ms).
 */
export async function loadDgram(): Promise<typeof import("node:dgram")> {
  return (await import("node:dgram")).default;
}

async function startUdp(port: PortMapping, containerIp: string): Promise<PortProxy> {
  const dgram = await loadDgram();
  const server = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(bindError(port, e)));
    server.bind({ address: port.hostIp ?? "0.0.0.0", port: port.hostPort }, () => resolve());
  }).catch((e) => {
    try {
      server.close();
    } catch { /* never bound */ }
    throw e;
  });
  const chosen = { ...port, hostPort: server.address().port };
  const flows = new Map<string, Flow>();
  let stopped = false;

  const endFlow = (key: string) => {
    const f = flows.get(key);
    if (!f) return;
    flows.delete(key);
    clearTimeout(f.timer);
    try {
      f.socket.close();
    } catch { /* closed */ }
  };
  const idle = (key: string) => {
    // Deno's setTimeout returns a number (node:dgram's types claim a Timeout object).
    const t = setTimeout(() => endFlow(key), UDP_IDLE_MS) as unknown as number;
    Deno.unrefTimer(t);
    return t;
  };

  server.on("error", () => {/* a send to a vanished client: nothing to do */});
  server.on("message", (msg: Buffer, from: RemoteInfo) => {
    if (stopped) return;
    const key = `${from.address}:${from.port}`;
    let flow: Flow | undefined = flows.get(key);
    if (flow === undefined) {
      const socket = dgram.createSocket("udp4");
      socket.on("error", () => endFlow(key));
      socket.on("message", (reply: Buffer) => {
        const f = flows.get(key);
        if (!f) return;
        clearTimeout(f.timer);
        f.timer = idle(key);
        server.send(reply, from.port, from.address);
      });
      flow = { socket, timer: idle(key) };
      flows.set(key, flow);
    } else {
      clearTimeout(flow.timer);
      flow.timer = idle(key);
    }
    flow.socket.send(msg, port.containerPort, containerIp);
  });

  return {
    port: chosen,
    get active() {
      return flows.size;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const key of [...flows.keys()]) endFlow(key);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
