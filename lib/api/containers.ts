/**
 * The Engine API's container and exec routes, answered with ctr's engine:
 * the same functions the command line calls (create, start, stop, rm,
 * logs, inspect), so that one code path serves both. Containers are
 * started in this process (the watcher is forked with each), so a start
 * costs no Deno start.
 * @module
 */

import type { ContainerState } from "../engine/state.ts";
import {
  isRunning,
  liveStatus,
  logEnded,
  reconcile,
  removeContainer,
  signalContainer,
  stopContainer,
} from "../engine/lifecycle.ts";
import { HttpError, type Request, type Response, writeAll } from "./http.ts";
import { sleep } from "../os/async.ts";
import { psStatus } from "../cli/containers.ts";
import { inspectObject, networksObject } from "../cli/control.ts";
import { createFromArgs } from "../cli/run_command.ts";
import { createArgs } from "./create.ts";
import { StateWatch } from "./state_watch.ts";
import { randomId } from "../config/names.ts";
import { signalByName } from "../../ffi/constants.ts";
import { connectWatcher, FrameReader, helloFrame, STREAM } from "../engine/attach.ts";
import { type ApiContext, boolParam, endStream, frame, jsonBody, type Router } from "./router.ts";

/** The routes of containers and their execs. */
export class ContainerRoutes {
  /** Changes to the state directory: what waits wakes on them. */
  readonly #watch: StateWatch;
  /** Execs created and not yet inspected for the last time, by their id. */
  readonly #execs = new Map<string, ExecEntry>();
  /**
   * Clients attached before the start, by container: the start tells the
   * watcher to hold the output for them and hands each its connection to
   * the watcher at once (the hold is bounded; a busy server must not let it
   * pass by polling late).
   */
  readonly #attachWaiting = new Map<string, ((conn: Promise<Deno.UnixConn>) => void)[]>();
  readonly #dir;

  constructor(readonly ctx: ApiContext, r: Router) {
    this.#dir = ctx.dir;
    this.#watch = new StateWatch(ctx.dir, (id) => this.#exited(id));
    r.add("GET", "/containers/json", (q, res) => this.#ps(q, res));
    r.add("POST", "/containers/create", (q, res) => this.#create(q, res));
    r.add("GET", "/containers/([^/]+)/json", (_q, res, [ref]) => res.json(200, this.#inspect(ref)));
    r.add("POST", "/containers/([^/]+)/start", (_q, res, [ref]) => this.#start(res, ref));
    r.add("POST", "/containers/([^/]+)/wait", (q, res, [ref]) => this.#wait(q, res, ref));
    r.add("POST", "/containers/([^/]+)/attach", (q, res, [ref]) => this.#attach(q, res, ref));
    r.add("POST", "/containers/([^/]+)/stop", (q, res, [ref]) => this.#stop(q, res, ref));
    r.add("POST", "/containers/([^/]+)/kill", (q, res, [ref]) => this.#kill(q, res, ref));
    r.add("GET", "/containers/([^/]+)/logs", (q, res, [ref]) => this.#logs(q, res, ref));
    r.add("DELETE", "/containers/([^/]+)", (q, res, [ref]) => this.#remove(q, res, ref));
    r.add("POST", "/containers/([^/]+)/restart", (q, res, [ref]) => this.#restart(q, res, ref));
    r.add("POST", "/containers/([^/]+)/pause", (_q, res, [ref]) => this.#pause(res, ref, true));
    r.add("POST", "/containers/([^/]+)/unpause", (_q, res, [ref]) => this.#pause(res, ref, false));
    r.add("POST", "/containers/([^/]+)/rename", (q, res, [ref]) => this.#rename(q, res, ref));
    r.add("POST", "/containers/([^/]+)/resize", (q, res, [ref]) => this.#resize(q, res, ref));
    r.add("POST", "/containers/([^/]+)/update", (q, res, [ref]) => this.#update(q, res, ref));
    r.add("POST", "/containers/prune", (q, res) => this.#prune(q, res));
    r.add("POST", "/containers/([^/]+)/exec", (q, res, [ref]) => this.#execCreate(q, res, ref));
    r.add("POST", "/exec/([^/]+)/start", (q, res, [id]) => this.#execStart(q, res, id));
    r.add("POST", "/exec/([^/]+)/resize", (q, res, [id]) => this.#execResize(q, res, id));
    r.add("GET", "/exec/([^/]+)/json", (_q, res, [id]) => res.json(200, this.#execInspect(id)));
  }

  /** `GET /containers/json`: `ctr ps`'s selection (all, limit, filters), docker's summaries. */
  async #ps(req: Request, res: Response): Promise<void> {
    const { ancestorResolver, containerSize, PS_FILTERS, selectContainers } = await import(
      "../cli/containers.ts"
    );
    const { queryFilters } = await import("./filters.ts");
    const filters = queryFilters(req, PS_FILTERS);
    const limit = Number(req.query.get("limit") ?? -1);
    const all = (await reconcile(this.#dir)).map((s) => ({ ...s, status: liveStatus(s) }));
    const list = selectContainers(all, filters, {
      all: boolParam(req, "all"),
      last: Number.isInteger(limit) ? limit : -1,
      ancestor: filters.has("ancestor") ? await ancestorResolver(this.ctx.g.root) : undefined,
    });
    const out = [];
    for (const s of list) {
      const sum = containerSummary(s);
      if (boolParam(req, "size")) {
        const size = await containerSize(s);
        Object.assign(sum, { SizeRw: size.rw, SizeRootFs: size.rootFs });
      }
      out.push(sum);
    }
    await res.json(200, out);
  }

  #inspect(ref: string): Record<string, unknown> {
    return inspectObject(this.#dir.find(ref));
  }

  /** `POST /containers/create?name=`: Config and HostConfig as docker's run flags. */
  async #create(req: Request, res: Response): Promise<void> {
    const body = jsonBody(req);
    // AutoRemove is `--rm`: the container's watcher removes it at its end, as `ctr run -d --rm`.
    const { argv } = createArgs(body, req.query.get("name") ?? undefined);
    const made = await createFromArgs(argv, this.ctx.g, { pull: "never" });
    await res.json(201, { Id: made.id, Warnings: made.warnings });
  }

  async #start(res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (isRunning(s)) return await res.send(304);
    const { startExisting } = await import("../engine/detach.ts");
    this.#watch.start();
    let waiting = this.#attachWaiting.get(s.id) ?? [];
    this.#attachWaiting.delete(s.id);
    /** Hands the waiting attaches their connections (once). */
    const connect = () => {
      for (const give of waiting) give(connectWatcher(this.#dir.attachSocket(s.id)));
      waiting = [];
    };
    try {
      // One that removes itself is finished here when it ends (#exited), not by a ctr started
      // for it: its watcher runs no `ctr __exited`. The attaches connect as soon as the socket
      // listens: the watcher finds them there when it starts, and holds no output for them.
      await startExisting(this.#dir, s, this.ctx.g, {
        attach: waiting.length > 0,
        exitHere: s.autoRemove === true,
        listening: connect,
      });
    } catch (e) {
      for (const give of waiting) give(Promise.reject(e));
      // AutoRemove holds for a start that failed too, as docker's daemon has it.
      const cur = this.#dir.get(s.id);
      if (cur?.autoRemove && liveStatus(cur) !== "running") {
        await removeContainer(this.#dir, cur, true).catch(() => {});
      }
      throw e;
    }
    connect();
    await res.send(204);
  }

  /**
   * A container's exit record appeared: one that removes itself is
   * released and removed here at once (`ctr __exited`'s work, locked as it
   * locks it), so that `docker run --rm` ends without waiting for a Deno
   * start. Started by this server, its watcher runs no `ctr __exited`; one
   * whose exit this server misses (stopped meanwhile) is finished by the
   * next reconcile.
   */
  #exited(id: string): void {
    if (!this.#dir.get(id)?.autoRemove) return;
    (async () => {
      const { exitedCommand } = await import("../engine/detach.ts");
      await exitedCommand(id, this.ctx.g);
      this.#watch.poke(id);
    })().catch(() => {/* its watcher's ctr __exited does it */});
  }

  /**
   * `wait`: its answer's head at once, the body (the exit code) when the
   * condition is met: `not-running` (now, if it is not), `next-exit` (the
   * end of a run that started after the call, or of the one running then),
   * `removed` (the record is gone: AutoRemove, or a later rm).
   */
  async #wait(req: Request, res: Response, ref: string): Promise<void> {
    const s0 = this.#dir.find(ref);
    const condition = req.query.get("condition") || "not-running";
    if (!["not-running", "next-exit", "removed"].includes(condition)) {
      throw new HttpError(400, `invalid condition: ${JSON.stringify(condition)}`);
    }
    const runningAtCall = isRunning(s0);
    const out = await res.stream(200, { "Content-Type": "application/json" });
    let code = s0.exitCode ?? 0;
    for (;;) {
      // `removed` asks only whether the record is there: nothing to read until it is gone.
      if (condition === "removed" && this.#dir.has(s0.id)) {
        await this.#watch.changed(s0.id, 500);
        continue;
      }
      const s = this.#dir.get(s0.id);
      if (!s) {
        code = this.#watch.exitCode(s0.id) ?? code; // it removed itself, and its exit record
        break;
      }
      const ended = s.status === "exited" && liveStatus(s) === "exited";
      if (ended) code = s.exitCode ?? 0;
      if (condition === "not-running" && (ended || s.status === "created")) break;
      if (
        condition === "next-exit" && ended && (runningAtCall || s.startedAt !== s0.startedAt)
      ) break;
      await this.#watch.changed(s0.id, 500);
    }
    try {
      await out.write(
        new TextEncoder().encode(JSON.stringify({ StatusCode: code, Error: null }) + "\n"),
      );
      await out.end();
    } catch { /* the client read the code and left before the end of the chunks (docker's CLI) */ }
  }

  /**
   * `attach` (hijacked): the watcher's stream frames (docker's own format) on
   * the raw connection; raw bytes for a pty. Before the start it waits for
   * the container to run, and the start tells the watcher to wait for it.
   */
  async #attach(req: Request, res: Response, ref: string): Promise<void> {
    const s0 = this.#dir.find(ref);
    // The next change of its files, watched from before anything is awaited: none passes unseen.
    let changed = this.#watch.changed(s0.id, 500);
    const q = (k: string) => boolParam(req, k);
    const streams = { stdin: q("stdin"), stdout: q("stdout"), stderr: q("stderr") };
    const tty = s0.config?.process.terminal ?? false;
    const upgrade = /upgrade/i.test(req.headers.get("connection") ?? "");
    const before = await res.hijack(
      upgrade,
      tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    );
    let conn: Deno.UnixConn | undefined;
    // Started through this server: the start hands the connection over.
    let give: ((c: Promise<Deno.UnixConn>) => void) | undefined;
    const handed = isRunning(s0) ? undefined : new Promise<Deno.UnixConn | null>((resolve) => {
      give = (c) => c.then(resolve, () => resolve(null));
      this.#attachWaiting.set(s0.id, [...(this.#attachWaiting.get(s0.id) ?? []), give]);
    });
    try {
      // Else until its watcher listens: once started, whether its command still runs or not
      // (a watcher told a client is coming holds the output, and the end, for it).
      for (const until = Date.now() + 60_000; !conn && Date.now() < until;) {
        if (handed) {
          // A start of ours hands the connection over; the record is read again only when its
          // files changed (a start by another process, a removal).
          const c = await Promise.race([handed, changed.then(() => undefined)]);
          if (c !== undefined) {
            conn = c ?? undefined; // null: the start failed
            break;
          }
          if (!this.#attachWaiting.get(s0.id)?.includes(give!)) {
            conn = (await handed) ?? undefined; // a start of ours took it: its connection comes
            break;
          }
        }
        const s = this.#dir.get(s0.id);
        if (!s) return;
        // Not started since the attach (an ended one waits for its next start).
        const started = s.status !== "created" && (isRunning(s0) || s.startedAt !== s0.startedAt);
        let refused = false;
        if (started) {
          try {
            conn = await connectWatcher(this.#dir.attachSocket(s0.id));
          } catch {
            if (s.status === "exited") return; // ended, and its watcher with it
            refused = true; // its watcher does not listen yet: tried again soon
          }
        }
        changed = this.#watch.changed(s0.id, refused ? 10 : 500);
        if (!conn && !handed) await sleep(10);
      }
    } finally {
      const left = (this.#attachWaiting.get(s0.id) ?? []).filter((g) => g !== give);
      if (left.length) this.#attachWaiting.set(s0.id, left);
      else this.#attachWaiting.delete(s0.id);
    }
    if (!conn) return;
    const client = res.conn;
    try {
      await writeAll(conn, helloFrame(streams));
      const frames = new FrameReader();
      const toClient = (async () => {
        const buf = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          for (const f of frames.push(buf.subarray(0, n))) {
            if (f.stream === STREAM.exit) {
              this.#watch.exitSeen(s0.id);
              return;
            }
            await writeAll(client, tty ? f.data : frame(f.stream, f.data));
          }
        }
      })();
      const fromClient = streams.stdin
        ? (async () => {
          const { clientFrame, CLIENT_FRAME } = await import("../engine/attach.ts");
          if (before.length) await writeAll(conn, clientFrame(CLIENT_FRAME.data, before));
          const buf = new Uint8Array(32 * 1024);
          for (;;) {
            const n = await client.read(buf).catch(() => null);
            if (n === null) {
              await writeAll(conn, clientFrame(CLIENT_FRAME.eof)).catch(() => {});
              return;
            }
            await writeAll(conn, clientFrame(CLIENT_FRAME.data, buf.slice(0, n)));
          }
        })()
        : Promise.resolve();
      await toClient;
      fromClient.catch(() => {});
      await endStream(client);
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  async #execCreate(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    const b = jsonBody(req);
    const args = Array.isArray(b.Cmd) ? b.Cmd.map(String) : [];
    if (!args.length) throw new HttpError(400, "No exec command specified");
    const id = randomId();
    this.#execs.set(id, {
      id,
      container: s.id,
      args,
      tty: b.Tty === true,
      user: typeof b.User === "string" && b.User !== "" ? b.User : undefined,
      env: Array.isArray(b.Env) ? b.Env.map(String) : [],
      workdir: typeof b.WorkingDir === "string" && b.WorkingDir !== "" ? b.WorkingDir : undefined,
      privileged: b.Privileged === true,
      stdin: b.AttachStdin === true,
      master: -1,
      running: false,
      exitCode: null,
      pid: 0,
    });
    await res.json(201, { Id: id });
  }

  async #execResize(req: Request, res: Response, id: string): Promise<void> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    const rows = Number(req.query.get("h")), columns = Number(req.query.get("w"));
    if (e.master >= 0 && rows > 0 && columns > 0) {
      const { setWindowSize } = await import("../runtime/tty.ts");
      setWindowSize(e.master, { rows, columns });
    }
    await res.send(200);
  }

  #execInspect(id: string): Record<string, unknown> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    return {
      ID: e.id,
      ContainerID: e.container,
      Running: e.running,
      ExitCode: e.exitCode,
      Pid: e.pid,
      ProcessConfig: { tty: e.tty, entrypoint: e.args[0], arguments: e.args.slice(1) },
      OpenStdin: false,
      OpenStdout: true,
      OpenStderr: true,
    };
  }

  /**
   * `exec start`: the process in the container, its output on the hijacked
   * connection (multiplexed frames, or the pty's bytes), until it ends.
   */
  async #execStart(req: Request, res: Response, id: string): Promise<void> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    if (e.running || e.exitCode !== null) throw new HttpError(409, `exec ${id} has run already`);
    const b = jsonBody(req);
    const detach = b.Detach === true;
    const s = this.#dir.find(e.container);
    const { startExec } = await import("../cli/exec.ts");
    const { dupCloexec, pipe, close } = await import("../../ffi/sys.ts");
    let master = -1;
    const [outR, outW] = e.tty || detach ? [-1, -1] : pipe();
    const [errR, errW] = e.tty || detach ? [-1, -1] : pipe();
    const [inR, inW] = e.tty || detach || !e.stdin ? [-1, -1] : pipe();
    let started;
    try {
      started = await startExec(s, e.args, {
        user: e.user,
        env: e.env,
        workdir: e.workdir,
        privileged: e.privileged,
        tty: e.tty,
        interactive: false,
        detach,
        dieWithParent: false,
        ...(outW >= 0 &&
          { stdio: { stdout: outW, stderr: errW, ...(inR >= 0 && { stdin: inR }) } }),
        ...(e.tty &&
          { sendConsole: (m: number) => master = dupCloexec(m, "the exec's pty master") }),
      }, this.ctx.g);
    } finally {
      for (const fd of [outW, errW, inR]) if (fd >= 0) close(fd);
    }
    e.running = true;
    e.pid = started.run.pid;
    if (detach) {
      await res.send(200);
      e.running = false;
      return;
    }
    const upgrade = /upgrade/i.test(req.headers.get("connection") ?? "");
    await res.hijack(
      upgrade,
      e.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    );
    const client = res.conn;
    // stdout and stderr are read apart: their frames go out one whole frame at a time.
    let queue = Promise.resolve();
    const send = (b: Uint8Array) => queue = queue.then(() => writeAll(client, b));
    const relay = async (fd: number, stream: number, closeAfter = true) => {
      const { readAsync } = await import("../../ffi/sys.ts");
      const buf = new Uint8Array(32 * 1024);
      try {
        for (;;) {
          const n = await readAsync(fd, buf, "exec output").catch(() => 0);
          if (n <= 0) return;
          await send(stream === 0 ? buf.slice(0, n) : frame(stream, buf.subarray(0, n)));
        }
      } catch {
        /* the client went away */
      } finally {
        if (closeAfter) close(fd);
      }
    };
    e.master = master;
    if (inW >= 0) {
      // The client's input to the process's stdin pipe; its end (EOF) closes the pipe.
      (async () => {
        const { writeAllAsync: writeFd } = await import("../../ffi/sys.ts");
        const buf = new Uint8Array(32 * 1024);
        try {
          for (;;) {
            const n = await client.read(buf).catch(() => null);
            if (n === null) return;
            await writeFd(inW, buf.slice(0, n), "the exec's stdin");
          }
        } finally {
          close(inW);
        }
      })().catch(() => {});
    }
    if (e.tty && e.stdin) {
      // The client's keys to the pty (a write after the end fails, and ends this).
      (async () => {
        const { writeAllAsync: writeFd } = await import("../../ffi/sys.ts");
        const buf = new Uint8Array(32 * 1024);
        for (;;) {
          const n = await client.read(buf).catch(() => null);
          if (n === null || e.master < 0) return;
          await writeFd(e.master, buf.slice(0, n), "the exec's pty master");
        }
      })().catch(() => {});
    }
    const relays = e.tty ? [relay(master, 0, false)] : [relay(outR, 1), relay(errR, 2)];
    const code = await started.run.wait();
    await Promise.all(relays);
    await queue;
    e.master = -1;
    if (master >= 0) close(master);
    e.running = false;
    e.exitCode = code;
    started.ended(code);
    await endStream(client);
  }

  /** `restart`: stop as `stop` does (the timeout `t`), then start again. */
  async #restart(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (isRunning(s)) await this.#stopNow(req, s);
    const { startExisting } = await import("../engine/detach.ts");
    await startExisting(this.#dir, this.#dir.find(s.id), this.ctx.g);
    await res.send(204);
  }

  async #pause(res: Response, ref: string, pause: boolean): Promise<void> {
    const { pauseContainer } = await import("../engine/lifecycle.ts");
    await pauseContainer(this.#dir, this.#dir.find(ref), pause);
    await res.send(204);
  }

  async #rename(req: Request, res: Response, ref: string): Promise<void> {
    const name = req.query.get("name");
    if (!name) throw new HttpError(400, "a new name is required (name=)");
    const { renameContainer } = await import("../engine/update.ts");
    await renameContainer(this.#dir, ref, name);
    await res.send(204);
  }

  /** `resize` of a container's pty: a window size frame to its watcher, which holds the master. */
  async #resize(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    const rows = Number(req.query.get("h")), columns = Number(req.query.get("w"));
    if (!(rows > 0 && rows < 65536 && columns > 0 && columns < 65536)) {
      throw new HttpError(400, `invalid size: h=${req.query.get("h")} w=${req.query.get("w")}`);
    }
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    if (s.config?.process.terminal) {
      const { resizeFrame } = await import("../engine/attach.ts");
      const conn = await connectWatcher(this.#dir.attachSocket(s.id));
      try {
        await writeAll(conn, helloFrame({ stdin: false, stdout: false, stderr: false }));
        await writeAll(conn, resizeFrame(rows, columns));
      } finally {
        conn.close();
      }
    }
    await res.send(200);
  }

  /** `update`: the HostConfig's resources and restart policy, as `ctr update` applies them. */
  async #update(req: Request, res: Response, ref: string): Promise<void> {
    const { updateOptions } = await import("./create.ts");
    const { updateRequest } = await import("../cli/update.ts");
    const { updateContainer } = await import("../engine/update.ts");
    const s = this.#dir.find(ref);
    const u = updateRequest(updateOptions(jsonBody(req)), s.config?.cgroup.limits);
    await updateContainer(this.#dir, s, u);
    await res.json(200, { Warnings: [] });
  }

  /** `prune`: stopped containers that pass the filters (until, label). */
  async #prune(req: Request, res: Response): Promise<void> {
    const { parsePruneFilters, pruneContainers } = await import("../engine/prune.ts");
    const { queryFilterArgs } = await import("./filters.ts");
    const args = queryFilterArgs(req, ["until", "label", "label!"]);
    const r = await pruneContainers(this.#dir, parsePruneFilters(args));
    if (r.errors.length && !r.deleted.length) throw new HttpError(500, r.errors.join("; "));
    await res.json(200, { ContainersDeleted: r.deleted, SpaceReclaimed: r.bytes });
  }

  async #stop(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) return await res.send(304);
    await this.#stopNow(req, s);
    await res.send(204);
  }

  /** Stops as docker does: `signal` (or the container's stop signal), SIGKILL after `t` seconds. */
  async #stopNow(req: Request, s: ContainerState): Promise<void> {
    const t = Number(req.query.get("t") ?? s.config?.stopTimeout ?? 10);
    const sig = req.query.get("signal") ?? s.config?.stopSignal ?? "SIGTERM";
    await stopContainer(
      this.#dir,
      s,
      Number.isFinite(t) && t >= 0 ? t : 365 * 86400,
      signalByName(sig),
    );
  }

  async #kill(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    signalContainer(s, signalByName(req.query.get("signal") ?? "SIGKILL"), this.#dir.dir);
    await res.send(204);
  }

  async #remove(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    const force = boolParam(req, "force");
    try {
      await removeContainer(this.#dir, s, force);
    } catch (e) {
      if (/cannot remove a running container/i.test((e as Error).message)) {
        throw new HttpError(409, (e as Error).message);
      }
      throw e;
    }
    await res.send(204);
  }

  /** `logs`: the log's records, multiplexed as docker does without a pty; `follow` streams. */
  async #logs(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    const q = (k: string) => boolParam(req, k);
    const want = { stdout: q("stdout"), stderr: q("stderr") };
    const tty = s.config?.process.terminal ?? false;
    const { emitLog } = await import("../engine/logs.ts");
    if (!s.logPath) {
      throw new HttpError(501, `container ${s.name} keeps no log (it ran in the foreground)`);
    }
    const tailArg = req.query.get("tail") ?? "all";
    const tail = tailArg === "all" ? undefined : Number(tailArg);
    const stamps = q("timestamps");
    const out = await res.stream(200, {
      "Content-Type": tty
        ? "application/vnd.docker.raw-stream"
        : "application/vnd.docker.multiplexed-stream",
    });
    const enc = new TextEncoder();
    const print = async (r: { stream: string; log: string; time: string }) => {
      if (r.stream === "stdout" ? !want.stdout : !want.stderr) return;
      const data = enc.encode((stamps ? `${r.time} ` : "") + r.log);
      await out.write(tty ? data : frame(r.stream === "stderr" ? 2 : 1, data));
    };
    await emitLog(s.logPath, {
      maxFiles: s.logOptions?.maxFiles ?? 1,
      tail,
      follow: q("follow"),
      ended: () => logEnded(this.#dir, s.id),
      emit: print,
    });
    await out.end();
  }
}

/** An exec as `POST /containers/{id}/exec` made it. */
interface ExecEntry {
  readonly id: string;
  readonly container: string;
  readonly args: string[];
  readonly tty: boolean;
  readonly user?: string;
  readonly env: string[];
  readonly workdir?: string;
  readonly privileged: boolean;
  readonly stdin: boolean;
  /** The pty master while a tty exec runs (resize writes its size). */
  master: number;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

/** A container as `GET /containers/json` (and `/system/df`) lists it. */
export function containerSummary(s: ContainerState): Record<string, unknown> {
  const st = liveStatus(s);
  return {
    Id: s.id,
    Names: [`/${s.name}`],
    Image: s.image ?? "",
    ImageID: "",
    Command: (s.command ?? []).join(" "),
    Created: Math.floor(Date.parse(s.created) / 1000),
    Ports: (s.ports ?? []).map((p) => ({
      IP: p.hostIp || "0.0.0.0",
      PrivatePort: p.containerPort,
      PublicPort: p.hostPort,
      Type: p.protocol,
    })),
    Labels: s.labels ?? {},
    State: st,
    Status: psStatus({ ...s, status: st }),
    HostConfig: { NetworkMode: s.config?.network.name ?? s.network ?? "none" },
    NetworkSettings: { Networks: networksObject(s) },
    Mounts: [],
  };
}
