/**
 * The container's root filesystem, as plan steps: an overlay of the read-only
 * layers and a private upper layer, the kernel filesystems (/proc, /sys, /dev,
 * /dev/pts, /dev/shm, /dev/mqueue), user mounts, masked and read-only paths,
 * and pivot_root. Every mount is made by the child in its own mount namespace,
 * so none of them exists on the host and all vanish with the container.
 * @module
 */

import { flagNames, MNT, MS, PROPAGATION_FLAGS, S_IF } from "../../ffi/constants.ts";
import type { ContainerConfig, DeviceNode, OciMount, UserMount } from "../config/container.ts";
import { lookup, resolveInRoot } from "./paths.ts";
import { int, NULL, type Step, str, syncPoint } from "./plan.ts";
import { AT_FDCWD, chdirTo, mode, writeFileSteps } from "./steps.ts";
import type { CgroupLayout } from "../cgroups/mod.ts";
import { attachIdmappedLayers, idmappedLowerDir } from "./idmount.ts";

/** The group of a container's ptys (devpts is mounted with gid=5, the tty group, as docker does). */
export const TTY_GID = 5;

/** Sync phase before pivot_root of an OCI container (its createContainer hooks run there). */
export const PHASE_PREPIVOT = 3;

/** Facts about the host that shape the mounts. */
export interface RootfsHost {
  /** The container has its own user namespace (no mknod; bind host devices instead). */
  readonly userns: boolean;
  /** The container has its own network namespace (sysfs can be mounted fresh). */
  readonly netns: boolean;
  /** What a host path is: a masked path is hidden with a tmpfs (directory) or /dev/null (file). */
  readonly kindOf: (path: string) => "dir" | "file" | undefined;
  /** The host's cgroup hierarchies, mounted read-only at /sys/fs/cgroup (none: not mounted). */
  readonly cgroups?: CgroupLayout;
  /**
   * Inherited fds of idmapped mounts of the layers (runtime/idmount.ts), one
   * per layer: attached below the container's directory and stacked instead.
   */
  readonly idmappedLowers?: readonly number[];
}

const ms = (flags: number) => int(flags, () => flagNames(flags, MS, "MS_"));

/** The size of /dev/shm when `--shm-size` is not given: 64 MiB, docker's. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Standard device nodes: name, major, minor. */
const DEVICES: readonly [string, number, number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

const DEV_LINKS: readonly [string, string][] = [
  ["/proc/self/fd", "fd"],
  ["/proc/self/fd/0", "stdin"],
  ["/proc/self/fd/1", "stdout"],
  ["/proc/self/fd/2", "stderr"],
  ["/proc/kcore", "core"],
  ["pts/ptmx", "ptmx"],
];

function makedev(major: number, minor: number): number {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
}

/** Overlay option values may not contain the separators overlayfs parses. */
function overlayPath(p: string): string {
  if (/[,:\\]/.test(p)) throw new Error(`Cannot use ${p} in an overlay: it contains , : or \\`);
  return p;
}

/** The container directory's links to its layers, when their paths are too long. */
export const LAYER_LINKS = "l";

/**
 * mount(2) takes its options in one page (the new mount API's fsconfig takes
 * 256 bytes a value, and `lowerdir+` one layer at a time only from Linux
 * 6.8). Options longer than this use the short links instead.
 */
const MAX_OPTIONS = 4000;

/** The overlay's mount options, lower layers top first, then the config's own. */
function overlayOptions(
  lower: readonly string[],
  cfg: Pick<ContainerConfig, "dir" | "overlayOptions">,
  userxattr: boolean,
): string {
  const opts = [
    `lowerdir=${lower.map(overlayPath).join(":")}`,
    `upperdir=${overlayPath(cfg.dir + "/upper")}`,
    `workdir=${overlayPath(cfg.dir + "/work")}`,
    ...(userxattr ? ["userxattr"] : []),
    ...(cfg.overlayOptions ?? []).map(overlayPath),
  ];
  return opts.join(",");
}

/**
 * Whether the layers' paths make the options too long for mount(2): the
 * overlay is then mounted from the container's `l` directory with relative
 * lower names (`0:1:...`), links to the layers that linkLayers() makes.
 * Docker's overlay2 driver does the same with its `l/` directory.
 */
export function needsLayerLinks(cfg: ContainerConfig, userxattr: boolean): boolean {
  return !cfg.oci && overlayOptions(cfg.layers, cfg, userxattr).length >= MAX_OPTIONS;
}

/** Makes `<dir>/l/N`, a link to layer N (0 is the top one), replacing any from before. */
export function linkLayers(cfg: ContainerConfig): void {
  const dir = `${cfg.dir}/${LAYER_LINKS}`;
  try {
    Deno.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    // A restarted container: its links, one by one (never a recursive remove).
    for (const entry of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${entry.name}`);
  }
  cfg.layers.forEach((l, i) => Deno.symlinkSync(overlayPath(l), `${dir}/${i}`));
}

/** Builds the mount steps for a container; the child runs them before pivot_root. */
export class RootfsBuilder {
  readonly steps: Step[] = [];
  readonly merged: string;
  readonly #layers: readonly string[];
  readonly #made = new Set<string>();
  /** Container paths where a filesystem was mounted: what the layers say below them is hidden. */
  readonly #mounted = new Set<string>();

  constructor(readonly cfg: ContainerConfig, readonly host: RootfsHost) {
    if (cfg.oci) {
      // An OCI bundle's root is used in place: no overlay, no upper layer.
      this.merged = cfg.oci.root;
      this.#layers = [cfg.oci.root];
      return;
    }
    this.merged = `${cfg.dir}/merged`;
    // The upper layer is searched too when it exists: a restarted container keeps its changes.
    const upper = host.kindOf(`${cfg.dir}/upper`) === "dir" ? [`${cfg.dir}/upper`] : [];
    this.#layers = [...upper, ...cfg.layers];
  }

  /** Resolves a container path safely and makes sure it exists (dir or file). */
  #target(path: string, kind: "dir" | "file"): { inner: string; host: string } {
    const inner = resolveInRoot(this.#layers, path);
    const parts = inner.split("/").filter(Boolean);
    let cur = "";
    parts.forEach((c, i) => {
      cur += "/" + c;
      if (this.#made.has(cur)) return;
      const hidden = [...this.#mounted].some((m) => cur.startsWith(m === "/" ? "/" : m + "/"));
      // Below a mount the layers say nothing: make the path, accepting that it may exist.
      const found = hidden ? undefined : lookup(this.#layers, cur);
      const last = i === parts.length - 1;
      if (!found) {
        if (last && kind === "file") {
          this.steps.push({
            call: "mknodat",
            args: [
              AT_FDCWD,
              str(this.merged + cur),
              mode(S_IF.REG | 0o644),
              int(0),
            ],
            label: `create mount point ${cur}`,
            tolerate: ["EEXIST"],
          });
        } else {
          this.steps.push({
            call: "mkdirat",
            args: [AT_FDCWD, str(this.merged + cur), mode(0o755)],
            label: `create directory ${cur}`,
            tolerate: ["EEXIST"],
          });
        }
      } else if (!last && found.kind !== "dir") {
        throw new Error(
          `Cannot mount on ${path}: ${cur} is not a directory in the root filesystem`,
        );
      }
      this.#made.add(cur);
    });
    return { inner, host: this.merged + inner };
  }

  #mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
    label: string,
    tolerate?: string[],
  ): void {
    this.steps.push({
      call: "mount",
      args: [
        source === null ? NULL : str(source),
        str(target),
        fstype === null ? NULL : str(fstype),
        ms(flags),
        data === null ? NULL : str(data),
      ],
      label,
      tolerate,
      hints: {
        ENOENT: "the source or the mount point is missing",
        ENOTDIR: "a file and a directory were mixed up",
      },
    });
  }

  /** All mount steps, in order. */
  build(): Step[] {
    if (this.cfg.oci) return this.#buildOci(this.cfg.oci);
    const { cfg, host } = this;
    const M = this.merged;
    // Modes of device nodes and mount points are exact: no umask applies until the process sets its own.
    this.steps.push({
      call: "umask",
      args: [int(0, "0")],
      label: "umask 0 while building the root",
    });
    this.#mount(
      null,
      "/",
      null,
      MS.REC | MS.SLAVE,
      null,
      "keep the container's mounts from reaching the host",
    );
    const idmapped = host.idmappedLowers;
    if (idmapped) this.steps.push(...attachIdmappedLayers(idmapped, cfg.dir));
    const links = !idmapped && needsLayerLinks(cfg, host.userns);
    if (links) {
      this.steps.push(
        chdirTo(
          `${cfg.dir}/${LAYER_LINKS}`,
          `chdir to the short links of the ${cfg.layers.length} layers`,
        ),
      );
    }
    const lower = idmapped
      ? idmapped.map((_, i) => idmappedLowerDir(cfg.dir, i))
      : links
      ? cfg.layers.map((_, i) => String(i))
      : cfg.layers;
    this.#mount(
      "overlay",
      M,
      "overlay",
      0,
      overlayOptions(lower, cfg, host.userns),
      "mount the root filesystem (overlay)",
    );
    this.steps[this.steps.length - 1] = {
      ...this.steps[this.steps.length - 1],
      hints: {
        EINVAL:
          "a layer directory is missing or the upper layer's filesystem cannot hold an overlay",
      },
    };

    const proc = this.#target("/proc", "dir");
    this.#mount(
      "proc",
      proc.host,
      "proc",
      MS.NOSUID | MS.NODEV | MS.NOEXEC,
      null,
      "mount proc on /proc",
    );
    const sys = this.#target("/sys", "dir");
    if (host.userns && !host.netns) {
      this.#hostSys(sys.host);
    } else {
      this.#mount(
        "sysfs",
        sys.host,
        "sysfs",
        MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
        null,
        "mount sysfs on /sys (read-only)",
      );
    }
    if (host.cgroups) this.#cgroupfs(sys.host, host.cgroups);
    this.#dev();
    this.#devices(cfg.devices ?? []);
    const sorted = [...cfg.mounts].sort((a, b) => depth(a.destination) - depth(b.destination));
    for (const m of sorted) this.#userMount(m);
    this.#target(cfg.process.cwd, "dir");
    this.#sysctls(M, cfg.sysctl ?? {});
    this.#masks(M);
    if (cfg.readOnly) {
      this.#mount(
        M,
        M,
        null,
        MS.BIND | MS.REMOUNT | MS.RDONLY,
        null,
        "make the root filesystem read-only",
      );
    }
    this.#pivot(M);
    return this.steps;
  }

  /**
   * /sys/fs/cgroup, read-only: in the container's cgroup namespace each
   * hierarchy shows the container's own cgroup as its root. v2: one cgroup2
   * mount; v1: a tmpfs with one mount per hierarchy (and cgroup2 at
   * `unified` on a hybrid host).
   */
  #cgroupfs(sys: string, layout: CgroupLayout, at?: string): void {
    const dir = at ?? `${sys}/fs/cgroup`;
    const ro = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
    // In a user namespace the kernel may refuse some hierarchies; a missing one is not fatal.
    const tol = this.host.userns ? ["EPERM", "EBUSY"] : undefined;
    if (layout.version === "v2") {
      this.#mount(
        "cgroup2",
        dir,
        "cgroup2",
        ro,
        null,
        "mount cgroup2 on /sys/fs/cgroup (read-only)",
        tol,
      );
      return;
    }
    this.#mount(
      "tmpfs",
      dir,
      "tmpfs",
      MS.NOSUID | MS.NODEV | MS.NOEXEC,
      "mode=755",
      "mount tmpfs on /sys/fs/cgroup",
    );
    for (const h of layout.v1) {
      this.steps.push({
        call: "mkdirat",
        args: [AT_FDCWD, str(`${dir}/${h.name}`), mode(0o755)],
        label: `create /sys/fs/cgroup/${h.name}`,
      });
      this.#mount(
        "cgroup",
        `${dir}/${h.name}`,
        "cgroup",
        ro,
        h.controllers.join(","),
        `mount the ${h.name} cgroup hierarchy (read-only)`,
        tol,
      );
      if (h.controllers.length > 1) {
        for (const c of h.controllers) {
          this.steps.push({
            call: "symlinkat",
            args: [str(h.name), AT_FDCWD, str(`${dir}/${c}`)],
            label: `link /sys/fs/cgroup/${c} -> ${h.name}`,
            tolerate: ["EEXIST"],
          });
        }
      }
    }
    if (layout.unified) {
      this.steps.push({
        call: "mkdirat",
        args: [AT_FDCWD, str(`${dir}/unified`), mode(0o755)],
        label: "create /sys/fs/cgroup/unified",
      });
      this.#mount(
        "cgroup2",
        `${dir}/unified`,
        "cgroup2",
        ro,
        null,
        "mount cgroup2 on /sys/fs/cgroup/unified (read-only)",
        tol,
      );
    }
    this.#mount(null, dir, null, MS.BIND | MS.REMOUNT | ro, null, "make /sys/fs/cgroup read-only");
  }

  #dev(): void {
    const dev = this.#target("/dev", "dir").host;
    this.#mount(
      "tmpfs",
      dev,
      "tmpfs",
      MS.NOSUID | MS.STRICTATIME,
      "mode=755,size=65536k",
      "mount tmpfs on /dev",
    );
    this.#devNodes(dev);
    for (const d of ["pts", "shm", "mqueue"]) {
      this.steps.push({
        call: "mkdirat",
        args: [AT_FDCWD, str(`${dev}/${d}`), mode(0o755)],
        label: `create /dev/${d}`,
      });
    }
    // A user namespace that does not map the tty group (a rootless single-id one) cannot
    // give its ptys that group: they keep the opener's.
    const ttyMapped = !this.host.userns ||
      this.cfg.gidMap.some((m) => TTY_GID >= m.container && TTY_GID < m.container + m.size);
    this.#mount(
      "devpts",
      `${dev}/pts`,
      "devpts",
      MS.NOSUID | MS.NOEXEC,
      `newinstance,ptmxmode=0666,mode=0620${ttyMapped ? `,gid=${TTY_GID}` : ""}`,
      "mount devpts on /dev/pts",
    );
    this.#mount(
      "shm",
      `${dev}/shm`,
      "tmpfs",
      MS.NOSUID | MS.NODEV | MS.NOEXEC,
      `mode=1777,size=${Math.ceil((this.cfg.shmSize ?? DEFAULT_SHM_SIZE) / 1024)}k`,
      "mount tmpfs on /dev/shm",
    );
    this.#mount(
      "mqueue",
      `${dev}/mqueue`,
      "mqueue",
      MS.NOSUID | MS.NODEV | MS.NOEXEC,
      null,
      "mount mqueue on /dev/mqueue",
    );
  }

  /** The standard device nodes and links in a fresh /dev. */
  #devNodes(dev: string, tolerate?: string[]): void {
    for (const [name, major, minor] of DEVICES) {
      if (this.host.userns) {
        // mknod is not allowed in a user namespace: bind the host's node.
        this.steps.push({
          call: "mknodat",
          args: [AT_FDCWD, str(`${dev}/${name}`), mode(S_IF.REG | 0o666), int(0)],
          label: `create /dev/${name} for a bind mount`,
        });
        this.#mount(`/dev/${name}`, `${dev}/${name}`, null, MS.BIND, null, `bind /dev/${name}`);
      } else {
        this.steps.push({
          call: "mknodat",
          args: [
            AT_FDCWD,
            str(`${dev}/${name}`),
            mode(S_IF.CHR | 0o666),
            int(makedev(major, minor), `makedev(${major}, ${minor})`),
          ],
          label: `create /dev/${name}`,
        });
      }
    }
    for (const [target, name] of DEV_LINKS) {
      this.steps.push({
        call: "symlinkat",
        args: [str(target), AT_FDCWD, str(`${dev}/${name}`)],
        label: `link /dev/${name} -> ${target}`,
        tolerate,
      });
    }
  }

  /**
   * An OCI bundle's root, as runc prepares it: "/" gets the asked propagation
   * (rslave by default) so that nothing made here reaches the host; the
   * mount that holds the root is made private (slave when the bundle asks for
   * a slave root), so that pivot_root accepts it and the root's bind does not
   * propagate; the root is bound on itself (pivot_root needs a mount point);
   * the bundle's mounts are made in their order, then the standard devices
   * when /dev is a fresh tmpfs, the bundle's devices, sysctls, masks and
   * read-only paths; pivot_root; and the asked propagation is given to the
   * new "/" (shared or unbindable: private and slave are already what the
   * bind has). Without a mount namespace the root is entered with chroot and
   * nothing is mounted (the config was checked for mounts before).
   */
  #buildOci(oci: NonNullable<ContainerConfig["oci"]>): Step[] {
    const { cfg, host } = this;
    const R = oci.root;
    if (cfg.namespaces.mnt.kind === "host") return this.#chrootOci(R);
    this.steps.push({
      call: "umask",
      args: [int(0, "0")],
      label: "umask 0 while building the root",
    });
    const prop = oci.rootPropagation;
    this.#mount(
      null,
      "/",
      null,
      prop || MS.SLAVE | MS.REC,
      null,
      "set the propagation of / while the root is built",
    );
    // Which mount holds the root is not known here (it may be in a joined mount
    // namespace): each directory up from the root is tried, and EINVAL says it
    // is no mount point. Those above the nearest go with the host's root.
    const parentFlag = prop & MS.SLAVE ? MS.SLAVE : MS.PRIVATE;
    for (const d of ancestors(R)) {
      this.#mount(
        null,
        d,
        null,
        parentFlag,
        null,
        `make ${d} ${parentFlag === MS.SLAVE ? "a slave" : "private"} if it is a mount point`,
        ["EINVAL"],
      );
    }
    this.#mount(R, R, null, MS.BIND | MS.REC, null, `bind the root ${R} on itself`);
    let freshDev = false;
    for (const m of oci.mounts) {
      const label = `${m.bind ? "bind " + m.source : "mount " + m.type} on ${m.destination}`;
      if (m.type === "cgroup" || m.type === "cgroup2") {
        const t = this.#target(m.destination, "dir");
        if (host.cgroups) this.#cgroupfs("", host.cgroups, t.host);
        continue;
      }
      if (m.bind) {
        const kind = host.kindOf(m.source);
        if (!kind) {
          throw new Error(`Cannot bind ${m.source} on ${m.destination}: no such file or directory`);
        }
        const t = this.#target(m.destination, kind);
        this.#mount(m.source, t.host, null, MS.BIND | (m.flags & MS.REC), null, label);
        this.#mounted.add(t.inner);
        const rest = m.flags & ~(MS.BIND | MS.REC);
        if (rest !== 0) {
          this.#mount(
            null,
            t.host,
            null,
            MS.BIND | MS.REMOUNT | rest,
            null,
            `apply ${flagNames(rest, MS, "MS_")} to ${m.destination}`,
          );
        }
        for (const p of m.propagation) {
          this.#mount(null, t.host, null, p, null, `set the propagation of ${m.destination}`);
        }
        continue;
      }
      const t = this.#target(m.destination, "dir");
      if (m.type === "sysfs" && host.userns && !host.netns) {
        this.#hostSys(t.host);
        continue;
      }
      this.#mount(m.source || m.type, t.host, m.type, m.flags, m.data || null, label);
      this.#mounted.add(t.inner);
      for (const p of m.propagation) {
        this.#mount(null, t.host, null, p, null, `set the propagation of ${m.destination}`);
      }
      if (m.destination === "/dev" && m.type === "tmpfs") freshDev = true;
    }
    if (freshDev) this.#devNodes(`${R}/dev`, ["EEXIST"]);
    this.#devices(oci.devices);
    this.#target(cfg.process.cwd, "dir");
    this.#sysctls(R, oci.sysctl);
    this.#ociMasks(R, oci.mounts);
    if (oci.syncBeforePivot) {
      this.steps.push(...syncPoint(PHASE_PREPIVOT, "the mounts are made; pivot_root is next"));
    }
    this.#pivot(R, true);
    if (prop && !(prop & (MS.PRIVATE | MS.SLAVE))) {
      this.#mount(null, "/", null, prop, null, "set the propagation of the container's root");
    }
    if (cfg.readOnly) {
      this.#mount(
        null,
        "/",
        null,
        MS.BIND | MS.REMOUNT | MS.RDONLY,
        null,
        "make the root filesystem read-only",
      );
    }
    return this.steps;
  }

  /**
   * Device nodes (`--device`, an OCI bundle's devices): made with mknod and
   * given their owner; in a user namespace, where mknod is refused, the
   * host's node is bound onto an empty file instead.
   */
  #devices(devices: readonly DeviceNode[]): void {
    for (const d of devices) {
      const t = this.#target(d.path, "file");
      if (this.host.userns && !this.cfg.oci) {
        this.#mount(d.source ?? d.path, t.host, null, MS.BIND, null, `bind the device ${d.path}`);
        continue;
      }
      const kind = d.type === "b" ? S_IF.BLK : d.type === "p" ? S_IF.FIFO : S_IF.CHR;
      this.steps.push(
        {
          call: "unlinkat",
          args: [AT_FDCWD, str(t.host), int(0)],
          label: `make room for ${d.path}`,
          tolerate: ["ENOENT"],
        },
        {
          call: "mknodat",
          args: [
            AT_FDCWD,
            str(t.host),
            mode(kind | (d.mode & 0o7777)),
            int(makedev(d.major, d.minor), `makedev(${d.major}, ${d.minor})`),
          ],
          label: `create ${d.path}`,
        },
        {
          call: "fchownat",
          args: [AT_FDCWD, str(t.host), int(d.uid), int(d.gid), int(0)],
          label: `give ${d.path} to ${d.uid}:${d.gid}`,
        },
      );
    }
  }

  /** Sysctls, written below `root` before /proc/sys becomes read-only (the container's /proc is there by now). */
  #sysctls(root: string, sysctl: Readonly<Record<string, string>>): void {
    for (const [key, value] of Object.entries(sysctl)) {
      this.steps.push(
        ...writeFileSteps(
          `${root}/proc/sys/${key.replaceAll(".", "/")}`,
          value,
          `the sysctl ${key}`,
          { ENOENT: `no sysctl ${key} in this kernel or namespace` },
        ),
      );
    }
  }

  /** No mount namespace: the process's root becomes the bundle's root, nothing is mounted. */
  #chrootOci(root: string): Step[] {
    this.#target(this.cfg.process.cwd, "dir");
    this.steps.push(
      chdirTo(root, "enter the new root"),
      {
        call: "chroot",
        args: [str(".")],
        label: "chroot to the container's root (it has no mount namespace for pivot_root)",
      },
      chdirTo("/"),
    );
    return this.steps;
  }

  /**
   * An OCI bundle's masked and read-only paths, resolved in the root as the
   * container would resolve them. What a masked path is, is only known in
   * the container's own /proc, /sys or root: a file gets /dev/null bound on
   * it (a directory refuses that with ENOTDIR), a directory a read-only
   * tmpfs (a file refuses that with ENOTDIR, the bound /dev/null included);
   * a missing path is left alone, as runc does. A read-only path keeps the
   * nosuid, nodev and noexec of the bundle mount it lies in.
   */
  #ociMasks(root: string, mounts: readonly OciMount[]): void {
    for (const p of this.cfg.maskedPaths) {
      const t = root + resolveInRoot(this.#layers, p);
      this.#mount("/dev/null", t, null, MS.BIND, null, `mask ${p} if it is a file`, [
        "ENOENT",
        "ENOTDIR",
      ]);
      this.#mount("tmpfs", t, "tmpfs", MS.RDONLY, null, `mask ${p} if it is a directory`, [
        "ENOENT",
        "ENOTDIR",
      ]);
    }
    const keep = MS.NOSUID | MS.NODEV | MS.NOEXEC;
    for (const p of this.cfg.readonlyPaths) {
      const t = root + resolveInRoot(this.#layers, p);
      const under = mounts.filter((m) => within(p, m.destination))
        .sort((a, b) => depth(b.destination) - depth(a.destination))[0];
      const flags = MS.BIND | MS.REMOUNT | MS.RDONLY | ((under?.flags ?? 0) & keep);
      this.#mount(t, t, null, MS.BIND | MS.REC, null, `bind ${p} for read-only`, ["ENOENT"]);
      this.#mount(t, t, null, flags, null, `make ${p} read-only`, ["ENOENT"]);
    }
  }

  /**
   * pivot_root into `root` and drop the host's root; `slaveOld`: the old root
   * is made a slave first, so that detaching it cannot propagate unmounts to
   * a host whose mounts it shares (an OCI root may be shared).
   */
  #pivot(root: string, slaveOld = false): void {
    this.steps.push(
      chdirTo(root, "enter the new root"),
      {
        call: "pivot_root",
        args: [str("."), str(".")],
        label: "pivot_root to the container's root",
      },
    );
    if (slaveOld) {
      this.#mount(
        null,
        ".",
        null,
        MS.SLAVE | MS.REC,
        null,
        "keep the host's root from hearing of its detach",
      );
    }
    this.steps.push(
      {
        call: "umount2",
        args: [str("."), int(MNT.DETACH, "MNT_DETACH")],
        label: "detach the host's root",
      },
      chdirTo("/"),
    );
  }

  /** sysfs needs the network namespace's owner: in a user namespace without one, bind the host's, read-only. */
  #hostSys(target: string): void {
    this.#mount("/sys", target, null, MS.BIND | MS.REC, null, "bind /sys from the host");
    this.#mount(
      null,
      target,
      null,
      MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
      null,
      "make /sys read-only",
    );
  }

  /** docker's masked paths (an empty tmpfs or /dev/null on top) and read-only paths, below `root`. */
  #masks(root: string): void {
    for (const p of this.cfg.maskedPaths) {
      if (this.host.kindOf(p) === "dir") {
        this.#mount("tmpfs", root + p, "tmpfs", MS.RDONLY, null, `mask ${p}`, ["ENOENT"]);
      } else {
        this.#mount("/dev/null", root + p, null, MS.BIND, null, `mask ${p}`, ["ENOENT"]);
      }
    }
    for (const p of this.cfg.readonlyPaths) {
      this.#mount(root + p, root + p, null, MS.BIND | MS.REC, null, `bind ${p} for read-only`, [
        "ENOENT",
      ]);
      this.#mount(
        root + p,
        root + p,
        null,
        MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
        null,
        `make ${p} read-only`,
        ["ENOENT"],
      );
    }
  }

  #userMount(m: UserMount): void {
    if (m.type === "tmpfs") {
      const t = this.#target(m.destination, "dir");
      const { flags, data } = tmpfsOptions(m.options);
      this.#mount("tmpfs", t.host, "tmpfs", flags, data, `mount tmpfs on ${m.destination}`);
      this.#mounted.add(t.inner);
      return;
    }
    const kind = this.host.kindOf(m.source);
    if (!kind) throw new Error(`Cannot bind ${m.source}: no such file or directory`);
    const t = this.#target(m.destination, kind);
    this.#mount(
      m.source,
      t.host,
      null,
      MS.BIND | (m.nonRecursive ? 0 : MS.REC),
      null,
      `bind ${m.source} on ${m.destination}`,
    );
    if (m.propagation) {
      const p = PROPAGATION_FLAGS[m.propagation];
      this.#mount(null, t.host, null, p, null, `make ${m.destination} ${m.propagation}`);
    }
    if (m.readonly) {
      this.#mount(
        null,
        t.host,
        null,
        MS.BIND | MS.REMOUNT | MS.RDONLY,
        null,
        `make ${m.destination} read-only`,
      );
    }
  }
}

function depth(p: string): number {
  return p.split("/").filter(Boolean).length;
}

/** Whether container path `p` is `dir` or below it. */
function within(p: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, "");
  return d === "" || p === d || p.startsWith(d + "/");
}

/** `/a/b/c`, `/a/b`, `/a`, `/`: a path and each directory above it. */
function ancestors(path: string): string[] {
  const parts = path.split("/").filter(Boolean);
  const out: string[] = [];
  for (let i = parts.length; i > 0; i--) out.push("/" + parts.slice(0, i).join("/"));
  out.push("/");
  return out;
}

const TMPFS_FLAGS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true],
  rw: [MS.RDONLY, false],
  nosuid: [MS.NOSUID, true],
  suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true],
  dev: [MS.NODEV, false],
  noexec: [MS.NOEXEC, true],
  exec: [MS.NOEXEC, false],
};

/** Docker's --tmpfs options (default rw,noexec,nosuid,nodev) as flags and data. */
export function tmpfsOptions(options: string): { flags: number; data: string } {
  let flags = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const data: string[] = [];
  for (const o of options.split(",").filter(Boolean)) {
    const f = TMPFS_FLAGS[o];
    if (f) flags = f[1] ? flags | f[0] : flags & ~f[0];
    else if (/^(size|mode|nr_inodes|uid|gid)=[\w%]+$/.test(o)) data.push(o);
    else throw new Error(`Unknown tmpfs option: ${o}`);
  }
  return { flags, data: data.join(",") || "mode=1777" };
}
