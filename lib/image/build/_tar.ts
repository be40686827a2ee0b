/**
 * A small tar writer for layers: ustar headers, with a PAX extended header
 * in front of an entry when it needs one (a long or non-ASCII name or link
 * target, large ids or sizes, extended attributes as `SCHILY.xattr.NAME`
 * with their raw bytes). tar-stream's pack encodes PAX values as text, which
 * would corrupt binary xattrs such as security.capability; this one writes
 * bytes. Deterministic: numeric owners, no user or group names, whole
 * seconds, records sorted.
 * @module
 */

/** One entry to write. */
export interface TarHeader {
  /** Relative name (directories end with `/`). */
  readonly name: string;
  readonly type: "file" | "link" | "symlink" | "char" | "block" | "dir" | "fifo";
  /** Permission bits with setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of content (files only). */
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** Hard link or symlink target. */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extended attributes, written as PAX SCHILY.xattr records. */
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
}

const enc = new TextEncoder();
const TYPEFLAG: Record<TarHeader["type"], string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

/** The two zero blocks that end an archive. */
export const TAR_END = new Uint8Array(1024);

/** Zero bytes that pad `size` bytes of content to a 512-byte block. */
export function padding(size: number): Uint8Array {
  return new Uint8Array((512 - (size % 512)) % 512);
}

function fitsOctal(n: number, width: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 8 ** (width - 1);
}

/** Whether a name fits a ustar field as is: ASCII with no NUL. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}

/** One PAX record: `LEN KEY=VALUE\n`, LEN counting itself. */
/** One PAX extended header record: `LEN KEY=VALUE\n`, LEN counting itself. */
export function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = enc.encode(` ${key}=`);
  const rest = body.length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const out = new Uint8Array(len);
  let off = 0;
  const head = enc.encode(String(len));
  out.set(head, off);
  off += head.length;
  out.set(body, off);
  off += body.length;
  out.set(value, off);
  out[len - 1] = 0x0a;
  return out;
}

/** One ustar header block, fields as given (no PAX decisions; the checksum computed). */
export function ustarBlock(fields: {
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
  const put = (s: string, off: number, len: number) => {
    const bytes = enc.encode(s);
    b.set(bytes.subarray(0, len), off);
  };
  const octal = (n: number, off: number, width: number) =>
    put(
      fitsOctal(n, width)
        ? n.toString(8).padStart(width - 1, "0") + "\0"
        : "0".repeat(width - 1) + "\0",
      off,
      width,
    );
  put(fields.name, 0, 100);
  octal(fields.mode, 100, 8);
  octal(fields.uid, 108, 8);
  octal(fields.gid, 116, 8);
  octal(fields.size, 124, 12);
  octal(fields.mtime, 136, 12);
  put("        ", 148, 8);
  put(fields.typeflag, 156, 1);
  put(fields.linkname, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  octal(fields.devmajor, 329, 8);
  octal(fields.devminor, 337, 8);
  let sum = 0;
  for (const x of b) sum += x;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return b;
}

/**
 * The header blocks of one entry: a PAX extended header first when needed,
 * then the ustar header. Content and padding are the caller's.
 */
export function encodeHeader(h: TarHeader): Uint8Array {
  const records: [string, Uint8Array][] = [];
  const linkname = h.linkname ?? "";
  if (enc.encode(h.name).length > 100 || !isAscii(h.name)) {
    records.push(["path", enc.encode(h.name)]);
  }
  if (enc.encode(linkname).length > 100 || !isAscii(linkname)) {
    records.push(["linkpath", enc.encode(linkname)]);
  }
  if (!fitsOctal(h.uid, 8)) records.push(["uid", enc.encode(String(h.uid))]);
  if (!fitsOctal(h.gid, 8)) records.push(["gid", enc.encode(String(h.gid))]);
  if (!fitsOctal(h.size, 12)) records.push(["size", enc.encode(String(h.size))]);
  if (!fitsOctal(h.mtime, 12)) records.push(["mtime", enc.encode(String(h.mtime))]);
  for (const [k, v] of h.xattrs ?? []) records.push([`SCHILY.xattr.${k}`, v]);
  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const main = ustarBlock({
    name: isAscii(h.name) ? h.name : "",
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: h.type === "file" ? h.size : 0,
    mtime: h.mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: isAscii(linkname) ? linkname : "",
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return main;
  const data = records.map(([k, v]) => paxRecord(k, v));
  const size = data.reduce((n, r) => n + r.length, 0);
  const slash = h.name.replace(/\/$/, "").lastIndexOf("/");
  const paxName = (slash === -1 ? "" : h.name.slice(0, slash + 1)) + "PaxHeaders.0/" +
    h.name.replace(/\/$/, "").slice(slash + 1);
  const head = ustarBlock({
    name: isAscii(paxName) ? paxName.slice(0, 100) : "PaxHeaders.0",
    mode: 0,
    uid: 0,
    gid: 0,
    size,
    mtime: 0,
    typeflag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  const out = new Uint8Array(512 + size + padding(size).length + 512);
  out.set(head, 0);
  let off = 512;
  for (const r of data) {
    out.set(r, off);
    off += r.length;
  }
  out.set(main, out.length - 512);
  return out;
}
