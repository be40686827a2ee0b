/**
 * ctr as a library: build a container's plan, run it (in the foreground, or
 * detached with a watcher), enter the namespaces of a process, inspect and
 * pin namespaces, read YAML specs and OCI bundles. main.ts is a thin CLI over
 * this.
 *
 * ```ts
 * import { parseRunArgs, readRunHost, runConfig, runContainer } from "./mod.ts";
 * const opts = parseRunArgs(["--rootfs", "/srv/rootfs", "--hostname", "box", "sh"]);
 * const req = runConfig(opts, readRunHost("/var/lib/ctr"));
 * const code = await runContainer(req.config, { remove: true });
 * ```
 * @module
 */

export type {
  ContainerConfig,
  IdMap,
  NsMode,
  NsType,
  Rlimit,
  UserMount,
} from "./lib/config/container.ts";
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "./lib/config/container.ts";
export { containerPlan, showPlan } from "./lib/runtime/container_plan.ts";
export { type PlanHost, readPlanHost } from "./lib/runtime/host.ts";
export { RunError } from "./lib/runtime/errors.ts";
export { launch, launchJoined } from "./lib/runtime/launch.ts";
export { execProcess } from "./lib/runtime/exec.ts";
export {
  dryRun,
  runContainer,
  startContainer,
  type Started,
  type StartOptions,
} from "./lib/engine/container.ts";
export type { ContainerState } from "./lib/engine/state.ts";
export { StateDir } from "./lib/engine/state.ts";
export { parseRestartPolicy, type RestartPolicy } from "./lib/config/rules.ts";
export { isAlive } from "./lib/os/proc.ts";
export {
  isRunning,
  liveStatus,
  reconcile,
  releaseResources,
  removeContainer,
  stopContainer,
  waitRecorded,
} from "./lib/engine/lifecycle.ts";
export { DEFAULT_LOG_OPTIONS, runInBackground, startDetached } from "./lib/engine/detach.ts";
export { followLog, type LogRecord, readLog } from "./lib/engine/logs.ts";
export { NoSuchVolumeError, type Volume, VolumeStore } from "./lib/engine/volume.ts";
export {
  parseSpec,
  readSpecFile,
  runOptionsFor,
  type Spec,
  SpecError,
  startLevels,
} from "./lib/config/compose.ts";
export {
  defaultSpec,
  featuresDocument,
  type OciConfig,
  OciConfigError,
  parseOciConfig,
} from "./lib/oci/config_json.ts";
export {
  ociCreate,
  ociDelete,
  ociKill,
  OciRoot,
  ociStart,
  ociToConfig,
} from "./lib/oci/runtime.ts";
export { parseRunArgs, readRunHost, RUN_OPTIONS } from "./lib/cli/run.ts";
export { runConfig, type RunHost, type RunRequest } from "./lib/config/docker_run.ts";
export { mergeRunOptions, type RunOptions, runOptionsArgv } from "./lib/config/run_options.ts";
export {
  build,
  BuildError,
  type BuildOptions,
  type BuildResult,
  type StepRunner,
} from "./lib/image/build/executor.ts";
export { type BuildProgress, buildProgress } from "./lib/image/build/progress.ts";
export { readStepHost, runBuildStep } from "./lib/engine/build_step.ts";
export { enterCommand, enterRequest } from "./lib/cli/enter.ts";
export { nsTable } from "./lib/cli/ns.ts";
export {
  differingNamespaces,
  joinPlan,
  NS_FLAG,
  NS_TYPES,
  nsType,
  pinNamespace,
  processNamespaces,
  unpinNamespace,
} from "./lib/runtime/namespaces.ts";
export type { Arg, Plan, Slot, Step } from "./lib/runtime/plan.ts";
export { formatPlan, PlanError, slot, syncPoint, validate } from "./lib/runtime/plan.ts";
export { spawn, waitPidfd } from "./lib/runtime/spawn.ts";
export type { ExitStatus, Spawned } from "./lib/runtime/spawn.ts";
export { SyscallError } from "./ffi/errno.ts";
export { VERSION } from "./lib/version.ts";
