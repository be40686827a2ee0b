/**
 * A detached container's log: docker's json-file format, one JSON object per
 * line (`{"log":"hi\n","stream":"stdout","time":"...Z"}`), written by the
 * watcher and rotated by size into LOG.1, LOG.2, ... (oldest last). Reading
 * takes the files oldest first; following reads what is appended and goes
 * on into the new file after a rotation.
 * @module
 */

/** One record. */
export interface LogRecord {
  readonly log: string;
  readonly stream: "stdout" | "stderr";
  readonly time: string;
}

/** The files of a log, oldest first (those that exist). */
export function logFiles(path: string, maxFiles: number): string[] {
  const out: string[] = [];
  for (let i = Math.max(maxFiles, 1) - 1; i >= 1; i--) {
    try {
      Deno.statSync(`${path}.${i}`);
      out.push(`${path}.${i}`);
    } catch { /* not rotated that far */ }
  }
  out.push(path);
  return out;
}

/** Splits json lines into records; a line that does not parse (cut by a full disk) is skipped. */
export function parseRecords(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a torn record */ }
  }
  return out;
}

function readText(path: string, limit?: number): string {
  try {
    const b = Deno.readFileSync(path);
    return new TextDecoder().decode(limit === undefined ? b : b.subarray(0, limit));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/**
 * Every record of a log, oldest first; with `tail`, only the last that many.
 * `limit`: read the current file only that far (followLog goes on from there).
 */
export function readLog(
  path: string,
  maxFiles: number,
  tail?: number,
  limit?: number,
): LogRecord[] {
  const files = logFiles(path, maxFiles);
  const read = (f: string) => parseRecords(readText(f, f === path ? limit : undefined));
  if (tail === undefined) return files.flatMap(read);
  // From the newest file back, until there are enough.
  let got: LogRecord[] = [];
  for (let i = files.length - 1; i >= 0 && got.length < tail; i--) {
    got = [...read(files[i]), ...got];
  }
  return tail === 0 ? [] : got.slice(-tail);
}

/** The size and inode of a file, or undefined. */
function fileId(path: string): { size: number; ino: number } | undefined {
  try {
    const st = Deno.statSync(path);
    return { size: st.size, ino: st.ino ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * Follows the log after what readLog() returned: calls `emit` for each new
 * record until `done()` is true and nothing more is left to read.
 */
export async function followLog(
  path: string,
  emit: (r: LogRecord) => void | Promise<void>,
  done: () => boolean,
  start = fileId(path),
): Promise<void> {
  let ino = start?.ino ?? 0;
  let offset = start?.size ?? 0;
  let partial = "";
  let file: Deno.FsFile | undefined;
  const buf = new Uint8Array(64 * 1024);
  const dec = new TextDecoder();
  const open = () => {
    try {
      file = Deno.openSync(path);
      ino = file.statSync().ino ?? 0;
      file.seekSync(offset, Deno.SeekMode.Start);
    } catch {
      file = undefined;
    }
  };
  open();
  const drain = async () => {
    if (!file) return;
    for (;;) {
      const n = file.readSync(buf);
      if (!n) return;
      offset += n;
      const text = partial + dec.decode(buf.subarray(0, n), { stream: true });
      const lines = text.split("\n");
      partial = lines.pop()!;
      for (const r of parseRecords(lines.join("\n"))) await emit(r);
    }
  };
  try {
    for (;;) {
      const finished = done();
      await drain();
      const now = fileId(path);
      if (now && now.ino !== ino) {
        // Rotated: the old file is read to its end above; the new one from its start.
        file?.close();
        offset = 0;
        partial = "";
        open();
        continue;
      }
      if (!file && now) {
        open();
        continue;
      }
      if (finished) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    file?.close();
  }
}

/**
 * A log as `logs` shows it: the records written so far (the last `tail`),
 * then, with `follow`, those appended until `ended()` says the container's
 * watcher has drained and recorded its end.
 */
export async function emitLog(
  path: string,
  o: {
    maxFiles: number;
    tail?: number;
    follow: boolean;
    ended: () => boolean;
    emit: (r: LogRecord) => void | Promise<void>;
  },
): Promise<void> {
  // The size before reading: what follows continues exactly from there.
  let start: { size: number; ino: number } | undefined;
  try {
    const st = Deno.statSync(path);
    start = { size: st.size, ino: st.ino ?? 0 };
  } catch { /* no output yet */ }
  // Written records end where the file ended then (the watcher writes each record whole).
  for (const r of readLog(path, o.maxFiles, o.tail, start?.size ?? 0)) await o.emit(r);
  if (o.follow) await followLog(path, o.emit, o.ended, start ?? { size: 0, ino: 0 });
}
