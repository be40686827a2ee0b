/**
 * The normalized description of one container, whatever it came from (the
 * `run` command line now; an image config or an OCI config.json later). The
 * plan builders read only this.
 * @module
 */

import type { Limits } from "./resources.ts";

/** A transport protocol a port can be published for. */
export type PortProtocol = "tcp" | "udp";

/** One published port. */
export interface PortMapping {
  /** The host address to listen on; undefined for every address (0.0.0.0). */
  readonly hostIp?: string;
  /** The host port; 0 until a free one is chosen. */
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: PortProtocol;
}

/** How a namespace is set up. */
export type NsMode =
  | { readonly kind: "new" }
  | { readonly kind: "host" }
  | { readonly kind: "path"; readonly path: string };

/** The namespace types, by their /proc/PID/ns names. */
export type NsType = "user" | "mnt" | "pid" | "uts" | "ipc" | "net" | "cgroup";

/** One line of a uid_map or gid_map. */
export interface IdMap {
  readonly container: number;
  readonly host: number;
  readonly size: number;
}

/** How mounts below a bind mount propagate (`--mount bind-propagation=`); docker's default is rprivate. */
export type Propagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";

/** A mount the user asked for. */
export type UserMount =
  | {
    readonly type: "bind";
    readonly source: string;
    readonly destination: string;
    readonly readonly: boolean;
    /** Set by `--mount bind-propagation=`; absent: rprivate, as docker. */
    readonly propagation?: Propagation;
    /** `--mount bind-nonrecursive`: the mounts below the source are not taken along. */
    readonly nonRecursive?: boolean;
  }
  | { readonly type: "tmpfs"; readonly destination: string; readonly options: string };

/** The user-mode network stacks: Debian's slirp4netns, and pasta of Debian's passt. */
export type UserModeNet = "slirp4netns" | "pasta";
/** A name → address line the container's /etc/hosts gets (`--add-host`, `--link`). */
export interface ExtraHost {
  readonly ip: string;
  readonly names: readonly string[];
}

/** The container's resolver settings (`--dns`, `--dns-search`, `--dns-option`); empty: the host's. */
export interface DnsSpec {
  readonly servers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
}

/** A further ctr network a container joins after its first (`network connect` before a start). */
export interface EndpointSpec {
  readonly name: string;
  /** More names on that network. */
  readonly aliases: readonly string[];
  /** A fixed address on it. */
  readonly ip?: string;
}

/** The container's network beyond its own namespace. */
export interface NetworkSpec {
  /** The ctr network to join (default "bridge"); undefined: only lo. */
  readonly name?: string;
  /**
   * A user-mode network stack instead (no privileges needed): slirp4netns or
   * pasta gives the container outbound access and publishes its ports.
   */
  readonly userMode?: UserModeNet;
  /** A fixed address (`--ip`). */
  readonly ip?: string;
  /** More names on the network (`--network-alias`). */
  readonly aliases: readonly string[];
  /** Published ports (`-p`). */
  readonly ports: readonly PortMapping[];
  /** The MAC address of its interface (`--mac-address`); default: derived from the address. */
  readonly mac?: string;
  /** More lines for /etc/hosts (`--add-host`, `--link`). */
  readonly extraHosts?: readonly ExtraHost[];
  /** Resolver settings for /etc/resolv.conf. */
  readonly dns?: DnsSpec;
  /**
   * Further ctr networks, joined in this order after the first as eth1,
   * eth2, ... (names.ts): no default route through them, nothing published.
   */
  readonly more?: readonly EndpointSpec[];
}

/** The container's cgroup: where it goes and its limits. */
export interface CgroupSpec {
  /** `--cgroup-parent` (absolute from the hierarchy's root, relative from ctr's own). */
  readonly parent?: string;
  /** Limits (see lib/cgroups/limits.ts); an empty object means accounting only. */
  readonly limits: Limits;
}

/** A resource limit for prlimit64. */
export interface Rlimit {
  readonly type: string;
  readonly soft: bigint;
  readonly hard: bigint;
}

/** One mount of an OCI bundle, its options already turned into mount(2) arguments. */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly flags: number;
  readonly data: string;
  /** Propagation changes (MS_PRIVATE, MS_REC|MS_SLAVE, ...) applied after the mount. */
  readonly propagation: readonly number[];
  readonly bind: boolean;
}

/** A device node the container gets (`--device`, an OCI bundle's linux.devices). */
export interface DeviceNode {
  /** The host's node, bound in a user namespace (where mknod is refused); default: `path`. */
  readonly source?: string;
  readonly path: string;
  readonly type: "c" | "b" | "u" | "p";
  readonly major: number;
  readonly minor: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** A device node an OCI bundle asks for. */
export type OciDevice = DeviceNode;

/**
 * What an OCI bundle gives beyond the common model: its root is used as it
 * is (no overlay), its mounts replace ctr's default ones, and the container
 * waits on a fifo after setup until `start`.
 */
export interface OciSetup {
  /** The root filesystem (absolute). */
  readonly root: string;
  readonly mounts: readonly OciMount[];
  readonly devices: readonly OciDevice[];
  /**
   * The bundle's `rootfsPropagation` as mount(2) flags (MS_SHARED, MS_REC|MS_SLAVE,
   * ...), or 0 when it has none: "/" is then rslave while the root is built.
   */
  readonly rootPropagation: number;
  readonly sysctl: Readonly<Record<string, string>>;
  readonly domainname?: string;
  /**
   * An fd (open O_PATH in ctr, inherited by the child) of the container's
   * state directory, which holds the exec fifo: the child opens the fifo for
   * writing through it, which blocks until `start` opens it for reading.
   */
  readonly gateFd?: number;
  /** The process's umask (default 022). */
  readonly umask?: number;
  /** Stop at a sync point just before pivot_root (createContainer hooks run there). */
  readonly syncBeforePivot?: boolean;
  /** `--preserve-fds N`: fds 3 to 3+N-1, inherited from the caller, stay open. */
  readonly preserveFds?: number;
  /**
   * ctr's own copies of its stdin, stdout and stderr (Deno keeps some), closed
   * by the child first thing: it waits for `start` long after `create` has
   * exited, and a caller that reads create's output to its end (containerd's
   * go-runc does) would otherwise wait for the container.
   */
  readonly closeFds?: readonly number[];
}

/** Capability sets beyond the bounding set (names without CAP_). */
export interface CapSets {
  readonly effective: readonly string[];
  readonly permitted: readonly string[];
  readonly inheritable: readonly string[];
  readonly ambient: readonly string[];
}

/**
 * A container's seccomp filter: ctr's default profile (resolved for the
 * container's capabilities when it is planned), or a profile in the OCI or
 * docker format, already checked by the reader that took it and resolved
 * again at plan time for the capabilities and the architecture.
 */
export type SeccompSpec =
  | { readonly kind: "default" }
  | {
    readonly kind: "profile";
    /** The profile's JSON text (64-bit values stay exact in text). */
    readonly text: string;
    /** Where it came from, for errors: a file, or config.json's linux.seccomp. */
    readonly source: string;
  };

/** A health check as docker's API and image configs carry it (durations in nanoseconds; 0: unset). */
export interface HealthConfig {
  /** `[]` (inherit), `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", command]`. */
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly Retries?: number;
}

/**
 * docker's health check of a container, resolved from the image's
 * HEALTHCHECK and the `--health-*` flags (see lib/config/health.ts).
 */
export interface HealthcheckSpec {
  /** The merged settings as given (inspect's Config.Healthcheck). */
  readonly config: HealthConfig;
  /** The command to run in the container: `["CMD", ...argv]` or `["CMD-SHELL", command]`. */
  readonly test: readonly string[];
  /** Milliseconds between the end of a check and the start of the next. */
  readonly intervalMs: number;
  /** Milliseconds one check may take before it counts as failed. */
  readonly timeoutMs: number;
  /** Milliseconds after the start during which failures do not count. */
  readonly startPeriodMs: number;
  /** Consecutive failures that make the container unhealthy. */
  readonly retries: number;
}

/** Everything the plan builders need to know about one container. */
export interface ContainerConfig {
  /** 64 hex digits. */
  readonly id: string;
  /** The root filesystem's layers, top first (read-only lower dirs). */
  readonly layers: readonly string[];
  /** The container's own directory: upper/, work/, merged/. */
  readonly dir: string;
  /** Mount the root read-only. */
  readonly readOnly: boolean;
  /**
   * More options for the root's overlay mount. A build step's container
   * asks for `redirect_dir=off` and `metacopy=off`: its upper directory then
   * holds every change as whole entries, which is what becomes the layer.
   */
  readonly overlayOptions?: readonly string[];
  /** Namespaces. */
  readonly namespaces: Readonly<Record<NsType, NsMode>>;
  /** uid/gid maps when the user namespace is new. */
  readonly uidMap: readonly IdMap[];
  readonly gidMap: readonly IdMap[];
  /** Name (unique among recorded containers). */
  readonly name: string;
  /** The name was made up by ctr: another is picked when it is taken. */
  readonly nameGenerated?: boolean;
  /** The image it runs (display), or the root filesystem path. */
  readonly image: string;
  /** Cgroup placement and limits. */
  readonly cgroup: CgroupSpec;
  /** Network attachment (with a new network namespace). */
  readonly network: NetworkSpec;
  /** ctr's state directory (leases and NAT rules live there too). */
  readonly stateDir?: string;
  /** Hostname (new uts namespace only). */
  readonly hostname?: string;
  /** User mounts (volumes, tmpfs). */
  readonly mounts: readonly UserMount[];
  /** Paths hidden from the container. */
  readonly maskedPaths: readonly string[];
  /** Paths made read-only. */
  readonly readonlyPaths: readonly string[];
  /** Set for a container of an OCI bundle (ctr's OCI runtime mode). */
  readonly oci?: OciSetup;
  /** Host devices made in the container's /dev (`--device`); their cgroup rules are in cgroup.limits. */
  readonly devices?: readonly DeviceNode[];
  /** Namespaced sysctls written under /proc/sys before it is made read-only (`--sysctl`). */
  readonly sysctl?: Readonly<Record<string, string>>;
  /** The NIS domain name of its UTS namespace (`--domainname`). */
  readonly domainname?: string;
  /** Bytes of the /dev/shm tmpfs (`--shm-size`; default 64 MiB, docker's). */
  readonly shmSize?: number;
  /**
   * Run ctr's init (ffi/init/init.c) as PID 1 with the command as its child
   * (`--init`): it reaps orphans and passes signals on.
   */
  readonly init?: boolean;
  /** The health check (`--health-*`, the image's HEALTHCHECK); absent: none. */
  readonly healthcheck?: HealthcheckSpec;
  /** The signal `ctr stop` sends first (`--stop-signal`, the image's STOPSIGNAL); default SIGTERM. */
  readonly stopSignal?: string;
  /** Seconds `ctr stop` waits before SIGKILL (`--stop-timeout`); default 10. */
  readonly stopTimeout?: number;
  /** Ports the container says it serves (`--expose`, the image's ExposedPorts): `80/tcp`. */
  readonly exposedPorts?: readonly string[];
  /** The process. */
  readonly process: {
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly uid: number;
    readonly gid: number;
    readonly groups: readonly number[];
    /** The bounding set (names without CAP_). */
    readonly caps: readonly string[];
    /**
     * The other capability sets, when given (an OCI process). Without them,
     * docker's: root gets the bounding set as effective and permitted, any
     * other user nothing, and nobody inheritable or ambient ones.
     */
    readonly capSets?: CapSets;
    readonly noNewPrivileges: boolean;
    readonly rlimits: readonly Rlimit[];
    /** The seccomp filter; undefined: unconfined. */
    readonly seccomp?: SeccompSpec;
    /** The AppArmor profile to exec into (applied where AppArmor is enabled). */
    readonly apparmorProfile?: string;
    /** The SELinux label to exec with (applied where SELinux is enabled, as crun). */
    readonly selinuxLabel?: string;
    /** Allocate a pty. */
    readonly terminal: boolean;
    /** Keep stdin (else /dev/null). */
    readonly stdin: boolean;
    /** Kill the container when ctr dies. */
    readonly dieWithParent: boolean;
    /**
     * Host fds (in ctr's process) to give the container as stdout and stderr
     * instead of ctr's own: the write ends of a detached container's log pipes.
     * `stdin`: the read end of the pipe its watcher writes attached input to.
     */
    readonly stdio?: { readonly stdout: number; readonly stderr: number; readonly stdin?: number };
    /**
     * Which of ctr's own streams a foreground container without a pty gets
     * (`--attach`); the others are /dev/null. Absent: stdout and stderr.
     */
    readonly attach?: { readonly stdout: boolean; readonly stderr: boolean };
  };
}

/** Docker's default masked paths. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Docker's default read-only paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** The PATH a container gets when its environment has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Set in the environment of the process that `run -d` starts to set a
 * container up and become its watcher (lib/engine/detach.ts). Kept here so that a
 * foreground `ctr run` tests it without loading the detached machinery.
 */
export const DETACHED_ENV = "_CTR_DETACHED";

/** Merges environment lists: later entries override earlier ones with the same name. */
export function mergeEnv(...lists: readonly (readonly string[])[]): string[] {
  const byName = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const eq = e.indexOf("=");
      byName.set(eq === -1 ? e : e.slice(0, eq), e);
    }
  }
  return [...byName.values()];
}
