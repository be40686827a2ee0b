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

const enc = new TextEncoder();
const TYPEFLAG = { file: "0", link: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Uint8Array {
  const b = new Uint8Array(512);
  const put = (s: string | Uint8Array, off: number, len: number) => {
    const bytes = typeof s === "string" ? enc.encode(s) : s;
    if (bytes.length > len) throw new Error(`tar field too long: ${s}`);
    b.set(bytes, off);
  };
  put(fields.name, 0, 100);
  put(octal(fields.mode, 8), 100, 8);
  put(octal(fields.uid, 8), 108, 8);
  put(octal(fields.gid, 8), 116, 8);
  put(octal(fields.size, 12), 124, 12);
  put(octal(fields.mtime, 12), 136, 12);
  put("        ", 148, 8);
  put(fields.typeflag, 156, 1);
  put(fields.linkname, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(octal(fields.devmajor, 8), 329, 8);
  put(octal(fields.devminor, 8), 337, 8);
  let sum = 0;
  for (const x of b) sum += x;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return b;
}

function paxData(records: Record<string, Uint8Array | string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(records)) {
    const value = typeof v === "string" ? enc.encode(v) : v;
    const body = new Uint8Array([...enc.encode(` ${k}=`), ...value, 0x0a]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len++;
    parts.push(new Uint8Array([...enc.encode(String(len)), ...body]));
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, off), off += p.length;
  return out;
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
        header({
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
      header({
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
  return concat(parts);
}

/** A stream of some bytes. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from([bytes]);
}
