/**
 * Times commands in turns, for the benchmarks whose rows are subtracted from
 * each other: each round runs every command once, in an order that alternates
 * between rounds, so that the machine's load drifting over a run weighs on
 * all rows alike (hyperfine runs one row after the other).
 *
 *   deno run -A scripts/_interleave.ts RUNS WARMUP NAME=COMMAND... > out.json
 *
 * A COMMAND is split on spaces, except inside single quotes (as `sh -c '...'`
 * needs). Writes `{ NAME: { median, mean, runs } }` in milliseconds.
 */

function split(cmd: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let any = false;
  for (const ch of cmd) {
    if (ch === "'") {
      quoted = !quoted;
      any = true;
    } else if (ch === " " && !quoted) {
      if (any) out.push(cur);
      cur = "";
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) out.push(cur);
  return out;
}

const [runsArg, warmupArg, ...specs] = Deno.args;
const runs = Number(runsArg);
const warmup = Number(warmupArg);
if (!(runs > 0) || !(warmup >= 0) || specs.length === 0) {
  console.error("usage: _interleave.ts RUNS WARMUP NAME=COMMAND...");
  Deno.exit(2);
}
const rows = specs.map((s) => {
  const i = s.indexOf("=");
  return { name: s.slice(0, i), argv: split(s.slice(i + 1)), times: [] as number[] };
});

for (let round = 0; round < warmup + runs; round++) {
  const order = round % 2 === 0 ? rows : [...rows].reverse();
  for (const r of order) {
    const t0 = performance.now();
    const out = await new Deno.Command(r.argv[0], {
      args: r.argv.slice(1),
      stdout: "null",
      stderr: "piped",
    }).output();
    const ms = performance.now() - t0;
    if (!out.success) {
      console.error(`${r.name}: exit ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
      Deno.exit(1);
    }
    if (round >= warmup) r.times.push(ms);
  }
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(JSON.stringify(
  Object.fromEntries(rows.map((r) => [r.name, {
    median: median(r.times),
    mean: r.times.reduce((a, b) => a + b, 0) / r.times.length,
    runs: r.times.length,
  }])),
  null,
  2,
));
