/**
 * A raw tar writer for tests: it writes exactly what it is told (hostile
 * names, links out of the root, binary PAX xattrs), which no careful tar
 * tool would.
 */

/** One entry of a test tar. */
export interface TarEntry {
  name: string;
  type?: "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo";
  data?: Uint8Array | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  /** PAX records; values are bytes or text. */
  pax?: Record<string, Uint8Array | string>;
}

import { paxRecord, ustarBlock } from "../lib/image/build/_tar.ts";
import { concat } from "../ffi/bytes.ts";

const enc = new TextEncoder();
const TYPEFLAG = { file: "0", link: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

function paxData(records: Record<string, Uint8Array | string>): Uint8Array {
  return concat(
    ...Object.entries(records).map(([k, v]) =>
      paxRecord(k, typeof v === "string" ? enc.encode(v) : v)
    ),
  );
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

/** The bytes of a tar holding `entries`, with the end-of-archive blocks. */
export function makeTar(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const type = e.type ?? "file";
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    const common = {
      mode: e.mode ?? (type === "dir" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? 1700000000,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    if (e.pax) {
      const pd = paxData(e.pax);
      parts.push(
        ustarBlock({
          ...common,
          name: "PaxHeaders/x",
          size: pd.length,
          typeflag: "x",
          linkname: "",
        }),
        padded(pd),
      );
    }
    parts.push(
      ustarBlock({
        ...common,
        name: e.name,
        size: type === "file" ? data.length : 0,
        typeflag: TYPEFLAG[type],
        linkname: e.linkname ?? "",
      }),
    );
    if (type === "file") parts.push(padded(data));
  }
  parts.push(new Uint8Array(1024));
  return concat(...parts);
}

/** A stream of some bytes. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from([bytes]);
}
