/**
 * `deno task build`: makes ./ctr, one file that runs on a host without Deno.
 *
 * 1. `deno compile`, when its base binary (denort) can be had: from Deno's
 *    servers, or from DENORT_BIN.
 * 2. Otherwise a self-extracting file: a short POSIX sh header, this Deno
 *    gzip-compressed, and the bundled program. The header unpacks both once
 *    into a cache directory keyed by their hash, then execs Deno on the
 *    bundle; later runs only test that the cache is there.
 *
 * Usage: deno run -A scripts/build.ts [--output FILE] [--entry main.ts] [--no-compile]
 */

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const repo = new URL("..", import.meta.url).pathname;
const output = opt("--output", `${repo}ctr`);
const entry = opt("--entry", `${repo}main.ts`);
const LIMIT = 64 * 1024 * 1024;

async function run(
  cmd: string,
  cmdArgs: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; err: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args: cmdArgs,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr) };
  } catch (e) {
    return { ok: false, err: (e as Error).message };
  }
}

async function sha256(data: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function tryCompile(): Promise<boolean> {
  if (args.includes("--no-compile")) return false;
  const tmp = `${output}.compile.tmp`;
  const r = await run(
    Deno.execPath(),
    ["compile", "-A", "--no-check", "--output", tmp, entry],
    60_000,
  );
  if (!r.ok) {
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing written */ }
    const why = r.err.split("\n").find((l) => /error/i.test(l)) ??
      r.err.trim().split("\n").at(-1) ?? "";
    console.error(
      `deno compile is not available here (${why.trim()}); making a self-extracting file`,
    );
    return false;
  }
  Deno.renameSync(tmp, output);
  return true;
}

function header(key: string, denoSize: number, offset: number): string {
  // Offsets are baked in; the hot path runs only shell built-ins.
  return `#!/bin/sh
# ctr: one file holding Deno (gzip) and the ctr program; unpacked once per version.
K=${key}
if [ -n "\${CTR_CACHE_DIR:-}" ]; then C=$CTR_CACHE_DIR
elif [ -w /var/cache ] || [ "\$(id -u)" = 0 ]; then C=/var/cache/ctr
else C=\${XDG_CACHE_HOME:-\$HOME/.cache}/ctr; fi
D=$C/$K
if [ ! -x "$D/deno" ] || [ ! -f "$D/ctr.js" ]; then
  mkdir -p "$C" || exit 125
  T=\$(mktemp -d "$C/.unpack.XXXXXX") || exit 125
  Z=gzip; command -v gzip >/dev/null 2>&1 || Z="busybox gzip"
  tail -c +${offset + 1} "$0" | head -c ${denoSize} | $Z -dc > "$T/deno" &&
    tail -c +${offset + denoSize + 1} "$0" > "$T/ctr.js" && chmod 755 "$T" "$T/deno" ||
    { rm -rf "$T"; echo "ctr: cannot unpack into $C" >&2; exit 125; }
  if [ -e "$D" ]; then rm -rf "$T"; else mv "$T" "$D" 2>/dev/null || rm -rf "$T"; fi
fi
CTR_SELF=$0 DENO_DIR=$D/cache DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 exec "$D/deno" run -A --no-config --no-lock --quiet "$D/ctr.js" "$@"
`;
}

async function selfExtracting(): Promise<void> {
  const bundle = `${output}.bundle.js`;
  const b = await run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "-o",
    bundle,
    entry,
  ], 120_000);
  if (!b.ok) throw new Error(`deno bundle failed:\n${b.err}`);
  const js = Deno.readFileSync(bundle);
  Deno.removeSync(bundle);
  const denoGz = await gzip(Deno.readFileSync(Deno.execPath()));
  const key = (await sha256(
    new Uint8Array(
      [...(await sha256(js)), ...(await sha256(denoGz))].map((c) => c.charCodeAt(0)),
    ),
  ))
    .slice(0, 16);
  // The header's length depends on the offset written in it: settle it.
  let offset = 0;
  let head = "";
  for (let i = 0; i < 4; i++) {
    head = header(key, denoGz.length, offset);
    const len = new TextEncoder().encode(head).length;
    if (len === offset) break;
    offset = len;
  }
  const h = new TextEncoder().encode(head);
  if (h.length !== offset) throw new Error("header length did not settle");
  const file = new Uint8Array(h.length + denoGz.length + js.length);
  file.set(h, 0);
  file.set(denoGz, h.length);
  file.set(js, h.length + denoGz.length);
  if (file.length > LIMIT) throw new Error(`The single file is ${file.length} bytes, over 64 MiB`);
  const tmp = `${output}.tmp`;
  Deno.writeFileSync(tmp, file, { mode: 0o755 });
  Deno.chmodSync(tmp, 0o755);
  Deno.renameSync(tmp, output);
  console.error(
    `built ${output}: self-extracting, ${
      (file.length / 1048576).toFixed(1)
    } MiB (Deno ${Deno.version.deno} + bundle, key ${key})`,
  );
}

if (await tryCompile()) {
  const size = Deno.statSync(output).size;
  if (size > LIMIT) console.error(`warning: ${output} is ${size} bytes, over 64 MiB`);
  console.error(`built ${output}: deno compile, ${(size / 1048576).toFixed(1)} MiB`);
} else {
  await selfExtracting();
}
