/**
 * `deno task build`: makes ./ctr, one file that runs on a host without Deno.
 *
 *     deno run -A scripts/build.ts [ENTRY] [--output FILE] [--no-compile] [--single-js]
 *
 * ENTRY defaults to the repository's main.ts, FILE to ./ctr (next to it).
 *
 * 1. `deno compile`, when its base binary (denort) can be had: downloaded from
 *    Deno's servers, or named by the DENORT_BIN environment variable. Offline
 *    it fails within a second or two (the download cannot start); a short
 *    timeout covers networks that hang instead. `--no-compile` skips it.
 * 2. Otherwise a self-extracting file: a short POSIX sh header, then the Deno
 *    binary running this build (gzip-compressed), then the program as bundled
 *    by `deno bundle` (npm packages included, nothing left to download). The
 *    header unpacks them once into a cache directory named after their hash,
 *    then execs Deno on the bundle; every later run only tests that the files
 *    are there (shell built-ins, no other process).
 *
 * The bundle is split (`--code-splitting`) so that what a command imports
 * lazily (`await import(...)` in main.ts: the image code, zod, tar-stream) is
 * in files of its own that `ctr run` never reads. As one file, those ~1 MB
 * are read and compiled by every `ctr run`; measured, that doubled its start.
 * For the same reason the bundler's eager `import ... from "node:module"`
 * (which starts Deno's Node compatibility layer, ~20 ms) is made lazy: it is
 * needed only when an npm CommonJS module is loaded. `--single-js` makes one
 * JavaScript file instead.
 *
 * Either way the result must stay under 64 MiB, so that it can be carried to
 * a machine that has nothing else; the build fails when it does not.
 */

const LIMIT = 64 * 1024 * 1024;
const COMPILE_TIMEOUT_MS = 30_000;
/**
 * V8's flags for every run of ctr (the header passes them; a compiled file has
 * them embedded). Measured on `ctr run --rm --rootfs R /bin/true`, one
 * hyperfine run of 40 each: 143 ms without, 134 ms with, the same peak RSS.
 * - `--no-lazy`: every function is compiled with its module, so Deno's code
 *   cache (written on the first run) holds all of them; lazily compiled
 *   functions are otherwise compiled again by every run (~7 ms of run code).
 * - `--single-threaded-gc` and `--min-semi-space-size=16` (MiB): a short
 *   command then does one or two scavenges instead of ~8 ms of collections,
 *   without helper threads to start on a 2-cpu host.
 * The code cache is only used by runs with the same flags, so every command
 * gets the same ones.
 */
const V8_FLAGS = "--v8-flags=--no-lazy,--single-threaded-gc,--min-semi-space-size=16";
const BUNDLE_TIMEOUT_MS = 180_000;

const repo = new URL("..", import.meta.url).pathname;

function usage(msg: string): never {
  console.error(
    `build.ts: ${msg}\nusage: build.ts [ENTRY] [--output FILE] [--no-compile] [--single-js]`,
  );
  Deno.exit(2);
}

// Arguments: an optional entry path, --output FILE (or --output=FILE),
// --entry FILE (same as the positional), --no-compile, --single-js.
let entry = `${repo}main.ts`;
let output = `${repo}ctr`;
let allowCompile = true;
let wantSplit = true;
{
  const a = [...Deno.args];
  while (a.length > 0) {
    const arg = a.shift()!;
    const eq = arg.indexOf("=");
    const [name, inline] = arg.startsWith("--") && eq > 0
      ? [arg.slice(0, eq), arg.slice(eq + 1)]
      : [arg, undefined];
    const value = () => inline ?? a.shift() ?? usage(`${name} needs a value`);
    if (name === "--output" || name === "-o") output = value();
    else if (name === "--entry") entry = value();
    else if (name === "--no-compile") allowCompile = false;
    else if (name === "--single-js") wantSplit = false;
    else if (name.startsWith("-")) usage(`unknown option ${name}`);
    else entry = name;
  }
}
const abs = (p: string) => (p.startsWith("/") ? p : `${Deno.cwd()}/${p}`);
entry = abs(entry);
output = abs(output);
// deno.json (the import map for npm packages) is found from the working
// directory, so run the tools from the entry's own directory.
const entryDir = entry.slice(0, entry.lastIndexOf("/")) || "/";
const deno = Deno.execPath();
const mib = (n: number) => (n / 1048576).toFixed(1);

interface Ran {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function run(args: string[], timeoutMs: number, cmd = deno): Promise<Ran> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: entryDir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { ok: false, stdout: "", stderr: (e as Error).message };
  }
}

function removeQuietly(path: string) {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* not there */ }
}

/** What went wrong, in one line: deno's error line and its innermost cause. */
function reason(stderr: string): string {
  const lines = stderr.split("Stack backtrace:")[0].split("\n").map((l) => l.trim())
    .filter(Boolean);
  const error = lines.find((l) => /^error/i.test(l)) ?? lines.at(-1) ?? "no output";
  const cause = lines.filter((l) => /^\d+: /.test(l)).at(-1)?.replace(/^\d+: /, "");
  return cause ? `${error}: ${cause}` : error;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `deno compile`; true when it made a usable file at `output`. */
async function tryCompile(): Promise<boolean> {
  const tmp = `${output}.compile.tmp`;
  removeQuietly(tmp);
  const r = await run(
    ["compile", "-A", "--no-check", V8_FLAGS, "--output", tmp, entry],
    COMPILE_TIMEOUT_MS,
  );
  if (!r.ok) {
    removeQuietly(tmp);
    // deno compile writes to "<output>.tmp-<random>" first; a timeout can leave it.
    const dir = tmp.slice(0, tmp.lastIndexOf("/")) || "/";
    const base = tmp.slice(tmp.lastIndexOf("/") + 1);
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith(`${base}.tmp-`)) removeQuietly(`${dir}/${e.name}`);
    }
    console.error(`build: deno compile is not available here (${reason(r.stderr)})`);
    return false;
  }
  // A DENORT_BIN that is the full deno binary yields the Deno command line,
  // not the program: such a file answers --version like Deno does.
  const probe = await run(["--version"], 10_000, tmp);
  if (/^deno \d+\.\d+\.\d+ \(/.test(probe.stdout)) {
    removeQuietly(tmp);
    console.error(
      "build: deno compile made a copy of the Deno CLI, not the program " +
        "(DENORT_BIN must be a denort binary)",
    );
    return false;
  }
  const size = Deno.statSync(tmp).size;
  if (size > LIMIT) {
    removeQuietly(tmp);
    console.error(`build: deno compile made ${mib(size)} MiB, over the 64 MiB limit`);
    return false;
  }
  Deno.renameSync(tmp, output);
  console.error(`build: ${output}: deno compile, ${mib(size)} MiB`);
  return true;
}

/** One JavaScript file of the bundle. */
interface JsFile {
  name: string;
  data: Uint8Array;
}

/**
 * The sh header. Everything variable is baked in at build time, so that a run
 * with the files already unpacked costs two `[` tests and one exec.
 */
function header(o: {
  key: string;
  denoId: string;
  offset: number;
  denoGzSize: number;
  js: JsFile[];
  main: string;
  version: string;
}): string {
  // Unpack each JavaScript file (they follow Deno in the payload), then move
  // them into place: the chunks, then the entry, then deno.
  let at = o.offset + o.denoGzSize;
  const unpack: string[] = [];
  for (const f of o.js) {
    unpack.push(`tail -c +${at + 1} "$0" | head -c ${f.data.length} >"$_ctr_t/${f.name}" &&`);
    at += f.data.length;
  }
  const last = o.js[o.js.length - 1];
  const moves = [...o.js.filter((f) => f.name !== o.main), o.js.find((f) => f.name === o.main)!]
    .map((f) => `mv -f "$_ctr_t/${f.name}" "$_ctr_d/${f.name}" &&`);
  const jsBytes = o.js.reduce((n, f) => n + f.data.length, 0);
  // The header's own variables are lower case and prefixed: an assignment to a name the
  // environment holds would change that variable for ctr and every container it starts.
  return `#!/bin/sh
# ctr, packed: this header; Deno ${o.version}, gzip, ${o.denoGzSize} bytes at ${o.offset};
# the program, ${o.js.length} JavaScript file(s), ${jsBytes} bytes. Unpacked once into
# \${CTR_CACHE_DIR:-/var/cache/ctr or ~/.cache/ctr}/${o.key}, then run from there.
if [ -n "\${CTR_CACHE_DIR:-}" ]; then _ctr_c=$CTR_CACHE_DIR
elif [ -w /var/cache ] || { [ ! -e /var/cache ] && [ -w /var ]; }; then _ctr_c=/var/cache/ctr
else _ctr_c=\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/ctr; fi
_ctr_d=$_ctr_c/${o.key}
case $0 in /*) _ctr_s=$0 ;; ./*) _ctr_s=$PWD/\${0#./} ;; *) _ctr_s=$PWD/$0 ;; esac
if [ ! -x "$_ctr_d/deno" ] || [ ! -f "$_ctr_d/${o.main}" ]; then
  # First run of this build: unpack into a private directory, then rename
  # each file into place, deno last: deno there means everything is.
  # Deno itself is kept once per Deno build ($_ctr_b) and hard-linked into each
  # unpacked ctr, so a new ctr carrying the same Deno only unpacks its code.
  _ctr_b=$_ctr_c/deno-${o.version}-${o.denoId}
  _ctr_t=$_ctr_c/.tmp.$$
  rm -rf "$_ctr_t" && mkdir -p "$_ctr_t" "$_ctr_d" || { echo "ctr: cannot create $_ctr_t" >&2; exit 125; }
  if ! ln -f "$_ctr_b" "$_ctr_t/deno" 2>/dev/null; then
    if command -v gzip >/dev/null 2>&1; then _ctr_z=gzip; else _ctr_z="busybox gzip"; fi
    tail -c +${o.offset + 1} "$0" | head -c ${o.denoGzSize} | $_ctr_z -dc >"$_ctr_t/deno" &&
      chmod 755 "$_ctr_t/deno" || { rm -rf "$_ctr_t"; echo "ctr: cannot unpack Deno from $_ctr_s" >&2; exit 125; }
    ln -f "$_ctr_t/deno" "$_ctr_t/b" 2>/dev/null && mv -f "$_ctr_t/b" "$_ctr_b"
  fi
  ${unpack.join("\n  ")}
  _ctr_n=$(wc -c <"$_ctr_t/${last.name}") && [ $_ctr_n -eq ${last.data.length} ] &&
  ${moves.join("\n  ")}
  mv -f "$_ctr_t/deno" "$_ctr_d/deno" || { rm -rf "$_ctr_t"; echo "ctr: cannot unpack $_ctr_s into $_ctr_d" >&2; exit 125; }
  rm -rf "$_ctr_t"
fi
CTR_SELF=$_ctr_s DENO_DIR=$_ctr_d/deno_dir DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 \\
  exec "$_ctr_d/deno" run -A --no-config --no-lock --quiet ${V8_FLAGS} "$_ctr_d/${o.main}" "$@"
`;
}

/** Imports the bundle still leaves to be fetched at run time (none expected). */
function unresolvedImports(js: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'`]((?:npm|jsr|https?):[^"'`]+)["'`]/g;
  return [...new Set([...js.matchAll(re)].map((m) => m[1]))];
}

// What `deno bundle` emits for npm CommonJS modules, and its lazy equivalent:
// `process.getBuiltinModule` loads node:module only when `__require` is called.
const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);";
const LAZY_REQUIRE = "var __deno_internal_require;\n" +
  "var __require = (id) => (__deno_internal_require ??= globalThis.process" +
  '.getBuiltinModule("node:module").createRequire(import.meta.url))(id);';

/**
 * Deno builds the whole module graph before it runs anything, the chunks a
 * literal `import("./chunk.js")` names included (read, and analysed unless
 * cached): `ctr version` paid ~25 ms of CPU for the 60 chunks of commands it
 * never runs. A specifier computed at run time is resolved only when the
 * import runs. (deno compile needs the literal form to embed the files; this
 * is for the self-extracting file, whose chunks lie beside main.js.)
 */
function lateImports(js: string): string {
  return js.replace(
    /\bimport\(\s*"(\.\/[A-Za-z0-9._-]+\.js)"\s*\)/g,
    (_, spec) => `import(new URL(${JSON.stringify(spec)}, import.meta.url).href)`,
  );
}

/** Bundles the entry: the files, the entry's file name, how many were made lazy. */
async function bundle(
  dir: string,
  split: boolean,
): Promise<{ js: JsFile[]; main: string; lazy: number; cjsChunks: string[] }> {
  Deno.mkdirSync(dir, { recursive: true });
  const base = entry.slice(entry.lastIndexOf("/") + 1).replace(/\.[cm]?[jt]sx?$/, "");
  const args = split
    ? ["bundle", "--quiet", "--platform", "deno", "--code-splitting", "--outdir", dir, entry]
    : ["bundle", "--quiet", "--platform", "deno", "-o", `${dir}/${base}.js`, entry];
  const b = await run(args, BUNDLE_TIMEOUT_MS);
  if (!b.ok) throw new Error(`deno bundle ${entry} failed:\n${b.stderr}`);
  const main = `${base}.js`;
  const js: JsFile[] = [];
  let lazy = 0;
  const cjsChunks: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) throw new Error(`deno bundle made a directory, ${e.name}: not expected`);
    if (!e.isFile || !e.name.endsWith(".js")) continue;
    // The names go into the sh header unquoted-safe: keep them plain.
    if (!/^[A-Za-z0-9._-]+$/.test(e.name) || e.name === "deno") {
      throw new Error(`deno bundle made a file with an unexpected name: ${JSON.stringify(e.name)}`);
    }
    let text = Deno.readTextFileSync(`${dir}/${e.name}`);
    const left = unresolvedImports(text);
    if (left.length > 0) {
      throw new Error(`the bundle still imports ${left.join(", ")}: it would need a network`);
    }
    // A chunk that only re-exports a CommonJS module as `default` is what the
    // bundler makes for `await import("some-cjs-package")`; split that way,
    // named bindings of that import come out undefined (unlike in Deno).
    if (/^export default require_[\w$]*\(\);?\s*$/m.test(text)) cjsChunks.push(e.name);
    if (text.includes(EAGER_REQUIRE)) {
      text = text.replace(EAGER_REQUIRE, LAZY_REQUIRE);
      lazy++;
    }
    text = lateImports(text);
    js.push({ name: e.name, data: new TextEncoder().encode(text) });
  }
  if (!js.some((f) => f.name === main)) {
    throw new Error(`deno bundle made no ${main} (made: ${js.map((f) => f.name).join(", ")})`);
  }
  js.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { js, main, lazy, cjsChunks };
}

async function selfExtracting(): Promise<void> {
  const tmpDir = Deno.makeTempDirSync({ prefix: "ctr-build-" });
  try {
    let b = await bundle(`${tmpDir}/js`, wantSplit);
    if (b.cjsChunks.length > 0) {
      console.error(
        `build: a CommonJS npm package is imported with import() (${b.cjsChunks.join(", ")}); ` +
          "split bundles lose its named exports, so making one JavaScript file instead " +
          "(import it from a local module that is imported lazily to keep the split)",
      );
      b = await bundle(`${tmpDir}/js1`, false);
    }
    const { js, main, lazy } = b;
    const denoBin = Deno.readFileSync(deno);
    const denoId = (await sha256Hex(denoBin)).slice(0, 16);
    const denoGz = await gzip(denoBin);
    const jsBytes = js.reduce((n, f) => n + f.data.length, 0);
    const payload = new Uint8Array(denoGz.length + jsBytes);
    payload.set(denoGz, 0);
    let at = denoGz.length;
    for (const f of js) {
      payload.set(f.data, at);
      at += f.data.length;
    }
    // The cache directory's name: a new Deno or a new bundle (contents or
    // file names) unpacks anew.
    const names = new TextEncoder().encode(js.map((f) => `${f.name} ${f.data.length}\n`).join(""));
    const keyed = new Uint8Array(names.length + payload.length);
    keyed.set(names, 0);
    keyed.set(payload, names.length);
    const key = (await sha256Hex(keyed)).slice(0, 16);

    // The header holds its own length (the payload's offset): settle it.
    const enc = new TextEncoder();
    const fields = {
      key,
      denoId,
      denoGzSize: denoGz.length,
      js,
      main,
      version: Deno.version.deno,
    };
    let offset = 0;
    let head = enc.encode(header({ ...fields, offset }));
    for (let i = 0; i < 5 && head.length !== offset; i++) {
      offset = head.length;
      head = enc.encode(header({ ...fields, offset }));
    }
    if (head.length !== offset) throw new Error("the header's length did not settle");

    const size = head.length + payload.length;
    if (size > LIMIT) {
      throw new Error(`the self-extracting file would be ${mib(size)} MiB, over the 64 MiB limit`);
    }
    const tmp = `${output}.tmp`;
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o755 });
    try {
      for (const part of [head, payload]) {
        let done = 0;
        while (done < part.length) done += f.writeSync(part.subarray(done));
      }
    } finally {
      f.close();
    }
    Deno.chmodSync(tmp, 0o755);
    Deno.renameSync(tmp, output);
    console.error(
      `build: ${output}: self-extracting: ${(size / 1e6).toFixed(1)} MB = ${mib(size)} MiB ` +
        `(Deno ${Deno.version.deno} gzip ${mib(denoGz.length)} MiB; program ` +
        `${(jsBytes / 1024).toFixed(0)} KiB in ${js.length} file(s), entry ${main}` +
        `${lazy ? ", node:module made lazy" : ""}; cache key ${key})`,
    );
  } finally {
    removeQuietly(tmpDir);
  }
}

try {
  Deno.statSync(entry);
} catch {
  usage(`no such entry file: ${entry}`);
}
try {
  if (!(allowCompile && await tryCompile())) {
    console.error("build: making a self-extracting file instead");
    await selfExtracting();
  }
} catch (e) {
  console.error(`build: FAILED: ${(e as Error).message}`);
  Deno.exit(1);
}
