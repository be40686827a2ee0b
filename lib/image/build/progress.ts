/**
 * A build's progress, as BuildKit shows it. Each step is a vertex,
 * numbered in the order it starts (`#5 [builder 2/3] RUN make`); what its
 * process writes is shown line by line, and its end as `CACHED`, `DONE
 * 0.3s` or `ERROR: ...`.
 *
 * - `plain`: BuildKit's `--progress=plain`: every event is a line prefixed
 *   with its vertex's number; output lines carry the seconds since the step
 *   started (`#5 0.412 compiling`); when another vertex's line comes in
 *   between, a blank line and the vertex's title come again first;
 * - `tty`: a block rewritten in place at the bottom of the terminal (the
 *   running steps and the last lines of their output), finished steps
 *   printed above it once, one line each with their time;
 * - `quiet`: nothing (errors are the caller's to print).
 * @module
 */

/** Where progress is written: Deno.stderr, or a test double. */
export interface ProgressOut {
  writeSync(p: Uint8Array): number;
}

/** One step of the build on screen. */
export interface Vertex {
  /** Its number (`#5`). */
  readonly id: number;
  readonly name: string;
  /** A status line of the step itself (`transferring dockerfile: 187B done`). */
  log(text: string): void;
  /** Output of the step's process, as written (split into lines here). */
  output(chunk: Uint8Array): void;
  /** The step was not run: its result came from the cache. */
  cached(): void;
  /** The step ended well. */
  done(): void;
  /** The step failed. */
  error(message: string): void;
  /** Its last `n` lines of output, as printed (for an error's summary). */
  tail(n: number): string[];
}

/** Progress of a whole build. */
export interface BuildProgress {
  /** Starts showing a new step. */
  vertex(name: string): Vertex;
  /** A warning of the build (the Dockerfile's, an unused build-arg). */
  warn(text: string): void;
  /** Ends the display (a tty block is drawn a last time). */
  close(): void;
}

/** The progress modes of `--progress`. */
export type ProgressMode = "plain" | "tty" | "quiet";

const enc = new TextEncoder();
const TAIL = 6;

function seconds(ms: number, digits: number): string {
  return (Math.max(0, ms) / 1000).toFixed(digits);
}

/** What the renderers share: vertex state, line splitting, timing. */
abstract class Renderer implements BuildProgress {
  #next = 1;
  protected readonly vertices: VertexState[] = [];

  constructor(protected readonly out: ProgressOut, readonly now: () => number) {}

  protected write(text: string): void {
    const b = enc.encode(text);
    for (let off = 0; off < b.length;) off += this.out.writeSync(b.subarray(off));
  }

  vertex(name: string): Vertex {
    const v = new VertexState(this.#next++, name, this.now(), this);
    this.vertices.push(v);
    this.started(v);
    return v;
  }

  abstract warn(text: string): void;
  abstract close(): void;
  /** A vertex started. */
  abstract started(v: VertexState): void;
  /** A line of a vertex: a status line, or output with its time. */
  abstract line(v: VertexState, text: string, output: boolean): void;
  /** A vertex ended (v.state says how). */
  abstract ended(v: VertexState): void;
}

/** A vertex's state, shared by the renderers. */
class VertexState implements Vertex {
  state: "running" | "cached" | "done" | "error" = "running";
  end?: number;
  message?: string;
  readonly lines: string[] = [];
  #partial = "";
  readonly #dec = new TextDecoder();

  constructor(
    readonly id: number,
    readonly name: string,
    readonly start: number,
    readonly r: Renderer,
  ) {}

  log(text: string): void {
    this.r.line(this, text, false);
  }

  output(chunk: Uint8Array): void {
    const text = this.#partial + this.#dec.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.#partial = parts.pop()!;
    for (const p of parts) this.#emit(p);
  }

  #emit(line: string): void {
    const clean = line.replace(/\r$/, "").replace(/^.*\r/, "");
    this.lines.push(clean);
    if (this.lines.length > 100) this.lines.splice(0, this.lines.length - 100);
    this.r.line(this, clean, true);
  }

  #flush(): void {
    const rest = this.#partial + this.#dec.decode();
    this.#partial = "";
    if (rest !== "") this.#emit(rest);
  }

  #finish(state: VertexState["state"], message?: string): void {
    if (this.state !== "running") return;
    this.#flush();
    this.state = state;
    this.end = this.r.now();
    if (message !== undefined) this.message = message;
    this.r.ended(this);
  }

  cached(): void {
    this.#finish("cached");
  }

  done(): void {
    this.#finish("done");
  }

  error(message: string): void {
    this.#finish("error", message);
  }

  tail(n: number): string[] {
    return this.lines.slice(-n);
  }
}

/** BuildKit's plain progress. */
class PlainRenderer extends Renderer {
  #last = 0;
  #any = false;

  #to(v: VertexState, title: boolean): void {
    if (this.#last === v.id) return;
    if (this.#any) this.write("\n");
    this.#any = true;
    this.#last = v.id;
    if (title) this.write(`#${v.id} ${v.name}\n`);
  }

  started(v: VertexState): void {
    this.#to(v, false);
    this.write(`#${v.id} ${v.name}\n`);
  }

  line(v: VertexState, text: string, output: boolean): void {
    this.#to(v, true);
    const at = output ? `${seconds(this.now() - v.start, 3)} ` : "";
    this.write(`#${v.id} ${at}${text}\n`);
  }

  ended(v: VertexState): void {
    this.#to(v, true);
    const took = seconds((v.end ?? v.start) - v.start, 1);
    if (v.state === "cached") this.write(`#${v.id} CACHED\n`);
    else if (v.state === "done") this.write(`#${v.id} DONE ${took}s\n`);
    else this.write(`#${v.id} ERROR: ${v.message ?? ""}\n`);
  }

  warn(text: string): void {
    if (this.#any) this.write("\n");
    this.#any = true;
    this.#last = 0;
    this.write(`WARNING: ${text}\n`);
  }

  close(): void {}
}

/** A block redrawn in place: running steps at the bottom, finished ones above. */
class TtyRenderer extends Renderer {
  readonly #begin: number;
  #drawn = 0;
  #timer?: ReturnType<typeof setInterval>;
  readonly #finished: VertexState[] = [];
  readonly #warnings: string[] = [];

  constructor(out: ProgressOut, now: () => number, readonly columns: () => number) {
    super(out, now);
    this.#begin = now();
    this.#timer = setInterval(() => this.#draw(), 100);
  }

  #fit(text: string, right = ""): string {
    const width = Math.max(20, this.columns() - 1);
    const room = width - right.length - 1;
    const left = text.length > room ? text.slice(0, Math.max(0, room - 1)) + "…" : text;
    return right ? `${left.padEnd(room)} ${right}` : left;
  }

  #row(v: VertexState): string {
    const prefix = v.state === "cached" ? "CACHED " : v.state === "error" ? "ERROR " : "";
    return this.#fit(` => ${prefix}${v.name}`, `${seconds((v.end ?? this.now()) - v.start, 1)}s`);
  }

  #draw(final = false): void {
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}A\r\x1b[J` : "";
    for (const w of this.#warnings.splice(0)) text += `WARNING: ${w}\n`;
    for (const v of this.#finished.splice(0)) {
      text += this.#row(v) + "\n";
      if (v.state === "error") {
        for (const l of v.tail(TAIL)) text += this.#fit(` => => # ${l}`) + "\n";
      }
    }
    const all = this.vertices.length;
    const done = this.vertices.filter((v) => v.state !== "running").length;
    const head = `[+] Building ${seconds(this.now() - this.#begin, 1)}s (${done}/${all})${
      final ? " FINISHED" : ""
    }`;
    const live = [head];
    if (!final) {
      for (const v of this.vertices) {
        if (v.state !== "running") continue;
        live.push(this.#row(v));
        for (const l of v.tail(TAIL)) live.push(this.#fit(` => => # ${l}`));
      }
    }
    text += live.join("\n") + "\n";
    this.#drawn = final ? 0 : live.length;
    this.write(text);
  }

  started(_v: VertexState): void {}
  line(_v: VertexState, _text: string, _output: boolean): void {}

  ended(v: VertexState): void {
    this.#finished.push(v);
  }

  warn(text: string): void {
    this.#warnings.push(text);
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#draw(true);
  }
}

/** Shows nothing; vertices still keep their output (for an error's summary). */
class QuietRenderer extends Renderer {
  started(): void {}
  line(): void {}
  ended(): void {}
  warn(): void {}
  close(): void {}
}

/** Options of buildProgress. */
export interface ProgressOptions {
  /** The clock, in ms (default Date.now; tests pass a fixed one). */
  readonly now?: () => number;
  /** The terminal's width, for tty (default: the console's). */
  readonly columns?: () => number;
}

/** A progress display of `mode` writing to `out`. */
export function buildProgress(
  mode: ProgressMode,
  out: ProgressOut,
  opts: ProgressOptions = {},
): BuildProgress {
  const now = opts.now ?? Date.now;
  if (mode === "quiet") return new QuietRenderer(out, now);
  if (mode === "plain") return new PlainRenderer(out, now);
  const columns = opts.columns ?? (() => {
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 80;
    }
  });
  return new TtyRenderer(out, now, columns);
}
