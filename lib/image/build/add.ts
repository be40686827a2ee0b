/**
 * What ADD does beyond COPY, with docker's rules: a local file that is a tar
 * (gzip, bzip2, xz, zstd or none; judged by its bytes, never its name) is
 * unpacked into the destination; a URL is downloaded by an injected fetch
 * into a file named after the URL's path (`__unnamed__` when it has none),
 * mode 0600, mtime from Last-Modified, not unpacked unless `--unpack`. Git
 * sources are recognized so they can be refused.
 * @module
 */

import { type Digest, Hasher } from "../digest.ts";
import { cleanPath } from "./_match.ts";

function lastComponent(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/** A file ADD downloaded (see fetchUrl). */
export interface Download {
  /** The file name the URL gives (`__unnamed__` when it gives none). */
  readonly name: string;
  /** The downloaded file on the host. */
  readonly hostPath: string;
  /** The sha256 of its content. */
  readonly digest?: Digest;
  /** Last-Modified, ns since the epoch, when the server sent it. */
  readonly mtimeNs?: bigint;
}

/** ADD's sources by kind: local paths, URLs (to download first), git repositories. */
export function splitAddSources(
  sources: readonly string[],
): { local: string[]; urls: string[]; git: string[] } {
  const out = { local: [] as string[], urls: [] as string[], git: [] as string[] };
  for (const s of sources) {
    if (isGitSource(s)) out.git.push(s);
    else if (isUrl(s)) out.urls.push(s);
    else out.local.push(s);
  }
  return out;
}

const HTTP = /^https?:\/\//;

/** Whether an ADD source is a URL (docker: http:// or https://). */
export function isUrl(src: string): boolean {
  return HTTP.test(src);
}

/** Whether an ADD source is a git repository (not supported by ctr). */
export function isGitSource(src: string): boolean {
  return /^git@|^git:\/\/|\.git(#.*)?$|^https?:\/\/[^/]+\/[^#]*\.git(#|$)/.test(src);
}

/** The file name docker gives a URL download: the path's last component, or `__unnamed__`. */
export function urlFileName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return "__unnamed__";
  }
  const base = lastComponent(cleanPath(decodeURIComponent(path)));
  return base === "" || base === "." || base === "/" ? "__unnamed__" : base;
}

/** Fetches a URL: the injected network client ADD uses. */
export type FetchFn = (url: string) => Promise<{
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
}>;

/**
 * Downloads an ADD URL into `opts.tmpDir` with the injected fetch: docker's
 * file name and Last-Modified time; with `--checksum` the content must have
 * that sha256 (else nothing is kept). Returns the Download for planCopy.
 */
export async function fetchUrl(
  url: string,
  fetchFn: FetchFn,
  opts: { tmpDir: string; checksum?: string },
): Promise<Download> {
  const want = opts.checksum;
  if (want !== undefined && !/^sha256:[a-f0-9]{64}$/.test(want)) {
    throw new Error(
      `Invalid ADD --checksum ${JSON.stringify(want)}: expected sha256:<64 hex digits>`,
    );
  }
  const res = await fetchFn(url);
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`Cannot download ${url}: HTTP status ${res.status}`);
  }
  const name = urlFileName(url);
  const hostPath = Deno.makeTempFileSync({ dir: opts.tmpDir, prefix: "add-" });
  const hasher = new Hasher();
  const f = Deno.openSync(hostPath, { write: true, truncate: true });
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        hasher.update(chunk);
        for (let off = 0; off < chunk.length;) off += f.writeSync(chunk.subarray(off));
      }
    }
  } finally {
    f.close();
  }
  const got = hasher.digest();
  if (want !== undefined && got !== want) {
    Deno.removeSync(hostPath);
    throw new Error(
      `Cannot ADD ${url}: its content has the digest ${got}, --checksum says ${want}`,
    );
  }
  const lm = res.headers.get("last-modified");
  const t = lm ? Date.parse(lm) : NaN;
  return { name, hostPath, digest: got, ...(!isNaN(t) && { mtimeNs: BigInt(t) * 1_000_000n }) };
}

/** The compression of a local tar ADD unpacks. */
export type ArchiveCompression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

/** The compression a file's magic bytes announce. */
export function magicCompression(head: Uint8Array): ArchiveCompression {
  const is = (...b: number[]) => b.every((x, i) => head[i] === x);
  if (is(0x1f, 0x8b, 0x08)) return "gzip";
  if (is(0x42, 0x5a, 0x68)) return "bzip2";
  if (is(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (is(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  return "none";
}

/** Whether a 512-byte block is a tar header with a valid checksum (Go's tar.Reader.Next). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512 || block.every((b) => b === 0)) return false;
  const field = new TextDecoder().decode(block.subarray(148, 156)).replace(/[\0 ]+$/, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return parseInt(field, 8) === sum;
}

/** A command's decompressed output, for bzip2 and xz (no decompressor in Deno). */
function toolStream(
  tool: string,
  path: string,
): { stream: ReadableStream<Uint8Array>; kill(): void } {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(tool, {
      args: ["-dc", path],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot unpack ${path}: ${tool} is not installed`);
    }
    throw e;
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  };
  return { stream: child.stdout, kill };
}

/** The decompressed content of a local archive; call done() when finished with it. */
export async function decompressed(
  path: string,
  c: ArchiveCompression,
): Promise<{ stream: ReadableStream<Uint8Array>; done(): Promise<void> }> {
  if (c === "bzip2" || c === "xz") {
    const t = toolStream(c, path);
    return { stream: t.stream, done: () => Promise.resolve(t.kill()) };
  }
  const f = await Deno.open(path);
  let stream: ReadableStream<Uint8Array> = f.readable;
  if (c === "gzip") {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  } else if (c === "zstd") {
    const { decompress } = await import("../compression.ts");
    stream = (await decompress(stream)).stream;
  }
  return { stream, done: () => Promise.resolve() };
}

async function firstBlock(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const buf = new Uint8Array(512);
  let have = 0;
  try {
    while (have < 512) {
      const r = await reader.read();
      if (r.done) break;
      const n = Math.min(r.value.length, 512 - have);
      buf.set(r.value.subarray(0, n), have);
      have += n;
    }
  } catch {
    return new Uint8Array(0);
  } finally {
    await reader.cancel().catch(() => {});
  }
  return buf.subarray(0, have);
}

/**
 * The compression of a local file when it is a tar archive docker's ADD
 * unpacks (judged by its bytes, never its name: the first block must be a
 * tar header), else undefined.
 */
export async function detectArchive(path: string): Promise<ArchiveCompression | undefined> {
  const st = Deno.lstatSync(path);
  let result: ArchiveCompression | undefined;
  if (st.isFile && st.size > 0) {
    const f = Deno.openSync(path);
    const head = new Uint8Array(8);
    const n = f.readSync(head) ?? 0;
    f.close();
    const c = magicCompression(head.subarray(0, n));
    const d = await decompressed(path, c).catch(() => undefined);
    if (d) {
      const block = await firstBlock(d.stream);
      await d.done();
      if (isTarHeader(block)) result = c;
    }
  }
  return result;
}
