/**
 * The Engine API's view of running containers' processes and use: `top`
 * (the processes `ctr top` lists) and `stats` (docker's stats objects from
 * the container's cgroup, its network devices and the host's CPU time,
 * streamed once a second or sampled once).
 * @module
 */

import type { ContainerState } from "../engine/state.ts";
import type { CgroupStats } from "../cgroups/mod.ts";
import { cgroupOf, isRunning, liveStatus } from "../engine/lifecycle.ts";
import { containerProcesses } from "../engine/top.ts";
import { containerNetDevices, memTotal, onlineCpus, systemCpuNs } from "../engine/stats.ts";
import { HttpError, type Request, type Response } from "./http.ts";
import { type ApiContext, boolParam, type Router } from "./router.ts";
import { sleep } from "../os/async.ts";

/** `top` and `stats`. */
export class ContainerStatsRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/containers/([^/]+)/top", (q, res, [ref]) => this.#top(q, res, ref));
    r.add("GET", "/containers/([^/]+)/stats", (q, res, [ref]) => this.#stats(q, res, ref));
  }

  async #top(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.ctx.dir.find(ref);
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    const args = req.query.get("ps_args");
    if (args && args !== "-ef") {
      throw new HttpError(
        400,
        `ps_args ${JSON.stringify(args)}: ctr lists processes as ps -ef only`,
      );
    }
    const { titles, processes } = containerProcesses(s);
    await res.json(200, { Titles: titles, Processes: processes });
  }

  /**
   * `stats`: with `stream` (the default) one object a second until the
   * container ends or the client goes; otherwise one, whose `precpu_stats`
   * is a sample taken a moment before (none with `one-shot`).
   */
  async #stats(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.ctx.dir.find(ref);
    const stream = req.query.get("stream") === null || boolParam(req, "stream");
    const oneShot = boolParam(req, "one-shot");
    let prev = stream || oneShot ? undefined : sample(s);
    if (prev) await sleep(500);
    if (!stream) return await res.json(200, statsObject(s, sample(s), prev));
    const out = await res.stream(200, { "Content-Type": "application/json" });
    const enc = new TextEncoder();
    try {
      for (;;) {
        const cur = this.ctx.dir.get(s.id) ?? s;
        const now = sample(cur);
        await out.write(enc.encode(JSON.stringify(statsObject(cur, now, prev)) + "\n"));
        if (liveStatus(cur) === "exited" || !this.ctx.dir.get(s.id)) break;
        prev = now;
        await sleep(1000);
      }
      await out.end();
    } catch { /* the client went away */ }
  }
}

/** One reading of what stats reports. */
interface Sample {
  readonly at: Date;
  readonly cg: CgroupStats;
  readonly system: number;
}

function sample(s: ContainerState): Sample {
  const running = liveStatus(s) !== "exited";
  return {
    at: new Date(),
    cg: running ? cgroupOf(s)?.stats() ?? {} : {},
    system: systemCpuNs(),
  };
}

/** docker's stats object (types.StatsJSON) from a sample and the one before it. */
function statsObject(s: ContainerState, now: Sample, prev?: Sample): Record<string, unknown> {
  const cpus = onlineCpus();
  const cpu = (x?: Sample) => ({
    cpu_usage: {
      total_usage: x?.cg.cpu?.usageNs ?? 0,
      usage_in_kernelmode: 0,
      usage_in_usermode: 0,
    },
    system_cpu_usage: x?.system ?? 0,
    online_cpus: x ? cpus : 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  const mem = now.cg.memory;
  const running = liveStatus(s) !== "exited";
  const networks = Object.fromEntries(
    Object.entries(running ? containerNetDevices(s) : {}).map(([name, d]) => [name, {
      rx_bytes: d.rxBytes,
      rx_packets: d.rxPackets,
      rx_errors: d.rxErrors,
      rx_dropped: d.rxDropped,
      tx_bytes: d.txBytes,
      tx_packets: d.txPackets,
      tx_errors: d.txErrors,
      tx_dropped: d.txDropped,
    }]),
  );
  const io = now.cg.io;
  return {
    read: now.at.toISOString(),
    preread: prev?.at.toISOString() ?? "0001-01-01T00:00:00Z",
    pids_stats: {
      current: now.cg.pids?.current ?? 0,
      ...(now.cg.pids?.limit != null && { limit: now.cg.pids.limit }),
    },
    blkio_stats: {
      io_service_bytes_recursive: io
        ? [
          { major: 0, minor: 0, op: "Read", value: io.readBytes },
          { major: 0, minor: 0, op: "Write", value: io.writeBytes },
        ]
        : null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(now),
    precpu_stats: cpu(prev),
    memory_stats: mem
      ? {
        usage: mem.usage,
        ...(mem.maxUsage !== undefined && { max_usage: mem.maxUsage }),
        stats: {},
        limit: Math.min(mem.limit ?? Infinity, memTotal()),
      }
      : {},
    name: `/${s.name}`,
    id: s.id,
    ...(Object.keys(networks).length && { networks }),
  };
}
