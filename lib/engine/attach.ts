/**
 * Attaching to a detached container: the client side of the watcher's
 * socket (ffi/watch/watch.c, `-a`). The watcher stays the container's
 * parent and keeps copying its output to the log; an attached client gets
 * a copy of the output as it comes (docker's stream frames) and sends input
 * (its stdin, the window size, the end of its input) in frames of its own.
 * This is what `ctr attach`, `ctr start -a` and a foreground `ctr run -t`
 * use. With a pty the client's terminal is raw, the window size follows it
 * and the detach keys (ctrl-p,ctrl-q) leave the container running; without
 * one, the signals ctr receives are passed on (`--sig-proxy`).
 * @module
 */

import { O } from "../../ffi/constants.ts";
import { close, open } from "../../ffi/sys.ts";
import { FORWARDED } from "../runtime/spawn.ts";

/** The frame types a client sends (see watch.c). */
export const CLIENT_FRAME = { hello: 0x68, data: 0x64, eof: 0x65, resize: 0x72 } as const;

/** The streams of the watcher's frames: docker's stdout and stderr, and ctr's exit code. */
export const STREAM = { stdout: 1, stderr: 2, exit: 3 } as const;

/** Which streams a client attaches, as its hello says. */
export interface AttachStreams {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/** One client frame: a 4-byte header (type, 24-bit little-endian length) and the payload. */
export function clientFrame(type: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  if (payload.length >= 1 << 24) throw new Error(`frame of ${payload.length} bytes is too long`);
  const f = new Uint8Array(4 + payload.length);
  f[0] = type;
  f[1] = payload.length & 0xff;
  f[2] = (payload.length >> 8) & 0xff;
  f[3] = (payload.length >> 16) & 0xff;
  f.set(payload, 4);
  return f;
}

/** The hello frame: which streams the client wants. */
export function helloFrame(s: AttachStreams): Uint8Array {
  return clientFrame(
    CLIENT_FRAME.hello,
    new Uint8Array([(s.stdin ? 1 : 0) | (s.stdout ? 2 : 0) | (s.stderr ? 4 : 0)]),
  );
}

/** A window size frame. */
export function resizeFrame(rows: number, columns: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint16(0, rows, true);
  new DataView(p.buffer).setUint16(2, columns, true);
  return clientFrame(CLIENT_FRAME.resize, p);
}

/** A frame from the watcher. */
export interface StreamFrame {
  readonly stream: number;
  readonly data: Uint8Array;
}

/** Cuts the watcher's byte stream into frames (an 8-byte header, a 32-bit big-endian length). */
export class FrameReader {
  #buf = new Uint8Array(0);

  /** Adds bytes; returns the frames now whole. */
  push(bytes: Uint8Array): StreamFrame[] {
    const all = new Uint8Array(this.#buf.length + bytes.length);
    all.set(this.#buf);
    all.set(bytes, this.#buf.length);
    const out: StreamFrame[] = [];
    let off = 0;
    while (all.length - off >= 8) {
      const len = new DataView(all.buffer, off + 4, 4).getUint32(0, false);
      if (all.length - off - 8 < len) break;
      out.push({ stream: all[off], data: all.slice(off + 8, off + 8 + len) });
      off += 8 + len;
    }
    this.#buf = all.slice(off);
    return out;
  }
}

/**
 * Watches input for the detach key sequence as docker's escape proxy does:
 * bytes that may begin the sequence are held back; if the sequence
 * completes, the client detaches and they are dropped; if it breaks off,
 * they go through with the rest.
 */
export class DetachMatcher {
  #held = 0;
  constructor(readonly keys: Uint8Array) {}

  /** The bytes to pass on, and whether the sequence is complete. */
  feed(chunk: Uint8Array): { pass: Uint8Array; detached: boolean } {
    if (this.keys.length === 0) return { pass: chunk, detached: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.#held]) {
        this.#held++;
        if (this.#held === this.keys.length) {
          return { pass: new Uint8Array(out), detached: true };
        }
        continue;
      }
      // The held prefix was no sequence after all: it goes through, and this byte may start one.
      out.push(...this.keys.subarray(0, this.#held));
      this.#held = 0;
      if (b === this.keys[0]) this.#held = 1;
      else out.push(b);
    }
    return { pass: new Uint8Array(out), detached: false };
  }
}

/** How an attachment ended. */
export type AttachEnd =
  | { readonly kind: "exited"; readonly exitCode: number }
  | { readonly kind: "detached" }
  /** The watcher went away without an exit code (it was killed). */
  | { readonly kind: "lost" };

/** What an attachment does. */
export interface AttachOptions extends AttachStreams {
  /** The container has a pty: raw terminal, window size, detach keys. */
  readonly tty: boolean;
  /** The detach key sequence (with a pty); empty: none. */
  readonly detachKeys: Uint8Array;
  /** Pass the signals ctr receives to the container (without a pty: docker's --sig-proxy). */
  readonly signal?: (sig: Deno.Signal) => void;
}

/** A unix socket path short enough for connect: `/proc/self/fd/N/name` when it is not; undefined fd when it is. */
function shortPath(path: string): { path: string; dirFd?: number } {
  if (new TextEncoder().encode(path).length < 108) return { path };
  const cut = path.lastIndexOf("/");
  const dirFd = open(path.slice(0, cut) || "/", O.PATH | O.DIRECTORY);
  return { path: `/proc/self/fd/${dirFd}/${path.slice(cut + 1)}`, dirFd };
}

/** Connects to a watcher's socket; throws Deno's NotFound or ConnectionRefused when nobody listens. */
export async function connectWatcher(socket: string): Promise<Deno.UnixConn> {
  const p = shortPath(socket);
  try {
    return await Deno.connect({ transport: "unix", path: p.path });
  } finally {
    if (p.dirFd !== undefined) close(p.dirFd);
  }
}

async function writeOut(
  w: { write(p: Uint8Array): Promise<number> },
  b: Uint8Array,
): Promise<void> {
  for (let off = 0; off < b.length;) off += await w.write(b.subarray(off));
}

/**
 * Relays this process's stdio to a connected watcher until the container
 * ends (its exit code), the detach keys are typed, or the watcher goes away.
 */
export async function relayAttached(conn: Deno.UnixConn, o: AttachOptions): Promise<AttachEnd> {
  const send = async (b: Uint8Array) => {
    for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
  };
  await send(helloFrame(o));
  const cleanups: (() => void)[] = [];
  let detached: (() => void) | undefined;
  const detachedP = new Promise<AttachEnd>((res) => detached = () => res({ kind: "detached" }));
  if (o.tty && Deno.stdout.isTerminal()) {
    const resize = () => {
      try {
        const { rows, columns } = Deno.consoleSize();
        send(resizeFrame(rows, columns)).catch(() => {});
      } catch { /* no terminal */ }
    };
    resize();
    Deno.addSignalListener("SIGWINCH", resize);
    cleanups.push(() => Deno.removeSignalListener("SIGWINCH", resize));
  }
  if (!o.tty && o.signal) {
    for (const sig of FORWARDED) {
      const fn = () => o.signal!(sig);
      try {
        Deno.addSignalListener(sig, fn);
        cleanups.push(() => Deno.removeSignalListener(sig, fn));
      } catch { /* not one this platform lets us catch */ }
    }
  }
  const raw = o.stdin && o.tty && Deno.stdin.isTerminal();
  if (raw) {
    Deno.stdin.setRaw(true);
    cleanups.push(() => {
      try {
        Deno.stdin.setRaw(false);
      } catch { /* terminal gone */ }
    });
  }
  let stopped = false;
  if (o.stdin) {
    const matcher = o.tty ? new DetachMatcher(o.detachKeys) : undefined;
    (async () => {
      const buf = new Uint8Array(32 * 1024);
      while (!stopped) {
        const n = await Deno.stdin.read(buf).catch(() => null);
        if (stopped) return;
        if (n === null) {
          await send(clientFrame(CLIENT_FRAME.eof)).catch(() => {});
          return;
        }
        let chunk: Uint8Array = buf.slice(0, n);
        if (matcher) {
          const m = matcher.feed(chunk);
          chunk = m.pass;
          if (m.detached) {
            if (chunk.length) await send(clientFrame(CLIENT_FRAME.data, chunk)).catch(() => {});
            detached!();
            return;
          }
        }
        if (chunk.length) {
          const ok = await send(clientFrame(CLIENT_FRAME.data, chunk)).then(
            () => true,
            () => false,
          );
          if (!ok) return;
        }
      }
    })();
  }
  const output = (async (): Promise<AttachEnd> => {
    const frames = new FrameReader();
    const buf = new Uint8Array(64 * 1024);
    let exitCode: number | undefined;
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      for (const f of frames.push(buf.subarray(0, n))) {
        if (f.stream === STREAM.exit) exitCode = Number(new TextDecoder().decode(f.data));
        else if (f.stream === STREAM.stderr) await writeOut(Deno.stderr, f.data);
        else await writeOut(Deno.stdout, f.data);
      }
    }
    return exitCode === undefined || Number.isNaN(exitCode)
      ? { kind: "lost" }
      : { kind: "exited", exitCode };
  })();
  try {
    return await Promise.race([output, detachedP]);
  } finally {
    stopped = true;
    for (const c of cleanups) c();
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
