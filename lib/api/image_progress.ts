/**
 * docker's JSON progress streams of the image routes: one JSON object per
 * line (`{"status":...,"id":...}` for pulls and pushes, `{"stream":...}` for
 * builds), with the progress interfaces of ctr's puller, pusher and builder
 * turned into them.
 *
 * The answer's head is sent with the first line that matters (a layer, a
 * build step), as docker's daemon flushes it: an error before that is a
 * plain HTTP error (`docker pull nosuch` gets 404), one after it is an
 * `{"errorDetail":...}` line in the stream, which the clients print.
 * @module
 */

import type { Response } from "./http.ts";
import type { Progress } from "../image/progress.ts";
import { progressBar } from "../image/progress.ts";
import { familiarString, parseReference } from "../image/reference.ts";
import type { BuildProgress, Vertex } from "../image/build/progress.ts";

const enc = new TextEncoder();

/** A reference as docker shows it (`busybox:latest`); anything else as it is. */
function familiar(ref: string): string {
  try {
    return familiarString(parseReference(ref));
  } catch {
    return ref;
  }
}

/** JSON lines on a chunked answer, its head sent at the first flush. */
export class JsonLines {
  #pending: unknown[] = [];
  #out?: { write(b: Uint8Array): Promise<void>; end(): Promise<void> };
  #chain: Promise<void> = Promise.resolve();
  /** Set when the client went away: later lines are dropped. */
  #broken = false;

  /** `onBroken`: called once when a write fails (the client went away). */
  constructor(readonly res: Response, readonly onBroken?: () => void) {}

  /** Set at the first flush: the head is sent, errors go in the stream. */
  #opening = false;

  /** Queues a line; it goes out with the next flush (or at once once started). */
  push(v: unknown, flush = false): void {
    this.#pending.push(v);
    if (flush || this.#opening) this.#flush();
  }

  /** Sends the head (once) and what is queued, in order. */
  #flush(): void {
    this.#opening = true;
    const lines = this.#pending.splice(0);
    this.#chain = this.#chain.then(async () => {
      if (this.#broken) return;
      try {
        this.#out ??= await this.res.stream(200, {
          "Content-Type": "application/json",
          ...(this.res.close && { Connection: "close" }),
        });
        const text = lines.map((l) => JSON.stringify(l) + "\n").join("");
        await this.#out.write(enc.encode(text));
      } catch {
        this.#broken = true;
        this.onBroken?.();
      }
    });
  }

  /** Whether the head is sent (or about to be): errors from now on go in the stream. */
  get opened(): boolean {
    return this.#opening;
  }

  /** Sends the rest and ends the answer. */
  async end(): Promise<void> {
    this.#flush();
    await this.#chain;
    if (!this.#broken) await this.#out?.end().catch(() => {});
  }

  /** Ends the stream with docker's error line (`code`: the exit code a client takes). */
  async fail(message: string, code?: number): Promise<void> {
    this.push({ errorDetail: { ...(code !== undefined && { code }), message }, error: message });
    await this.end();
  }
}

/** A Progress of ctr's puller or pusher as docker's JSON lines. */
export function jsonProgress(out: JsonLines): Progress {
  return {
    line(text) {
      // "TAG: Pulling from REPO" is docker's {"status":"Pulling from REPO","id":"TAG"}.
      const m = /^(\S+): (Pulling from .+)$/.exec(text);
      out.push(m ? { status: m[2], id: m[1] } : { status: text });
    },
    update(id, status, current, total) {
      const counts = current !== undefined && total !== undefined && total > 0;
      out.push(
        {
          status,
          progressDetail: counts ? { current, total } : {},
          ...(counts && { progress: progressBar(current, total) }),
          id,
        },
        true,
      );
    },
  };
}

/**
 * A BuildProgress as the classic builder's stream: `Step 2/4 : RUN x` for
 * each step of the Dockerfile, its output as it comes, ` ---> Using cache`
 * for a cached one; BuildKit's internal vertices (loading the definition,
 * exporting) show nothing, as in docker's classic output.
 */
export function jsonBuildProgress(out: JsonLines, quiet: boolean): BuildProgress {
  const stream = (text: string) => {
    if (!quiet) out.push({ stream: text }, true);
  };
  const dec = new TextDecoder();
  return {
    vertex(name: string): Vertex {
      // "[2/4] RUN x", "[builder 2/4] RUN x": a step of the Dockerfile.
      const m = /^\[(?:\S+ )?(\d+\/\d+)\] (.*)$/s.exec(name);
      const from = m && /^FROM (\S+)$/.exec(m[2]);
      if (m) stream(`Step ${m[1]} : ${from ? `FROM ${familiar(from[1])}` : m[2]}\n`);
      const lines: string[] = [];
      let partial = "";
      return {
        id: 0,
        name,
        log() {},
        output(chunk) {
          const text = dec.decode(chunk, { stream: true });
          if (m) stream(text);
          const parts = (partial + text).split("\n");
          partial = parts.pop()!;
          lines.push(...parts);
          if (lines.length > 100) lines.splice(0, lines.length - 100);
        },
        cached() {
          if (m && !from) stream(" ---> Using cache\n");
        },
        done() {},
        error() {},
        tail: (n) => [...lines, ...(partial ? [partial] : [])].slice(-n),
      };
    },
    warn(text) {
      stream(`[WARNING]: ${text}\n`);
    },
    close() {},
  };
}

/**
 * Calls `gone` when the client closes the connection (a read ends) while
 * the answer is being made. The request's body is read by then; the
 * connection ends with this answer (`res.close`), so the byte the watch
 * may take is no later request's.
 */
export function watchClient(res: Response, gone: () => void): void {
  res.close = true;
  res.conn.read(new Uint8Array(1)).then((n) => n === null && gone(), () => gone());
}
