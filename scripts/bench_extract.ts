/**
 * Times ctr's layer extraction against `tar -xzf` of the same gzip'd layer, in
 * one process, alternating, so that both see the same machine state:
 *
 *     deno run -A scripts/bench_extract.ts LAYER.tar.gz WORKDIR [RUNS]
 *
 * ctr's side is `extractLayer` (lib/image/layer.ts) as a pull calls it: the
 * stream decompressed, every entry checked and written, the diff ID hashed.
 * tar's side is GNU tar run as root (owners, modes and times kept), its
 * process start included. Each run extracts into a fresh directory under
 * WORKDIR, removed afterwards (nothing is mounted there). Prints one JSON
 * object: the medians in ms and ctr's time over tar's.
 */
import { extractLayer } from "../lib/image/layer.ts";

const [layer, work, runsArg] = Deno.args;
if (!layer || !work) {
  console.error("usage: bench_extract.ts LAYER.tar.gz WORKDIR [RUNS]");
  Deno.exit(2);
}
const runs = Number(runsArg ?? 10);
Deno.mkdirSync(work, { recursive: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function ctr(dir: string): Promise<number> {
  const t = performance.now();
  const f = await Deno.open(layer);
  await extractLayer(f.readable, dir);
  return performance.now() - t;
}

async function tar(dir: string): Promise<number> {
  Deno.mkdirSync(dir);
  const t = performance.now();
  const r = await new Deno.Command("tar", { args: ["-xzf", layer, "-C", dir] }).output();
  const ms = performance.now() - t;
  if (!r.success) throw new Error(`tar -xzf ${layer}: ${new TextDecoder().decode(r.stderr)}`);
  return ms;
}

const times = { ctr: [] as number[], tar: [] as number[] };
// One warmup of each (page cache, the JIT), then alternate.
for (let i = -1; i < runs; i++) {
  for (const [name, fn] of [["ctr", ctr], ["tar", tar]] as const) {
    const dir = `${work}/${name}-${i + 1}`;
    const ms = await fn(dir);
    if (i >= 0) times[name].push(ms);
    Deno.removeSync(dir, { recursive: true });
  }
}
const size = Deno.statSync(layer).size;
console.log(JSON.stringify({
  layerBytes: size,
  runs,
  ctrMs: +median(times.ctr).toFixed(1),
  tarMs: +median(times.tar).toFixed(1),
  ctrOverTar: +(median(times.ctr) / median(times.tar)).toFixed(2),
}));
