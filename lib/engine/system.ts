/**
 * What `ctr info` and `ctr system df` report: the host and ctr's own state
 * (containers by status, images, the storage and cgroup setup, the kernel)
 * in docker's `info` fields, and the disk space images, containers, volumes
 * and the build cache take, with what could be reclaimed.
 * @module
 */

import type { Globals } from "./globals.ts";
import { type ContainerState, StateDir } from "./state.ts";
import { liveStatus, reconcile } from "./lifecycle.ts";
import { type Volume, volumesInUse, VolumeStore } from "./volume.ts";
import { treeSize } from "../os/tree.ts";
import { hostCgroupLayout } from "../cgroups/mod.ts";
import { sha256 } from "../image/digest.ts";
import { VERSION } from "../version.ts";
import { exists } from "../../ffi/sys.ts";
import { BuildCache } from "../image/build/cache.ts";
import { type ImageSummary, listImages } from "../image/find.ts";
import { Store } from "../image/store.ts";

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** /etc/os-release as a map. */
export function osRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Z_]+)=(.*)$/);
    if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** The file system type of a path, from the mount table (the longest mount point above it). */
function fsType(path: string): string {
  let best = "", type = "unknown";
  for (const line of (read("/proc/self/mountinfo") ?? "").split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 0) continue;
    const point = f[4];
    if (
      (path === point || path.startsWith(point === "/" ? "/" : point + "/")) &&
      point.length >= best.length
    ) {
      best = point;
      type = f[dash + 1];
    }
  }
  return type === "ext4" || type === "ext3" || type === "ext2" ? "extfs" : type;
}

/**
 * A stable identity for this host's ctr, in docker's engine ID form (twelve
 * groups of four base32 characters): derived from the machine id and the store.
 */
export function engineId(machineId: string, root: string): string {
  const hex = sha256(`${machineId.trim()}\n${root}`).slice(7);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of hex) bits += parseInt(c, 16).toString(2).padStart(4, "0");
  const chars: string[] = [];
  for (let i = 0; i + 5 <= bits.length && chars.length < 48; i += 5) {
    chars.push(alphabet[parseInt(bits.slice(i, i + 5), 2)]);
  }
  return chars.join("").match(/.{4}/g)!.join(":");
}

/** Counts of containers by what `info` reports. */
export function containerCounts(list: readonly ContainerState[]) {
  let running = 0, paused = 0, stopped = 0;
  for (const s of list) {
    const st = liveStatus(s);
    if (st === "running") running++;
    else if (st === "paused") paused++;
    else stopped++;
  }
  return {
    Containers: list.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: stopped,
  };
}

/** docker's `info` object for this host and ctr's state (docker's field names). */
export async function systemInfo(g: Globals): Promise<Record<string, unknown>> {
  const containers = await reconcile(new StateDir(g.stateDir));
  let images = 0;
  try {
    images = Object.keys(Store.open(g.root).readIndex().images).length;
  } catch { /* no store yet */ }
  const layout = hostCgroupLayout();
  const memoryDir = layout?.version === "v2"
    ? undefined
    : layout?.v1.find((h) => h.controllers.includes("memory"))?.own;
  const os = osRelease(read("/etc/os-release") ?? "");
  const meminfo = read("/proc/meminfo") ?? "";
  const memTotal = Number(meminfo.match(/^MemTotal:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
  const flag = (p: string) => read(p)?.trim() === "1";
  let nfd = 0;
  try {
    nfd = [...Deno.readDirSync("/proc/self/fd")].length;
  } catch { /* no /proc */ }
  return {
    ID: engineId(read("/etc/machine-id") ?? "", g.root),
    ...containerCounts(containers),
    Images: images,
    Driver: "overlay",
    DriverStatus: [
      ["Backing Filesystem", fsType(g.root)],
      ["Supports d_type", "true"],
      ["Native Overlay Diff", "true"],
      ["userxattr", "false"],
    ],
    Plugins: {
      Volume: ["local"],
      Network: ["bridge", "host", "null"],
      Authorization: null,
      Log: ["json-file"],
    },
    MemoryLimit: layout !== undefined,
    SwapLimit: memoryDir === undefined
      ? layout?.version === "v2"
      : exists(`${memoryDir}/memory.memsw.limit_in_bytes`, true),
    KernelMemory: false,
    KernelMemoryTCP: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: flag("/proc/sys/net/ipv4/ip_forward"),
    BridgeNfIptables: flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
    BridgeNfIp6tables: flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
    Debug: g.logLevel === "debug",
    NFd: nfd,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: layout?.version === "v2" ? "2" : "1",
    NEventsListener: 0,
    KernelVersion: Deno.osRelease(),
    OperatingSystem: os.PRETTY_NAME ?? "Linux",
    OSVersion: os.VERSION_ID ?? "",
    OSType: "linux",
    Architecture: Deno.build.arch,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: {
      InsecureRegistryCIDRs: ["127.0.0.0/8"],
      IndexConfigs: {
        "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true },
      },
      Mirrors: [],
    },
    NCPU: navigator.hardwareConcurrency,
    MemTotal: memTotal,
    DockerRootDir: g.root,
    HttpProxy: Deno.env.get("HTTP_PROXY") ?? Deno.env.get("http_proxy") ?? "",
    HttpsProxy: Deno.env.get("HTTPS_PROXY") ?? Deno.env.get("https_proxy") ?? "",
    NoProxy: Deno.env.get("NO_PROXY") ?? Deno.env.get("no_proxy") ?? "",
    Name: Deno.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: VERSION,
    Runtimes: { ctr: { path: Deno.env.get("CTR_SELF") ?? Deno.execPath() } },
    DefaultRuntime: "ctr",
    Swarm: {
      NodeID: "",
      NodeAddr: "",
      LocalNodeState: "inactive",
      ControlAvailable: false,
      Error: "",
      RemoteManagers: null,
    },
    // Detached containers never depend on a daemon: they outlive any ctr process.
    LiveRestoreEnabled: true,
    Isolation: "",
    InitBinary: "",
    SecurityOptions: ["name=seccomp,profile=builtin", "name=cgroupns"],
    Warnings: null,
    ClientInfo: { Debug: g.logLevel === "debug", Context: "default", Plugins: [], Warnings: null },
  };
}

/** One container's share of the disk, for `system df -v`. */
export interface ContainerUsage {
  readonly state: ContainerState;
  /** Bytes in its upper layer. */
  readonly size: number;
  /** Bytes of its image's layers (the stored tars) besides. */
  readonly imageSize: number;
}

/** One image's share of the disk. */
export interface ImageUsage {
  readonly image: ImageSummary;
  /** Bytes of its layers that other images use too. */
  readonly shared: number;
  /** Containers that stack its layers. */
  readonly containers: number;
}

/** Everything `system df` reports. */
export interface DiskUsage {
  readonly images: readonly ImageUsage[];
  /** Bytes of every distinct layer of the images. */
  readonly imagesSize: number;
  /** Bytes of the layers no container uses. */
  readonly imagesReclaimable: number;
  readonly containers: readonly ContainerUsage[];
  readonly volumes: readonly { volume: Volume; size: number; links: number }[];
  readonly buildCache: {
    count: number;
    size: number;
    /** Each entry: its key, its layer's bytes, the step that made it and when. */
    entries: readonly { id: string; size: number; description: string; created: string }[];
  };
}

function layerIdsOf(s: ContainerState): string[] {
  return (s.config?.layers ?? []).map((d) => {
    const m = d.match(/\/layers\/sha256\/([0-9a-f]{64})$/);
    return m ? `sha256:${m[1]}` : d;
  });
}

/** Measures what `system df` shows (walks every container's upper layer and every volume). */
export async function diskUsage(g: Globals): Promise<DiskUsage> {
  const containers = await reconcile(new StateDir(g.stateDir));
  const usedLayers = new Set(containers.flatMap(layerIdsOf));
  let images: ImageUsage[] = [];
  let imagesSize = 0, imagesReclaimable = 0;
  let buildCache: DiskUsage["buildCache"] = { count: 0, size: 0, entries: [] };
  let layerSize = (_d: string) => 0;
  try {
    const store = Store.open(g.root);
    const index = store.readIndex();
    const summaries = listImages(store);
    const owners = new Map<string, number>();
    for (const r of Object.values(index.images)) {
      for (const d of new Set(r.layers)) owners.set(d, (owners.get(d) ?? 0) + 1);
    }
    const size = layerSize = (d: string) => index.layers[d]?.size ?? 0;
    for (const d of owners.keys()) {
      imagesSize += size(d);
      if (!usedLayers.has(d)) imagesReclaimable += size(d);
    }
    images = summaries.map((img) => {
      const record = index.images[img.digest];
      const layers = [...new Set(record?.layers ?? [])];
      return {
        image: img,
        shared: layers.filter((d) => (owners.get(d) ?? 0) > 1).reduce((n, d) => n + size(d), 0),
        containers: containers.filter((s) => {
          const ids = layerIdsOf(s);
          return layers.length > 0 && layers.every((d) => ids.includes(d));
        }).length,
      };
    });
    const cache = BuildCache.open(store);
    const entries = cache.entries();
    buildCache = {
      count: entries.length,
      size: [...new Set(entries.map((e) => e.layer.diffId))].reduce((n, d) => n + size(d), 0),
      entries: entries.map((e) => ({
        id: e.key,
        size: size(e.layer.diffId),
        description: e.createdBy ?? "",
        created: e.recorded,
      })),
    };
  } catch { /* no store yet */ }
  const inUse = volumesInUse(g.stateDir);
  const volumes = new VolumeStore(g.root).list().map((v) => ({
    volume: v,
    size: treeSize(v.Mountpoint),
    links: inUse.get(v.Name)?.length ?? 0,
  }));
  return {
    images,
    imagesSize,
    imagesReclaimable,
    containers: containers.map((s) => ({
      state: { ...s, status: liveStatus(s) },
      size: treeSize(`${s.dir}/upper`),
      imageSize: layerIdsOf(s).reduce((n, d) => n + layerSize(d), 0),
    })),
    volumes,
    buildCache,
  };
}
